//! The states media's records take, as stored (each column has a matching `CHECK`).

df_common::text_enum! {
    /// Who may see a post.
    sql pub enum Visibility {
        /// Everyone signed in.
        Public = "public",
        /// Fans with a live subscription to the creator.
        Subscribers = "subscribers",
        /// Fans who bought the post.
        Ppv = "ppv",
    }
}
