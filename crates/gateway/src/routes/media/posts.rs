//! Posts: `POST /v1/creator/posts` and `PUT /v1/creator/posts/{id}` for the signed-in creator,
//! `GET` and `DELETE /v1/posts/{id}`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use df_proto::media::v1 as pb;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{PostView, PostVisibility};
use crate::routes::openapi::{
    ForbiddenOrCsrf, INVALID_PATH, InternalError, JSON_BODY, PayloadTooLarge, RateLimited, Timeout,
    Unauthenticated, Unavailable, problems,
};
use crate::routes::wire::{Money, timestamp};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Media};

/// Everything about a post. An update replaces all of it: send the whole post.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PostRequest)]
pub struct PostBody {
    /// The text (media limits its length: `media.body_too_long`).
    #[schema(min_length = 1)]
    body: String,
    #[schema(value_type = PostVisibility)]
    visibility: String,
    /// `ppv` posts only: the price of unlocking the post. It cannot change once offered.
    #[serde(default)]
    price: Option<Money>,
    /// `subscribers` posts only: one of the creator's tiers on offer. Only subscribers of it or
    /// of a tier priced at least as high see the post; absent, any subscriber does.
    #[serde(default)]
    min_tier_id: Option<Uuid>,
    #[serde(default)]
    #[schema(default = false)]
    adult: bool,
    /// When the post publishes (RFC 3339, within a year); absent: now.
    #[serde(default)]
    publish_at: Option<DateTime<Utc>>,
    /// The creator's uploaded files, in the order shown (at most 20); an update replaces the
    /// list. A file may be on one post only.
    #[serde(default)]
    #[schema(max_items = 20)]
    media_ids: Vec<Uuid>,
}

/// The example of a post, for both routes that take one.
fn post_example() -> serde_json::Value {
    serde_json::json!({
        "body": "The full-length cut of this week's shoot.",
        "visibility": "ppv",
        "price": {"amount_minor": 900, "currency": "usd"},
        "min_tier_id": null,
        "adult": false,
        "publish_at": "2026-11-21T09:00:00Z",
        "media_ids": ["0193a5f1-7c2d-7e4f-9a10-3b4c5d6e7f80"]
    })
}

impl From<PostBody> for pb::PostInput {
    fn from(body: PostBody) -> Self {
        Self {
            body: body.body,
            visibility: body.visibility,
            price: body.price.map(|price| pb::Price {
                amount: price.amount_minor,
                currency: price.currency,
            }),
            adult: body.adult,
            publish_at: body.publish_at.map(timestamp),
            media_ids: body.media_ids.iter().map(Uuid::to_string).collect(),
            min_tier_id: body
                .min_tier_id
                .as_ref()
                .map(Uuid::to_string)
                .unwrap_or_default(),
        }
    }
}

/// Why a post's content is refused, on creation and on update alike.
const POST_INPUT_REFUSALS: &str = "`media.empty_post`: no text; `media.body_too_long`: too \
     much text; `media.invalid_visibility`: not public, subscribers or ppv; \
     `media.price_mismatch`: a ppv post without a price, or a price on another post; \
     `media.min_tier_mismatch`: a minimum tier on a post not for subscribers; \
     `media.unknown_tier`: a minimum tier that is not one of the creator's tiers on offer; \
     `media.invalid_publish_at`: more than a year ahead; `media.invalid_attachment`: a file \
     that is not the creator's, is on another post or was quarantined; \
     `media.too_many_attachments`: more than 20 files; `payments.invalid_amount`, \
     `payments.unsupported_currency`: the price is refused.";

problems!(CreatePostProblems {
    400 [
        JSON_BODY, "media.empty_post", "media.body_too_long", "media.invalid_visibility",
        "media.price_mismatch", "media.min_tier_mismatch", "media.unknown_tier",
        "media.invalid_publish_at", "media.invalid_attachment", "media.too_many_attachments",
        "payments.invalid_amount", "payments.unsupported_currency",
    ]
        POST_INPUT_REFUSALS,
});

/// Publishes a post of the signed-in creator, now or at `publish_at`.
#[utoipa::path(
    post, path = "/v1/creator/posts", operation_id = "createPost", tag = "posts",
    summary = "Publish a post",
    description = "Publishes (or schedules) a post of the signed-in creator. A `ppv` post is \
                   offered for its price at once; fans buy it through its `ppv_item_id`. \
                   Creators only.",
    request_body(content = PostBody, example = post_example),
    responses(
        (status = 201, body = PostView, description = "The post, as its creator sees it."),
        CreatePostProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn create(
    caller: Authenticated,
    media: web::Data<Media>,
    body: Json<PostBody>,
) -> Result<HttpResponse, ApiError> {
    let post = media
        .create_post((&caller).into(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(PostView::from(post)))
}

problems!(UpdatePostProblems {
    400 [
        JSON_BODY, INVALID_PATH, "media.empty_post", "media.body_too_long",
        "media.invalid_visibility", "media.price_mismatch", "media.min_tier_mismatch",
        "media.unknown_tier", "media.invalid_publish_at", "media.invalid_attachment",
        "media.too_many_attachments", "payments.invalid_amount", "payments.unsupported_currency",
    ]
        POST_INPUT_REFUSALS,
    404 ["media.post_not_found"] "No such post.",
    409 ["media.ppv_fixed", "payments.ppv_exists"]
        "A pay-per-view post keeps its visibility and price once offered: fans may have bought \
         it at that price (`payments.ppv_exists`: an earlier edit that did not complete made the \
         offer, and a fan began paying it at another price).",
});

/// Replaces one of the signed-in creator's posts.
#[utoipa::path(
    put, path = "/v1/creator/posts/{id}", operation_id = "updatePost", tag = "posts",
    summary = "Change a post",
    description = "Replaces every field of one of the signed-in creator's posts with the \
                   body. Another creator's post answers `403`.",
    params(("id" = Uuid, Path, description = "The post.")),
    request_body(content = PostBody, example = post_example),
    responses(
        (status = 200, body = PostView, description = "The post as changed."),
        UpdatePostProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn update(
    caller: Authenticated,
    media: web::Data<Media>,
    id: web::Path<Uuid>,
    body: Json<PostBody>,
) -> Result<HttpResponse, ApiError> {
    let post = media
        .update_post(
            (&caller).into(),
            pb::UpdatePostRequest {
                post_id: id.into_inner().to_string(),
                post: Some(body.into_inner().into()),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(PostView::from(post)))
}

problems!(PostProblems {
    400 [INVALID_PATH] "",
    404 ["media.post_not_found"]
        "No such post (a scheduled post exists only for its creator).",
});

/// One post, locked unless the caller may see it.
#[utoipa::path(
    get, path = "/v1/posts/{id}", operation_id = "getPost", tag = "posts",
    summary = "A post",
    description = "One published post (or the caller's own scheduled one), locked unless the \
                   caller may see it.",
    params(("id" = Uuid, Path, description = "The post.")),
    responses(
        (status = 200, body = PostView, description = "The post."),
        PostProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn get(
    caller: Authenticated,
    media: web::Data<Media>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let post = media
        .get_post(
            (&caller).into(),
            pb::GetPostRequest {
                post_id: id.into_inner().to_string(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(PostView::from(post)))
}

/// Deletes a post: its creator, an admin or a moderator may.
#[utoipa::path(
    delete, path = "/v1/posts/{id}", operation_id = "deletePost", tag = "posts",
    summary = "Delete a post",
    description = "Deletes a post. Its creator, admins and moderators may; anyone else gets \
                   `403`.",
    params(("id" = Uuid, Path, description = "The post.")),
    responses(
        (status = 204, description = "Deleted."),
        PostProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn delete(
    caller: Authenticated,
    media: web::Data<Media>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    media
        .delete_post(
            (&caller).into(),
            pb::DeletePostRequest {
                post_id: id.into_inner().to_string(),
            },
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
