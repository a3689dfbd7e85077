//! Feeds and follows: `GET /v1/creators/{creator_id}/posts`, `GET /v1/me/feed`, and
//! `PUT`/`DELETE /v1/creators/{creator_id}/follow`.

use actix_web::{HttpResponse, web};
use df_proto::media::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PostPage;
use crate::routes::openapi::{
    ForbiddenOrCsrf, INVALID_PATH, INVALID_QUERY, InternalError, RateLimited, Timeout,
    Unauthenticated, Unavailable, problems,
};
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Media};

/// Where a page starts and how long it is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The previous page's `next_cursor`; absent for the first page.
    #[param(max_length = 128)]
    cursor: Option<String>,
    /// Posts on the page (1–100; absent: 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

problems!(FeedProblems {
    400 [INVALID_PATH, INVALID_QUERY, "media.invalid_cursor", "media.invalid_limit"]
        "`media.invalid_cursor`: the cursor is not one a page handed out (start again from the \
         first page); `media.invalid_limit`: `limit` is out of range.",
});

/// A creator's posts, newest first.
#[utoipa::path(
    get, path = "/v1/creators/{creator_id}/posts", operation_id = "listCreatorPosts",
    tag = "posts",
    summary = "A creator's posts",
    description = "A creator's published posts, newest first, each locked unless the caller \
                   may see it. The creator also sees their scheduled posts.",
    params(("creator_id" = Uuid, Path, description = "The creator."), PageQuery),
    responses(
        (status = 200, body = PostPage, description = "A page of posts."),
        FeedProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn creator(
    caller: Authenticated,
    media: web::Data<Media>,
    creator_id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = media
        .creator_feed(
            (&caller).into(),
            pb::CreatorFeedRequest {
                creator_id: creator_id.into_inner().to_string(),
                cursor: query.cursor.unwrap_or_default(),
                limit: query.limit.unwrap_or(0),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(PostPage::from(page)))
}

/// The caller's home feed.
#[utoipa::path(
    get, path = "/v1/me/feed", operation_id = "getHomeFeed", tag = "posts",
    summary = "The home feed",
    description = "Published posts of the creators the caller follows or subscribes to, newest \
                   first, each locked unless the caller may see it.",
    params(PageQuery),
    responses(
        (status = 200, body = PostPage, description = "A page of posts."),
        FeedProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn home(
    caller: Authenticated,
    media: web::Data<Media>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = media
        .home_feed(
            (&caller).into(),
            pb::HomeFeedRequest {
                cursor: query.cursor.unwrap_or_default(),
                limit: query.limit.unwrap_or(0),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(PostPage::from(page)))
}

/// Whether the caller follows the creator.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Follow, examples(json!({"following": true})))]
pub struct FollowView {
    pub following: bool,
}

problems!(FollowProblems {
    400 [INVALID_PATH, "media.follow_self"] "`media.follow_self`: nobody follows themself.",
});

/// Follows a creator for free: their posts join the caller's home feed.
#[utoipa::path(
    put, path = "/v1/creators/{creator_id}/follow", operation_id = "followCreator",
    tag = "posts",
    summary = "Follow a creator",
    description = "Follows a creator for free (again: no change). Their posts join the caller's \
                   home feed, locked where the caller may not see them.",
    params(("creator_id" = Uuid, Path, description = "The creator.")),
    responses(
        (status = 200, body = FollowView, description = "Following."),
        FollowProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn follow(
    caller: Authenticated,
    media: web::Data<Media>,
    creator_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let request = following(creator_id);
    answer(media.follow((&caller).into(), request).await?)
}

problems!(UnfollowProblems {
    400 [INVALID_PATH] "",
});

/// Stops following a creator.
#[utoipa::path(
    delete, path = "/v1/creators/{creator_id}/follow", operation_id = "unfollowCreator",
    tag = "posts",
    summary = "Stop following a creator",
    description = "Stops following a creator (not following: no change).",
    params(("creator_id" = Uuid, Path, description = "The creator.")),
    responses(
        (status = 200, body = FollowView, description = "Not following."),
        UnfollowProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn unfollow(
    caller: Authenticated,
    media: web::Data<Media>,
    creator_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let request = following(creator_id);
    answer(media.unfollow((&caller).into(), request).await?)
}

/// The request naming the creator of the path.
fn following(creator_id: web::Path<Uuid>) -> pb::FollowRequest {
    pb::FollowRequest {
        creator_id: creator_id.into_inner().to_string(),
    }
}

/// Whether the caller now follows.
fn answer(answer: pb::FollowResponse) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(FollowView {
        following: answer.following,
    }))
}
