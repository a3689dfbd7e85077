//! Sessions: creation at login, validation on every authenticated request, revocation.
//!
//! Validation is on the hot path of every request, so a validated session is cached in Redis
//! (`session:<digest>`) for a few seconds and Postgres is read only on a miss. Revoking deletes
//! the cache entry at once, and the gateway reuses an answer for at most
//! `edge_cache_ttl_ms` (≤ 1 s), so a revoked session stops working within a second. If Redis
//! cannot be reached the cache is skipped (every validation reads Postgres), and a purge that
//! fails is retried in the background until the entry would have expired anyway.

use crate::errors::IdentityError;
use std::time::Duration;

use chrono::{DateTime, Utc};
use df_common::{
    Error,
    auth::Role,
    cache::Cache,
    ids::{SessionId, UserId},
};
use df_runtime::db::Db;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::{
    config::SessionPolicy,
    schema::{sessions, users},
    tokens,
};

/// A session that passed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidSession {
    /// The session.
    pub session_id: SessionId,
    /// Its user.
    pub user_id: UserId,
    /// The user's role.
    pub role: Role,
    /// When it ends if unused.
    pub idle_expires_at: DateTime<Utc>,
    /// When it ends regardless.
    pub absolute_expires_at: DateTime<Utc>,
}

/// A newly created session and its raw token (returned to the client once, never stored).
pub struct NewSession {
    /// The bearer token.
    pub token: String,
    /// The session.
    pub session: ValidSession,
}

/// KEYS: entry, tombstone. ARGV: value, ttl ms. Writes the entry unless the tombstone exists.
const CACHE_UNLESS_REVOKED: &str = "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";

/// KEYS: entry, tombstone, entry, tombstone, … ARGV: tombstone ttl ms.
const PURGE: &str = "for i = 1, #KEYS, 2 do redis.call('DEL', KEYS[i]) \
    redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[1]) end return #KEYS";

/// Session id, user id, role, status, idle expiry, absolute expiry, revocation.
type SessionLookup = (
    SessionId,
    UserId,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// The error every invalid, expired or revoked session gets.
pub fn invalid_session() -> Error {
    IdentityError::InvalidSession.into()
}

/// Session storage and its cache.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
    cache: Cache,
    policy: SessionPolicy,
}

impl Sessions {
    /// Sessions on `db`, cached in `cache`.
    pub fn new(db: Db, cache: Cache, policy: SessionPolicy) -> Self {
        Self { db, cache, policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    fn timeouts(&self, role: Role) -> (chrono::Duration, chrono::Duration) {
        if role.is_staff() {
            (
                chrono::Duration::minutes(i64::from(self.policy.staff_idle_minutes)),
                chrono::Duration::hours(i64::from(self.policy.staff_absolute_hours)),
            )
        } else {
            (
                chrono::Duration::minutes(i64::from(self.policy.member_idle_minutes)),
                chrono::Duration::hours(i64::from(self.policy.member_absolute_hours)),
            )
        }
    }

    /// Creates a session inside the caller's transaction (a fresh token on every login).
    pub async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: UserId,
        role: Role,
        user_agent: Option<&str>,
    ) -> Result<NewSession, Error> {
        let token = tokens::new_token();
        let now = Utc::now();
        let (idle, absolute) = self.timeouts(role);
        let session = ValidSession {
            session_id: SessionId::new(),
            user_id,
            role,
            idle_expires_at: now + idle,
            absolute_expires_at: now + absolute,
        };
        let user_agent: Option<String> = user_agent.map(|ua| ua.chars().take(256).collect());
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(session.session_id.as_uuid()),
                sessions::user_id.eq(user_id.as_uuid()),
                sessions::token_hash.eq(tokens::digest(&token)),
                sessions::idle_expires_at.eq(session.idle_expires_at),
                sessions::absolute_expires_at.eq(session.absolute_expires_at),
                sessions::user_agent.eq(user_agent),
            ))
            .execute(conn)
            .await?;
        Ok(NewSession { token, session })
    }

    fn cache_key(digest: &[u8]) -> String {
        format!("session:{}", hex::encode(digest))
    }

    /// Validates a token: live, not revoked, not expired, user active.
    pub async fn validate(&self, token: &str) -> Result<ValidSession, Error> {
        if !tokens::is_well_formed(token) {
            return Err(invalid_session());
        }
        let digest = tokens::digest(token);
        let key = Self::cache_key(&digest);
        let now = Utc::now();
        // Only a validation this service sealed counts: the Redis is shared.
        if let Ok(Some(bytes)) = self.cache.get_sealed(&key).await
            && let Ok(cached) = serde_json::from_slice::<ValidSession>(&bytes)
        {
            if now >= cached.idle_expires_at || now >= cached.absolute_expires_at {
                return Err(invalid_session());
            }
            if !self.needs_touch(&cached, now) {
                return Ok(cached);
            }
        }
        self.validate_from_db(&digest, &key, now).await
    }

    /// Sliding idle expiry is written at most once a minute per session, not on every request.
    fn needs_touch(&self, session: &ValidSession, now: DateTime<Utc>) -> bool {
        let (idle, _) = self.timeouts(session.role);
        session.idle_expires_at - now < idle - chrono::Duration::seconds(60)
            && session.idle_expires_at < session.absolute_expires_at
    }

    async fn validate_from_db(
        &self,
        digest: &[u8],
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<ValidSession, Error> {
        let mut conn = self.db.conn().await?;
        let row: Option<SessionLookup> = sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq(digest))
            .select((
                sessions::id,
                users::id,
                users::role,
                users::status,
                sessions::idle_expires_at,
                sessions::absolute_expires_at,
                sessions::revoked_at,
            ))
            .first(&mut conn)
            .await
            .optional()?;
        let Some((
            session_id,
            user_id,
            role,
            status,
            idle_expires_at,
            absolute_expires_at,
            revoked_at,
        )) = row
        else {
            return Err(invalid_session());
        };
        if revoked_at.is_some()
            || status != "active"
            || now >= idle_expires_at
            || now >= absolute_expires_at
        {
            return Err(invalid_session());
        }
        let role = Role::parse(&role)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown role in users row")))?;
        let (idle, _) = self.timeouts(role);
        let idle_expires_at = (now + idle).min(absolute_expires_at);
        // Guarded by `revoked_at IS NULL`: a revocation that committed after our read wins.
        let still_live = diesel::update(
            sessions::table
                .find(session_id)
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::idle_expires_at.eq(idle_expires_at))
        .execute(&mut conn)
        .await?;
        if still_live == 0 {
            return Err(invalid_session());
        }
        let session = ValidSession {
            session_id,
            user_id,
            role,
            idle_expires_at,
            absolute_expires_at,
        };
        let ttl = Duration::from_secs(u64::from(self.policy.cache_ttl_secs))
            .min((absolute_expires_at - now).to_std().unwrap_or_default());
        if let Ok(bytes) = serde_json::to_vec(&session)
            && !ttl.is_zero()
        {
            // A cache write failure only costs the next request a database read.
            let _ = self.cache_unless_revoked(digest, key, bytes, ttl).await;
        }
        Ok(session)
    }

    /// Revokes the session of `token` (logout). Unknown tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<Option<ValidSession>, Error> {
        if !tokens::is_well_formed(token) {
            return Ok(None);
        }
        let digest = tokens::digest(token);
        let mut conn = self.db.conn().await?;
        let revoked: Option<(SessionId, UserId)> = diesel::update(
            sessions::table
                .filter(sessions::token_hash.eq(&digest))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(Utc::now()))
        .returning((sessions::id, sessions::user_id))
        .get_result(&mut conn)
        .await
        .optional()?;
        self.purge(vec![digest]).await;
        Ok(revoked.map(|(session_id, user_id)| ValidSession {
            session_id,
            user_id,
            role: Role::Fan,
            idle_expires_at: Utc::now(),
            absolute_expires_at: Utc::now(),
        }))
    }

    /// Revokes every live session of `user_id` inside the caller's transaction and returns their
    /// digests; call [`Sessions::purge`] with them after the commit.
    pub async fn revoke_all_in(
        conn: &mut AsyncPgConnection,
        user_id: UserId,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let digests = diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id.as_uuid()))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(Utc::now()))
        .returning(sessions::token_hash)
        .get_results::<Vec<u8>>(conn)
        .await?;
        Ok(digests)
    }

    fn tombstone_key(digest: &[u8]) -> String {
        format!("session_revoked:{}", hex::encode(digest))
    }

    /// Caches a validation unless the session was revoked meanwhile: a revocation leaves a
    /// tombstone, and the check and the write are one atomic script, so a validation racing a
    /// revocation can never re-cache the revoked session.
    async fn cache_unless_revoked(
        &self,
        digest: &[u8],
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), Error> {
        let keys = [
            self.cache.key(key),
            self.cache.key(&Self::tombstone_key(digest)),
        ];
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let value = self.cache.seal(key, &value, ttl);
        self.cache
            .run(move |c| {
                let (keys, value) = (keys.clone(), value.clone());
                Box::pin(async move {
                    deadpool_redis::redis::cmd("EVAL")
                        .arg(CACHE_UNLESS_REVOKED)
                        .arg(2)
                        .arg(&keys[0])
                        .arg(&keys[1])
                        .arg(value)
                        .arg(ttl_ms)
                        .query_async::<i64>(c)
                        .await
                })
            })
            .await
            .map(|_| ())
    }

    /// Removes cached validations and leaves tombstones that stop them from being cached again;
    /// retried in the background while Redis is unreachable, for as long as an entry could live.
    pub async fn purge(&self, digests: Vec<Vec<u8>>) {
        if digests.is_empty() {
            return;
        }
        let mut keys = Vec::with_capacity(digests.len() * 2);
        for digest in &digests {
            keys.push(self.cache.key(&Self::cache_key(digest)));
            keys.push(self.cache.key(&Self::tombstone_key(digest)));
        }
        // Tombstones outlive any entry that could have been written before them.
        let ttl_ms = u64::from(self.policy.cache_ttl_secs) * 2_000;
        let attempt = {
            let cache = self.cache.clone();
            move || {
                let cache = cache.clone();
                let keys = keys.clone();
                async move {
                    cache
                        .run(move |c| {
                            let keys = keys.clone();
                            Box::pin(async move {
                                let mut script = deadpool_redis::redis::cmd("EVAL");
                                script.arg(PURGE).arg(keys.len()).arg(&keys).arg(ttl_ms);
                                script.query_async::<i64>(c).await
                            })
                        })
                        .await
                }
            }
        };
        if attempt().await.is_ok() {
            return;
        }
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(u64::from(self.policy.cache_ttl_secs));
        tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                if attempt().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            tracing::warn!("session cache purge gave up; entries expire on their own");
        });
    }
}
