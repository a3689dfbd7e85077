//! Who may call what: roles and ownership, from the verified principal only.

use df_common::{
    Error,
    auth::{Principal, Role, service},
    ids::{CreatorId, UserId},
    wire,
};
use tonic::Status;

/// The services that may ask about any fan's entitlements: those that deliver content.
const ENTITLEMENT_ASKERS: &[&str] = &[service::MEDIA];

/// The signed-in user.
pub fn user(principal: &Principal) -> Result<UserId, Status> {
    Ok(principal.require_user()?)
}

/// The signed-in user, who must be a creator.
pub fn creator(principal: &Principal) -> Result<CreatorId, Status> {
    principal.require_any_role(&[Role::Creator])?;
    Ok(user(principal)?.into())
}

/// The creator named, when the caller is that creator or an admin; an empty name means the
/// caller.
pub fn own_or_admin(principal: &Principal, creator_id: &str) -> Result<CreatorId, Status> {
    if principal.has_role(Role::Admin) && !creator_id.is_empty() {
        return Ok(wire::id("creator_id", creator_id)?);
    }
    let me = creator(principal)?;
    if creator_id.is_empty() || wire::id::<CreatorId>("creator_id", creator_id)? == me {
        Ok(me)
    } else {
        Err(Error::forbidden().into())
    }
}

/// An admin.
pub fn admin(principal: &Principal) -> Result<(), Status> {
    Ok(principal.require_any_role(&[Role::Admin])?)
}

/// The gateway: provider webhooks arrive at the public edge only.
pub fn gateway(principal: &Principal) -> Result<(), Status> {
    Ok(principal.require_service(&[service::GATEWAY])?)
}

/// A content-delivering service, asking about a fan for itself.
pub fn content_service(principal: &Principal) -> Result<(), Status> {
    Ok(principal.require_service(ENTITLEMENT_ASKERS)?)
}

/// The creator a PPV item is offered for, as media names the post's creator: only media
/// offers items, for posts it holds, so no item names a post its creator does not own.
pub fn ppv_offerer(principal: &Principal, named: &str) -> Result<CreatorId, Status> {
    principal.require_service(&[service::MEDIA])?;
    Ok(wire::id("creator_id", named)?)
}

/// A content-delivering service asks about anyone; a user only about themself.
pub fn entitlement_of(principal: &Principal, fan: UserId) -> Result<(), Status> {
    if principal.require_service(ENTITLEMENT_ASKERS).is_ok() || principal.user_id() == Some(fan) {
        Ok(())
    } else {
        Err(Error::forbidden().into())
    }
}
