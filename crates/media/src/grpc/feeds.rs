//! Reading feeds, and following creators.

use df_common::{grpc::principal, wire};
use df_proto::media::v1 as pb;
use tonic::{Request, Response};

use super::{MediaService, Reply, convert};
use crate::sight::Viewer;

pub async fn creator_feed(
    face: &MediaService,
    request: Request<pb::CreatorFeedRequest>,
) -> Reply<pb::FeedPage> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let r = request.into_inner();
    let creator = wire::id("creator_id", &r.creator_id)?;
    let page = face
        .media
        .creator_feed(viewer, creator, &r.cursor, r.limit)
        .await?;
    Ok(Response::new(convert::page(page, face.preview_chars())))
}

pub async fn home_feed(
    face: &MediaService,
    request: Request<pb::HomeFeedRequest>,
) -> Reply<pb::FeedPage> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let r = request.into_inner();
    let preview_chars = face.preview_chars();
    let page = face
        .media
        .home_feed(viewer, &r.cursor, r.limit, |page| {
            convert::page(page, preview_chars)
        })
        .await?;
    Ok(Response::new(page))
}

pub async fn follow(
    face: &MediaService,
    request: Request<pb::FollowRequest>,
) -> Reply<pb::FollowResponse> {
    let fan = principal(&request)?.require_user()?;
    let creator = wire::id("creator_id", &request.get_ref().creator_id)?;
    face.media.follow(fan, creator).await?;
    Ok(Response::new(pb::FollowResponse { following: true }))
}

pub async fn unfollow(
    face: &MediaService,
    request: Request<pb::FollowRequest>,
) -> Reply<pb::FollowResponse> {
    let fan = principal(&request)?.require_user()?;
    let creator = wire::id("creator_id", &request.get_ref().creator_id)?;
    face.media.unfollow(fan, creator).await?;
    Ok(Response::new(pb::FollowResponse { following: false }))
}
