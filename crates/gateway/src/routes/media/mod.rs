//! Media routes: creators' posts, follows and feeds. Media decides who may see what: a locked
//! post comes with its preview, its price or visibility, and never its whole text.

pub mod feeds;
pub mod files;
pub mod posts;
pub mod resumable;
pub mod store;

use actix_web::{http::Method, web};
use bytes::{Bytes, BytesMut};
use df_proto::media::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    openapi::{named_schema, one_of},
    wire::{Money, instant, non_empty, required_instant},
};

/// Largest piece of an upload sent to media in one message.
const PIECE: usize = 256 * 1024;
/// Pieces in flight between the client's connection and media: what bounds the gateway's
/// memory per upload.
const PIECES_IN_FLIGHT: usize = 4;

/// A chunk of a tus append as the pieces sent to media, at once (slices of it, not copies): what
/// a connection delivered before it broke has reached media.
fn pieces(mut chunk: Bytes) -> impl Iterator<Item = Bytes> {
    std::iter::from_fn(move || (!chunk.is_empty()).then(|| chunk.split_to(PIECE.min(chunk.len()))))
}

/// Gathers a one-request upload's body, which arrives in chunks of a few KiB, into the pieces
/// sent to media: few large gRPC messages instead of many small ones (a broken body keeps
/// nothing, so holding part of a piece loses nothing). Holds less than one piece.
#[derive(Default)]
struct Pieces {
    pending: BytesMut,
}

impl Pieces {
    /// The whole pieces that `chunk` completes, in order.
    fn push(&mut self, mut chunk: Bytes) -> Vec<Bytes> {
        let mut whole = Vec::new();
        if !self.pending.is_empty() {
            let wanted = (PIECE - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk.split_to(wanted));
            if self.pending.len() < PIECE {
                return whole;
            }
            whole.push(self.pending.split().freeze());
        }
        // Whole pieces of a large chunk are slices of it, not copies.
        while chunk.len() >= PIECE {
            whole.push(chunk.split_to(PIECE));
        }
        self.pending.extend_from_slice(&chunk);
        whole
    }

    /// What is left once the body ended (or broke off).
    fn rest(self) -> Option<Bytes> {
        (!self.pending.is_empty()).then(|| self.pending.freeze())
    }
}

/// A post as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Post, examples(json!({
    "id": "0193a5e0-1b2c-7d3e-8f40-5a6b7c8d9e0f",
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "visibility": "subscribers",
    "price": null,
    "adult": false,
    "publish_at": "2026-11-21T09:00:00Z",
    "created_at": "2026-11-20T18:30:00Z",
    "edited_at": null,
    "locked": true,
    "body": "Behind the scenes of this week's shoot: the lighting setup, the…",
    "ppv_item_id": null,
    "min_tier_id": "0193a5c2-4e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "scheduled": false,
    "attachments": [{"media_id": null, "kind": "jpeg", "width": 1080, "height": 1350,
        "duration_ms": null, "thumbnails": true}]
})))]
pub struct PostView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub creator_id: String,
    #[schema(value_type = PostVisibility)]
    pub visibility: String,
    /// Pay-per-view posts: what unlocking costs; `null` otherwise.
    #[schema(required)]
    pub price: Option<Money>,
    /// Adult content: locked, without a preview, for everyone but its creator and staff.
    pub adult: bool,
    #[schema(format = DateTime)]
    pub publish_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required, format = DateTime)]
    pub edited_at: Option<String>,
    /// True when the caller may not see the post: `body` is then its preview, the start of the
    /// text and never more than half of it (empty for adult posts). Subscribing, or buying
    /// `ppv_item_id`, unlocks it.
    pub locked: bool,
    /// The text, or its preview when locked.
    pub body: String,
    /// Pay-per-view posts: the item to buy (`POST /v1/ppv-items/{id}/purchase`).
    #[schema(required, format = Uuid)]
    pub ppv_item_id: Option<String>,
    /// Subscribers' posts: the cheapest tier that unlocks it (a subscription to a tier priced
    /// at least as high does); `null`: any subscription does.
    #[schema(required, format = Uuid)]
    pub min_tier_id: Option<String>,
    /// Not yet published: only its creator sees it.
    pub scheduled: bool,
    /// Its files in order. A locked post shows how many and of which kinds, never their ids;
    /// ask `GET /v1/media/{id}/url` for a file's URL.
    pub attachments: Vec<AttachmentView>,
}

/// A file of a post.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Attachment)]
pub struct AttachmentView {
    /// `null` on a locked post.
    #[schema(required, format = Uuid)]
    pub media_id: Option<String>,
    /// `jpeg`, `png`, `gif`, `webp`, `mp4`, `mov` or `webm`.
    pub kind: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// Whether `thumb_small` and `thumb_large` URLs can be asked for: always for images, for a
    /// video when a poster frame was made of it.
    pub thumbnails: bool,
}

named_schema!(
    /// Who may see a post.
    PostVisibility = one_of(
        &["public", "subscribers", "ppv"],
        "Who may see a post: everyone signed in, fans with a live subscription to the creator, \
         or fans who bought it.",
    )
);

impl From<pb::Post> for PostView {
    fn from(post: pb::Post) -> Self {
        Self {
            price: post.price.map(|price| Money {
                amount_minor: price.amount,
                currency: price.currency,
            }),
            publish_at: required_instant(post.publish_at.as_ref()),
            created_at: required_instant(post.created_at.as_ref()),
            edited_at: instant(post.edited_at.as_ref()),
            ppv_item_id: non_empty(post.ppv_item_id),
            min_tier_id: non_empty(post.min_tier_id),
            id: post.id,
            creator_id: post.creator_id,
            visibility: post.visibility,
            adult: post.adult,
            locked: post.locked,
            body: post.body,
            scheduled: post.scheduled,
            attachments: post
                .attachments
                .into_iter()
                .map(|file| AttachmentView {
                    media_id: non_empty(file.media_id),
                    kind: file.kind,
                    width: (file.width > 0).then_some(file.width),
                    height: (file.height > 0).then_some(file.height),
                    duration_ms: (file.duration_ms > 0).then_some(file.duration_ms),
                    thumbnails: file.thumbnails,
                })
                .collect(),
        }
    }
}

/// A page of posts, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PostPage)]
pub struct PostPage {
    pub items: Vec<PostView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    #[schema(required)]
    pub next_cursor: Option<String>,
}

impl From<pb::FeedPage> for PostPage {
    fn from(page: pb::FeedPage) -> Self {
        Self {
            items: page.posts.into_iter().map(PostView::from).collect(),
            next_cursor: non_empty(page.next_cursor),
        }
    }
}

/// The routes under `/v1` of the `api` rate-limit class.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/creator/posts", web::post().to(posts::create))
        .route("/creator/posts/{id}", web::put().to(posts::update))
        .route("/posts/{id}", web::get().to(posts::get))
        .route("/posts/{id}", web::delete().to(posts::delete))
        .route(
            "/creators/{creator_id}/posts",
            web::get().to(feeds::creator),
        )
        .route("/me/feed", web::get().to(feeds::home))
        .route(
            "/creators/{creator_id}/follow",
            web::put().to(feeds::follow),
        )
        .route(
            "/creators/{creator_id}/follow",
            web::delete().to(feeds::unfollow),
        )
        .route("/creator/media", web::post().to(files::upload))
        .route("/media/{id}", web::get().to(files::get))
        .route("/media/{id}/url", web::get().to(files::url))
        .route("/media/{id}/content", web::get().to(files::content))
        .route(
            "/creator/uploads",
            web::method(Method::OPTIONS).to(resumable::discover),
        )
        .route("/creator/uploads", web::post().to(resumable::create))
        .route("/creator/uploads/{id}", web::head().to(resumable::status))
        .route("/creator/uploads/{id}", web::patch().to(resumable::append))
        .route("/creator/uploads/{id}", web::delete().to(resumable::cancel))
        .route(
            "/creator/uploads/{id}",
            web::post().to(resumable::override_method),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_chunk_is_sent_at_once_in_pieces_of_at_most_piece_bytes() {
        let chunk: Bytes = (0..PIECE * 2 + 100).map(|i| (i % 251) as u8).collect();
        let sent: Vec<Bytes> = pieces(chunk.clone()).collect();
        let sizes: Vec<usize> = sent.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [PIECE, PIECE, 100]);
        assert_eq!(sent.concat(), chunk.to_vec());
        assert_eq!(pieces(Bytes::new()).count(), 0);
    }

    #[test]
    fn a_body_is_sent_in_whole_pieces_in_order_then_its_rest() {
        let body: Vec<u8> = (0..PIECE * 3 + 100).map(|i| (i % 251) as u8).collect();
        // Small chunks, one larger than two pieces, and small ones again.
        let cuts = [0, 10, 5_000, 9_000, 9_000 + PIECE * 2 + 7, body.len()];
        let mut pieces = Pieces::default();
        let mut sent: Vec<Bytes> = Vec::new();
        for edge in cuts.windows(2) {
            sent.extend(pieces.push(Bytes::copy_from_slice(&body[edge[0]..edge[1]])));
        }
        assert!(sent.iter().all(|piece| piece.len() == PIECE));
        sent.extend(pieces.rest());
        let sizes: Vec<usize> = sent.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [PIECE, PIECE, PIECE, 100]);
        assert_eq!(sent.concat(), body);
        assert!(Pieces::default().rest().is_none());
    }
}
