//! Typed identifiers. Every id is a UUIDv7 (time-ordered, index-friendly) behind a newtype, so a
//! `UserId` can never be passed where a `SessionId` is expected and no sequential id is exposed.

/// Declares a typed id: a newtype over a UUIDv7 with `new`, `from_uuid`, `as_uuid`, `Display`,
/// `FromStr` and transparent serde. `typed_id!(sql Name)` also makes it a diesel `Uuid` column
/// value (the declaring crate needs `diesel`); services declare their own ids this way.
#[macro_export]
macro_rules! typed_id {
    ($(#[$doc:meta])* sql $name:ident) => {
        $crate::typed_id!(@define [
            $(#[$doc])*
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(sql_type = diesel::sql_types::Uuid)]
        ] $name);
        $crate::typed_id!(@sql $name);
    };
    ($(#[$doc:meta])* $name:ident) => {
        $crate::typed_id!(@define [$(#[$doc])*] $name);
    };
    (@define [$($attr:tt)*] $name:ident) => {
        $($attr)*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($crate::ids::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self($crate::ids::Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: $crate::ids::Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> $crate::ids::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ids::UuidError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::ids::Uuid::parse_str(s).map(Self)
            }
        }
    };
    (@sql $name:ident) => {
        impl diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <$crate::ids::Uuid as diesel::serialize::ToSql<
                    diesel::sql_types::Uuid,
                    diesel::pg::Pg,
                >>::to_sql(&self.0, out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <$crate::ids::Uuid as diesel::deserialize::FromSql<
                    diesel::sql_types::Uuid,
                    diesel::pg::Pg,
                >>::from_sql(bytes)
                .map(Self)
            }
        }
    };
}

pub use uuid::{Error as UuidError, Uuid};

/// Common's own ids are column values only where diesel is compiled in (not in the gateway).
macro_rules! common_id {
    ($(#[$doc:meta])* $name:ident) => {
        #[cfg(feature = "diesel")]
        typed_id!($(#[$doc])* sql $name);
        #[cfg(not(feature = "diesel"))]
        typed_id!($(#[$doc])* $name);
    };
}

common_id!(
    /// A user of any role.
    UserId
);
common_id!(
    /// A login session.
    SessionId
);
common_id!(
    /// A bus event (the envelope id, recorded in inboxes).
    EventId
);
common_id!(
    /// A creator (always also a user; kept distinct where an API means "the creator").
    CreatorId
);

/// A creator is a user: the same id, seen as the party an API means.
impl From<UserId> for CreatorId {
    fn from(user: UserId) -> Self {
        Self(user.0)
    }
}

impl From<CreatorId> for UserId {
    fn from(creator: CreatorId) -> Self {
        Self(creator.0)
    }
}

/// Whether a user is the creator in question (a fan tipping themself, a creator's own item).
impl PartialEq<UserId> for CreatorId {
    fn eq(&self, user: &UserId) -> bool {
        self.0 == user.0
    }
}

impl PartialEq<CreatorId> for UserId {
    fn eq(&self, creator: &CreatorId) -> bool {
        self.0 == creator.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip_through_text() {
        let first = UserId::new();
        let second = UserId::new();
        assert!(first < second);
        let parsed: UserId = first.to_string().parse().unwrap();
        assert_eq!(parsed, first);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
