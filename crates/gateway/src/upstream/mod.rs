//! The gateway's clients of the internal services ([`Upstream`]s, from the kit). Calls made for
//! a client carry the signed-in user's principal; anonymous calls and provider webhooks go with
//! the gateway's own.

mod identity;
mod media;
mod payments;

pub use df_common::grpc::upstream::{Caller, OnBehalfOf, Upstream};
pub use identity::{Identity, ValidatedSession, role_from_pb};
pub use media::Media;
pub use payments::Payments;

use crate::auth::Authenticated;

impl From<&Authenticated> for Caller {
    fn from(authenticated: &Authenticated) -> Self {
        Self {
            user_id: authenticated.user_id,
            role: authenticated.role,
        }
    }
}
