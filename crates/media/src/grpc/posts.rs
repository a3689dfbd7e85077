//! What creators do with their posts, and reading one.

use df_common::{grpc::principal, wire};
use df_proto::media::v1 as pb;
use tonic::{Request, Response};

use super::{MediaService, Reply, convert};
use crate::sight::Viewer;

pub async fn create_post(face: &MediaService, request: Request<pb::PostInput>) -> Reply<pb::Post> {
    let caller = principal(&request)?;
    caller.require_any_role(&[df_common::auth::Role::Creator])?;
    let viewer = Viewer::of(&caller)?;
    let draft = convert::draft(request.into_inner(), &face.media)?;
    let post = face.media.create_post(viewer.user.into(), &draft).await?;
    own(face, viewer, post).await
}

pub async fn update_post(
    face: &MediaService,
    request: Request<pb::UpdatePostRequest>,
) -> Reply<pb::Post> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let r = request.into_inner();
    let id = wire::id("post_id", &r.post_id)?;
    let draft = convert::draft(r.post.unwrap_or_default(), &face.media)?;
    let post = face.media.update_post(viewer.user, id, &draft).await?;
    own(face, viewer, post).await
}

pub async fn delete_post(
    face: &MediaService,
    request: Request<pb::DeletePostRequest>,
) -> Reply<pb::DeletePostResponse> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let id = wire::id("post_id", &request.get_ref().post_id)?;
    face.media.delete_post(viewer, id).await?;
    Ok(Response::new(pb::DeletePostResponse {}))
}

pub async fn get_post(
    face: &MediaService,
    request: Request<pb::GetPostRequest>,
) -> Reply<pb::Post> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let id = wire::id("post_id", &request.get_ref().post_id)?;
    let view = face.media.get_post(viewer, id).await?;
    Ok(Response::new(convert::post(view, face.preview_chars())))
}

/// A post as its creator sees it just after writing it: whole, with its files.
async fn own(face: &MediaService, creator: Viewer, post: crate::posts::Post) -> Reply<pb::Post> {
    let view = face.media.get_post(creator, post.id).await?;
    Ok(Response::new(convert::post(view, face.preview_chars())))
}
