//! Closed sets of values that are text on the wire and in SQL (statuses, kinds): an enum in
//! Rust, so a typo is a compile error and a `match` names every case.

#[doc(hidden)]
pub use serde as __serde;

/// An unknown value of a [`text_enum!`] type (a newer writer, or a corrupted row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    /// The enum's name.
    pub kind: &'static str,
    /// What was read (at most 64 characters of it).
    pub value: String,
}

/// Declares an enum whose variants are spelled as text: `as_str`, `ALL`, `Display`, `FromStr`
/// and serde. `text_enum! { sql pub enum … }` also makes it a diesel `Text` column value (the
/// declaring crate needs `diesel`); a row holding an unknown value fails to load.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        sql $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }
    ) => {
        $crate::text_enum!(@define [
            $(#[$meta])*
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(sql_type = diesel::sql_types::Text)]
        ] $vis $name { $($(#[$vmeta])* $variant = $text),* });

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::pg::Pg,
                >>::from_sql(bytes)?;
                Ok(text.parse::<Self>()?)
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }
    ) => {
        $crate::text_enum!(@define [$(#[$meta])*] $vis $name { $($(#[$vmeta])* $variant = $text),* });
    };
    (@define [$($attr:tt)*] $vis:vis $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* }) => {
        $($attr)*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The text form.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // In serde formats too a value is its text, and an unknown text is refused.
        impl $crate::text_enum::__serde::Serialize for $name {
            fn serialize<S: $crate::text_enum::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::text_enum::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::text_enum::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let text = <String as $crate::text_enum::__serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                text.parse()
                    .map_err(<D::Error as $crate::text_enum::__serde::de::Error>::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownValue;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok(Self::$variant),)*
                    _ => Err($crate::text_enum::UnknownValue {
                        kind: stringify!($name),
                        value: value.chars().take(64).collect(),
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// A test enum.
        enum Light { Red = "red", Green = "green" }
    }

    #[test]
    fn values_round_trip_through_text_and_unknown_text_is_refused() {
        for light in Light::ALL {
            assert_eq!(light.as_str().parse::<Light>(), Ok(*light));
            assert_eq!(light.to_string(), light.as_str());
        }
        let unknown = "blue".parse::<Light>().unwrap_err();
        assert_eq!(unknown.to_string(), "unknown Light `blue`");
    }

    #[test]
    fn serde_formats_carry_the_text_and_refuse_unknown_text() {
        assert_eq!(
            serde_json::to_string(&Light::Green).ok().as_deref(),
            Some("\"green\"")
        );
        assert_eq!(
            serde_json::from_str::<Light>("\"red\"").ok(),
            Some(Light::Red)
        );
        assert!(serde_json::from_str::<Light>("\"blue\"").is_err());
    }
}
