//! Conversions between the platform's types and their protobuf forms, written once: instants,
//! roles and typed ids. A value that does not convert is one clear error per kind.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use df_proto::identity::v1 as identity_pb;

use crate::{Error, auth::Role};

/// An instant for the wire.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A wire instant; `None` when it is out of range.
pub fn instant(value: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(value.seconds, u32::try_from(value.nanos).ok()?)
}

/// A wire instant as RFC 3339 UTC with whole seconds (what clients see); `None` when it is not
/// set or out of range.
pub fn rfc3339(value: Option<&prost_types::Timestamp>) -> Option<String> {
    value
        .and_then(instant)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// [`rfc3339`] of an instant the sender always sets: the epoch if it somehow did not (a client
/// sees an obviously wrong date rather than a missing field).
pub fn rfc3339_or_epoch(value: Option<&prost_types::Timestamp>) -> String {
    rfc3339(value)
        .unwrap_or_else(|| DateTime::<Utc>::UNIX_EPOCH.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A role for the wire. A service principal is no user's role: it has no wire form.
pub fn role_to_pb(role: Role) -> identity_pb::Role {
    match role {
        Role::Fan => identity_pb::Role::Fan,
        Role::Creator => identity_pb::Role::Creator,
        Role::Moderator => identity_pb::Role::Moderator,
        Role::Admin => identity_pb::Role::Admin,
        Role::Service => identity_pb::Role::Unspecified,
    }
}

/// A wire role; an unspecified or unknown one is refused (`common.invalid_role`), never read as
/// some default role.
pub fn role_from_pb(role: i32) -> Result<Role, Error> {
    match identity_pb::Role::try_from(role) {
        Ok(identity_pb::Role::Fan) => Ok(Role::Fan),
        Ok(identity_pb::Role::Creator) => Ok(Role::Creator),
        Ok(identity_pb::Role::Moderator) => Ok(Role::Moderator),
        Ok(identity_pb::Role::Admin) => Ok(Role::Admin),
        Ok(identity_pb::Role::Unspecified) | Err(_) => Err(Error::invalid_input(
            "common.invalid_role",
            "The role is not one of fan, creator, moderator or admin.",
        )),
    }
}

/// A typed id from its wire text; `field` names it in the error (`common.invalid_id`).
pub fn id<T: FromStr>(field: &'static str, value: &str) -> Result<T, Error> {
    value.parse().map_err(|_| {
        Error::invalid_input("common.invalid_id", format!("`{field}` is not a valid id."))
    })
}

/// An optional typed id: empty text is none.
pub fn optional_id<T: FromStr>(field: &'static str, value: &str) -> Result<Option<T>, Error> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use quickcheck_macros::quickcheck;

    use super::*;
    use crate::ids::UserId;

    #[quickcheck]
    fn instants_survive_the_round_trip(seconds: i32, nanos: u32) -> bool {
        let at = DateTime::<Utc>::from_timestamp(i64::from(seconds), nanos % 1_000_000_000);
        at.is_none_or(|at| instant(&timestamp(at)) == Some(at))
    }

    #[test]
    fn roles_round_trip_and_unknown_ones_are_refused() {
        for role in [Role::Fan, Role::Creator, Role::Moderator, Role::Admin] {
            assert_eq!(role_from_pb(role_to_pb(role).into()).unwrap(), role);
        }
        for wire in [i32::from(role_to_pb(Role::Service)), 0, 99, -1] {
            assert_eq!(
                role_from_pb(wire).unwrap_err().code(),
                "common.invalid_role"
            );
        }
    }

    #[test]
    fn ids_parse_or_name_their_field() {
        let user = UserId::new();
        assert_eq!(id::<UserId>("user_id", &user.to_string()).unwrap(), user);
        let error = id::<UserId>("creator_id", "not-an-id").unwrap_err();
        assert_eq!(error.code(), "common.invalid_id");
        assert!(error.message().contains("creator_id"));
    }

    #[test]
    fn unset_or_impossible_instants_are_none() {
        assert_eq!(rfc3339(None), None);
        let impossible = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(rfc3339(Some(&impossible)), None);
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 5).unwrap();
        assert_eq!(
            rfc3339(Some(&timestamp(at))).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
    }
}
