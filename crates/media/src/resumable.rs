//! Resumable uploads, which the gateway offers as tus 1.0: a creator announces a file and its
//! length, then appends bytes at the offset reached so far, in as many requests as their
//! connection needs. Each append is spooled to disk (memory holds one chunk) and stored as one
//! object under `resumable/<id>/`, and only then is the offset moved, so an acknowledged byte
//! survives a restart of the client, the gateway or media, and any replica can take the next
//! append. Whatever arrived before a connection broke is kept. The append that brings the
//! offset to the length reads the parts back in order through the same checks as a single
//! upload; the file is then stored under the upload's id, in the transaction that deletes the
//! upload's row. A refused file, a cancelled upload and one left idle past its expiry leave
//! nothing behind.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use df_common::{Error, ids::CreatorId};
use df_runtime::jobs::{self, Job};
use diesel::{
    ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::{
    errors::MediaError,
    ids::MediaId,
    items::Item,
    metrics,
    schema::{upload_parts, upload_sessions},
    service::Media,
    storage::{self, keys},
    uploads::{self, Declared},
};

/// Sessions one expiry run deletes at most (the next run takes the rest).
const EXPIRY_BATCH: i64 = 100;

/// A resumable upload as stored.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = upload_sessions)]
pub struct Session {
    pub id: MediaId,
    pub creator_id: CreatorId,
    pub file_name: String,
    pub content_type: String,
    pub length: i64,
    pub received: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Where the next append starts.
    pub fn offset(&self) -> u64 {
        u64::try_from(self.received).unwrap_or_default()
    }

    /// The announced size.
    pub fn length(&self) -> u64 {
        u64::try_from(self.length).unwrap_or_default()
    }

    fn declared(&self) -> Declared {
        Declared {
            file_name: self.file_name.clone(),
            content_type: self.content_type.clone(),
            bytes: self.length(),
        }
    }
}

/// Deleting the parts of an upload that became a file (they were read back and stored whole).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DropUploadParts {
    pub upload_id: MediaId,
}

impl Job for DropUploadParts {
    const KIND: &'static str = "media.drop_upload_parts";
}

/// Deletes the row of upload `id` (its parts' rows go with it) and queues the deletion of its
/// objects; called in the transaction that stores the file it became.
pub(crate) async fn finish(
    conn: &mut AsyncPgConnection,
    id: MediaId,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::delete(upload_sessions::table.find(id))
        .execute(conn)
        .await?;
    jobs::enqueue(conn, &DropUploadParts { upload_id: id }, now).await?;
    Ok(())
}

impl Media {
    /// Opens a resumable upload of `declared.bytes` bytes for `creator`.
    pub async fn create_upload(
        &self,
        creator: CreatorId,
        declared: &Declared,
    ) -> Result<Session, Error> {
        let limits = &self.files.uploads;
        let limit = uploads::declared_limit(limits, declared)?;
        if declared.bytes == 0 {
            return Err(MediaError::Empty.into());
        }
        if declared.bytes > limit {
            return Err(MediaError::TooLarge
                .with_message(format!("A file of this type has at most {limit} bytes.")));
        }
        let now = self.clock.now();
        let session = Session {
            id: MediaId::new(),
            creator_id: creator,
            file_name: declared.file_name.clone(),
            content_type: declared.content_type.clone(),
            length: i64::try_from(declared.bytes).unwrap_or(i64::MAX),
            received: 0,
            created_at: now,
            expires_at: now + self.upload_expiry(),
        };
        let most = i64::from(limits.max_sessions_per_creator);
        let mut conn = self.db.conn().await?;
        let created = session.clone();
        conn.transaction::<_, Error, _>(async move |conn| {
            // One creator's creations take turns, so two at once cannot both pass the count.
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
                .bind::<diesel::sql_types::Text, _>(format!("media.uploads.{creator}"))
                .execute(conn)
                .await?;
            let open: i64 = upload_sessions::table
                .filter(upload_sessions::creator_id.eq(creator))
                .filter(upload_sessions::expires_at.gt(now))
                .count()
                .get_result(conn)
                .await?;
            if open >= most {
                return Err(MediaError::TooManyUploads.with_message(format!(
                    "At most {most} resumable uploads may be open at once; finish or cancel one."
                )));
            }
            diesel::insert_into(upload_sessions::table)
                .values(&created)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await?;
        Ok(session)
    }

    /// Upload `id` of `creator`'s, while it is open.
    pub async fn upload_status(&self, creator: CreatorId, id: MediaId) -> Result<Session, Error> {
        let mut conn = self.db.conn().await?;
        self.open_session(&mut conn, creator, id).await
    }

    /// Appends `chunks` to upload `id` at `offset`, which must be where the upload stands.
    /// What arrives before the stream ends is kept, however it ends; bytes past the announced
    /// length refuse the whole append. The append that reaches the length completes the upload
    /// (as does an empty append once every byte is there, after a completion that failed for a
    /// reason of the platform's): the answer then carries the file.
    pub async fn append_upload(
        &self,
        creator: CreatorId,
        id: MediaId,
        offset: u64,
        chunks: impl Stream<Item = Result<Bytes, Error>>,
    ) -> Result<(Session, Option<Item>), Error> {
        let mut conn = self.db.conn().await?;
        let session = self.open_session(&mut conn, creator, id).await?;
        drop(conn);
        if offset != session.offset() {
            return Err(MediaError::OffsetMismatch.with_message(format!(
                "The upload stands at byte {}; append from there.",
                session.offset()
            )));
        }
        let room = session.length() - session.offset();
        let received = self.spool_append(&session, room, chunks).await?;
        let session = match received {
            Some((spool, bytes)) if bytes > 0 => {
                self.keep_part(&session, spool.path(), bytes).await?
            }
            _ => session,
        };
        if session.offset() < session.length() {
            return Ok((session, None));
        }
        let item = self.complete(&session).await?;
        Ok((session, Some(item)))
    }

    /// Abandons upload `id` of `creator`'s: its row now, its objects at once after.
    pub async fn cancel_upload(&self, creator: CreatorId, id: MediaId) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        self.open_session(&mut conn, creator, id).await?;
        self.discard(id).await
    }

    /// Deletes uploads idle past their expiry, objects first. Returns how many went.
    pub async fn expire_uploads(&self) -> Result<usize, Error> {
        let mut conn = self.db.conn().await?;
        let expired: Vec<MediaId> = upload_sessions::table
            .filter(upload_sessions::expires_at.le(self.clock.now()))
            .select(upload_sessions::id)
            .order(upload_sessions::expires_at)
            .limit(EXPIRY_BATCH)
            .load(&mut conn)
            .await?;
        drop(conn);
        for id in &expired {
            self.discard(*id).await?;
        }
        Ok(expired.len())
    }

    fn upload_expiry(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.files.uploads.resumable_expiry_hours))
    }

    async fn open_session(
        &self,
        conn: &mut AsyncPgConnection,
        creator: CreatorId,
        id: MediaId,
    ) -> Result<Session, Error> {
        upload_sessions::table
            .find(id)
            .filter(upload_sessions::creator_id.eq(creator))
            .filter(upload_sessions::expires_at.gt(self.clock.now()))
            .select(Session::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| MediaError::UploadNotFound.into())
    }

    /// Writes what arrives to a spool file: `None` when nothing did. The first bytes of the
    /// file are sniffed as soon as they are there, and a file that is not what it was declared
    /// to be ends the upload.
    async fn spool_append(
        &self,
        session: &Session,
        room: u64,
        chunks: impl Stream<Item = Result<Bytes, Error>>,
    ) -> Result<Option<(tempfile::NamedTempFile, u64)>, Error> {
        // Unbuffered: each chunk is on disk as soon as it arrived (appends are the large
        // uploads' pieces, read from a connection that may break at any moment).
        let (spool, file) = storage::spool_file(&self.files.spool_dir)?;
        let mut file = file.into_inner();
        let mut head = Vec::new();
        let sniffing = session.offset() == 0;
        let mut bytes: u64 = 0;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            if bytes > room {
                return Err(MediaError::TooLarge.with_message(format!(
                    "The upload was announced as {} bytes; this append goes past its end.",
                    session.length()
                )));
            }
            if sniffing && head.len() < df_filetype::SNIFF_LEN {
                let wanted = (df_filetype::SNIFF_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
                if let Err(refused) = uploads::check_head(&head, &session.declared()) {
                    metrics::upload_refused(refused.code());
                    self.discard(session.id).await?;
                    return Err(refused);
                }
            }
            file.write_all(&chunk).await.map_err(Error::internal)?;
        }
        file.flush().await.map_err(Error::internal)?;
        Ok((bytes > 0).then_some((spool, bytes)))
    }

    /// Stores the spooled append as a part and moves the offset past it, unless another append
    /// got there first (then its object is deleted and the client told where the upload
    /// stands).
    async fn keep_part(
        &self,
        session: &Session,
        spool: &std::path::Path,
        bytes: u64,
    ) -> Result<Session, Error> {
        let key = keys::upload_part(session.id, session.offset());
        self.files.storage.put_file(&key, spool).await?;
        let start = session.received;
        let added = i64::try_from(bytes).unwrap_or(i64::MAX);
        let expires_at = self.clock.now() + self.upload_expiry();
        let id = session.id;
        let object_key = key.to_string();
        let mut conn = self.db.conn().await?;
        let moved = conn
            .transaction::<_, Error, _>(async move |conn| {
                let moved: Option<Session> = diesel::update(
                    upload_sessions::table
                        .find(id)
                        .filter(upload_sessions::received.eq(start)),
                )
                .set((
                    upload_sessions::received.eq(upload_sessions::received + added),
                    upload_sessions::expires_at.eq(expires_at),
                ))
                .returning(Session::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                if moved.is_some() {
                    diesel::insert_into(upload_parts::table)
                        .values((
                            upload_parts::session_id.eq(id),
                            upload_parts::start_offset.eq(start),
                            upload_parts::bytes.eq(added),
                            upload_parts::object_key.eq(object_key),
                        ))
                        .execute(conn)
                        .await?;
                }
                Ok(moved)
            })
            .await;
        match moved {
            Ok(Some(session)) => Ok(session),
            Ok(None) => {
                self.files.storage.delete(&key).await?;
                Err(MediaError::OffsetMismatch
                    .with_message("Another append moved the upload on; ask where it stands."))
            }
            Err(failed) => {
                let _ = self.files.storage.delete(&key).await;
                Err(failed)
            }
        }
    }

    /// Reads every part back in order through the checks of a single upload and stores the
    /// file. A refused file ends the upload and leaves nothing; a failure of the platform's
    /// keeps the parts, so an empty append can complete it again.
    async fn complete(&self, session: &Session) -> Result<Item, Error> {
        let mut conn = self.db.conn().await?;
        let parts: Vec<(i64, i64, String)> = upload_parts::table
            .filter(upload_parts::session_id.eq(session.id))
            .order(upload_parts::start_offset)
            .select((
                upload_parts::start_offset,
                upload_parts::bytes,
                upload_parts::object_key,
            ))
            .load(&mut conn)
            .await?;
        drop(conn);
        let mut expected = 0;
        for (start, bytes, _) in &parts {
            if *start != expected {
                return Err(Error::internal(anyhow::anyhow!(
                    "upload {} has a gap at byte {expected}",
                    session.id
                )));
            }
            expected += bytes;
        }
        let storage = self.files.storage.clone();
        let bytes = futures::stream::iter(parts)
            .then(move |(_, _, key)| {
                let storage = storage.clone();
                async move { storage.stream(&key.into(), None).await }
            })
            .try_flatten();
        let declared = session.declared();
        let checked =
            uploads::receive(&self.files.uploads, &self.files.spool_dir, &declared, bytes).await;
        let checked = match checked {
            Ok(checked) => checked,
            Err(refused) if !is_refusal(&refused) => return Err(refused),
            Err(refused) => {
                metrics::upload_refused(refused.code());
                self.discard(session.id).await?;
                return Err(refused);
            }
        };
        self.store_checked(session.creator_id, session.id, checked, Some(session.id))
            .await
    }

    /// Deletes upload `id`: its objects, then its row.
    async fn discard(&self, id: MediaId) -> Result<(), Error> {
        self.files
            .storage
            .delete_prefix(&keys::upload_parts(id))
            .await?;
        let mut conn = self.db.conn().await?;
        diesel::delete(upload_sessions::table.find(id))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

/// Whether `error` refuses the file itself (rather than saying the platform failed).
fn is_refusal(error: &Error) -> bool {
    use df_common::ErrorKind::{InvalidInput, PayloadTooLarge, Unprocessable};
    matches!(error.kind(), InvalidInput | PayloadTooLarge | Unprocessable)
}
