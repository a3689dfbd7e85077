//! Error catalogues: each service names every error it can answer once, in one enum whose
//! variants carry the code clients switch on, the kind (its HTTP and gRPC status) and the
//! message. Code elsewhere converts a variant into [`crate::Error`] and recognises an error by
//! its variant ([`is`](crate::error_catalogue)), never by spelling its code.

/// Declares a service's error catalogue:
///
/// ```
/// df_common::error_catalogue! {
///     /// The example service's errors.
///     pub enum ExampleError {
///         /// A note is longer than allowed.
///         NoteTooLong = (InvalidInput, "example.note_too_long", "The note is too long."),
///     }
/// }
/// let error: df_common::Error = ExampleError::NoteTooLong.into();
/// assert_eq!(error.code(), "example.note_too_long");
/// assert!(ExampleError::NoteTooLong.is(&error));
/// ```
#[macro_export]
macro_rules! error_catalogue {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = ($kind:ident, $code:literal, $message:literal)
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),*
        }

        impl $name {
            /// Every error of the catalogue.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The stable code clients switch on.
            pub const fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),* }
            }

            /// What kind of failure it is (its HTTP and gRPC status).
            pub const fn kind(self) -> $crate::ErrorKind {
                match self { $(Self::$variant => $crate::ErrorKind::$kind),* }
            }

            /// The message for people.
            pub const fn message(self) -> &'static str {
                match self { $(Self::$variant => $message),* }
            }

            /// This error, with a message that names the particular value or field.
            pub fn with_message(
                self,
                message: impl Into<std::borrow::Cow<'static, str>>,
            ) -> $crate::Error {
                $crate::Error::new(self.kind(), self.code(), message)
            }

            /// True when `error` is this one.
            pub fn is(self, error: &$crate::Error) -> bool {
                error.code() == self.code()
            }
        }

        impl From<$name> for $crate::Error {
            fn from(error: $name) -> Self {
                $crate::Error::new(error.kind(), error.code(), error.message())
            }
        }
    };
}
