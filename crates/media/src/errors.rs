//! Every error media answers, with its code, kind and message (the gateway passes the code and
//! message to clients).

df_common::error_catalogue! {
    /// Media's errors.
    pub enum MediaError {
        /// The post's text is longer than allowed.
        BodyTooLong = (InvalidInput, "media.body_too_long", "The post's text is too long."),
        /// A post needs text.
        EmptyPost = (InvalidInput, "media.empty_post", "A post needs text."),
        /// The feed cursor is not one this service handed out.
        InvalidCursor = (InvalidInput, "media.invalid_cursor", "The cursor is not valid; start again from the first page."),
        /// A page size outside the allowed range.
        InvalidLimit = (InvalidInput, "media.invalid_limit", "limit is outside the allowed range."),
        /// A visibility other than public, subscribers or ppv.
        InvalidVisibility = (InvalidInput, "media.invalid_visibility", "visibility must be public, subscribers or ppv."),
        /// A price on a post that is not pay-per-view, or none on one that is.
        PriceMismatch = (InvalidInput, "media.price_mismatch", "A pay-per-view post needs a price, and only a pay-per-view post has one."),
        /// Fans have bought the post at its price: it stays pay-per-view at that price.
        PpvFixed = (Conflict, "media.ppv_fixed", "A pay-per-view post keeps its visibility and price once offered."),
        /// The publishing time is too far away.
        InvalidPublishAt = (InvalidInput, "media.invalid_publish_at", "publish_at must lie within a year from now."),
        /// Following oneself.
        FollowSelf = (InvalidInput, "media.follow_self", "You cannot follow yourself."),
        /// No such post (or not one the caller may know of).
        PostNotFound = (NotFound, "media.post_not_found", "No such post."),
    }
}
