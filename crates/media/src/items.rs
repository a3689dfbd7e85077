//! Uploaded files as stored (`media` table): written when an upload is accepted, moved through
//! their states by the scan and moderation, attached to posts in order.

use chrono::{DateTime, Utc};
use df_common::{Error, ids::CreatorId};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    errors::MediaError,
    ids::{MediaId, PostId},
    posts::Post,
    schema::{media, posts},
    status::{MediaKind, MediaState},
};

/// Most files on one post.
pub const MAX_ATTACHMENTS: usize = 20;

/// A stored media row.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Queryable,
    Selectable,
    Insertable,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = media)]
pub struct Item {
    pub id: MediaId,
    pub creator_id: CreatorId,
    pub kind: MediaKind,
    pub state: MediaState,
    pub original_bytes: i64,
    pub original_sha256: Vec<u8>,
    pub served_bytes: i64,
    pub served_sha256: Vec<u8>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
    pub post_id: Option<PostId>,
    pub position: Option<i32>,
    pub threat: Option<String>,
    pub created_at: DateTime<Utc>,
    pub scanned_at: Option<DateTime<Utc>>,
    /// A video's poster frame was made: it has thumbnails like an image.
    #[serde(default)]
    pub poster: bool,
}

impl Item {
    /// True when its thumbnails exist (once published).
    pub fn has_thumbnails(&self) -> bool {
        self.kind.is_image() || self.poster
    }

    /// Width and height in pixels, 0 where unknown (the wire's "unset").
    pub fn size_on_wire(&self) -> (u32, u32) {
        let pixels = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok()).unwrap_or_default();
        (pixels(self.width), pixels(self.height))
    }

    /// The duration in milliseconds, 0 where unknown.
    pub fn duration_on_wire(&self) -> u64 {
        self.duration_ms
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or_default()
    }
}

/// Records an accepted upload.
pub async fn insert(conn: &mut AsyncPgConnection, item: &Item) -> Result<(), Error> {
    diesel::insert_into(media::table)
        .values(item)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that video `id` has its poster frame and thumbnails.
pub async fn poster_made(conn: &mut AsyncPgConnection, id: MediaId) -> Result<(), Error> {
    diesel::update(media::table.find(id))
        .set(media::poster.eq(true))
        .execute(conn)
        .await?;
    Ok(())
}

/// The file `id`.
pub async fn find(conn: &mut AsyncPgConnection, id: MediaId) -> Result<Option<Item>, Error> {
    Ok(media::table
        .find(id)
        .select(Item::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The file `id` and the post it is attached to, in one query (every served byte asks).
pub async fn with_post(
    conn: &mut AsyncPgConnection,
    id: MediaId,
) -> Result<Option<(Item, Option<Post>)>, Error> {
    Ok(media::table
        .left_join(posts::table)
        .filter(media::id.eq(id))
        .select((Item::as_select(), Option::<Post>::as_select()))
        .first(conn)
        .await
        .optional()?)
}

/// Moves the file to `state`, recording the scan when it is a verdict.
pub async fn set_state(
    conn: &mut AsyncPgConnection,
    id: MediaId,
    state: MediaState,
    threat: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let scanned = !matches!(state, MediaState::Scanning | MediaState::ScanPending);
    diesel::update(media::table.find(id))
        .set((
            media::state.eq(state),
            media::threat.eq(threat),
            media::scanned_at.eq(scanned.then_some(at)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the file as waiting for the scanner (the job counts the attempts).
pub async fn scan_failed(conn: &mut AsyncPgConnection, id: MediaId) -> Result<(), Error> {
    diesel::update(media::table.find(id))
        .set(media::state.eq(MediaState::ScanPending))
        .execute(conn)
        .await?;
    Ok(())
}

/// The files of `post`, in order.
pub async fn of_post(conn: &mut AsyncPgConnection, post: PostId) -> Result<Vec<Item>, Error> {
    Ok(media::table
        .filter(media::post_id.eq(post))
        .order(media::position.asc())
        .select(Item::as_select())
        .load(conn)
        .await?)
}

/// The files of several posts, in order within each.
pub async fn of_posts(conn: &mut AsyncPgConnection, posts: &[PostId]) -> Result<Vec<Item>, Error> {
    Ok(media::table
        .filter(media::post_id.eq_any(posts))
        .order((media::post_id.asc(), media::position.asc()))
        .select(Item::as_select())
        .load(conn)
        .await?)
}

/// Makes `files` the attachments of `post`, in order, replacing the ones it had. Each must be
/// `creator`'s, not attached to another post, and neither quarantined nor removed.
pub async fn attach(
    conn: &mut AsyncPgConnection,
    post: PostId,
    creator: CreatorId,
    files: &[MediaId],
) -> Result<(), Error> {
    if files.len() > MAX_ATTACHMENTS {
        return Err(MediaError::TooManyAttachments.into());
    }
    let mut unique = files.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != files.len() {
        return Err(MediaError::InvalidAttachment.into());
    }
    let usable: i64 = media::table
        .filter(media::id.eq_any(files))
        .filter(media::creator_id.eq(creator))
        .filter(media::post_id.is_null().or(media::post_id.eq(post)))
        .filter(media::state.ne_all([MediaState::Quarantined, MediaState::Removed]))
        .count()
        .get_result(conn)
        .await?;
    if usable != files.len() as i64 {
        return Err(MediaError::InvalidAttachment.into());
    }
    diesel::update(media::table.filter(media::post_id.eq(post)))
        .set((
            media::post_id.eq(None::<PostId>),
            media::position.eq(None::<i32>),
        ))
        .execute(conn)
        .await?;
    for (position, id) in files.iter().enumerate() {
        diesel::update(media::table.find(*id))
            .set((
                media::post_id.eq(post),
                media::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Files waiting for a scan: the backlog.
pub async fn unscanned(conn: &mut AsyncPgConnection) -> Result<i64, Error> {
    Ok(media::table
        .filter(media::state.eq_any([MediaState::Scanning, MediaState::ScanPending]))
        .count()
        .get_result(conn)
        .await?)
}
