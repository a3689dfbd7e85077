//! The access record kept for dispute evidence. The media service reports every delivery of a
//! creator's content to a fan (`media.content.delivered`); payments keeps when, what and from
//! where, so that when a fan disputes a purchase the evidence can show that they used what they
//! paid for.
//!
//! The network address and user agent are personal data: they are dropped on erasure (and not
//! recorded at all for an erased fan), and every row is deleted once older than the retention
//! period, which outlasts the window in which card networks accept disputes.

use crate::errors::PaymentsError;
use crate::ids::{MediaId, PostId, PpvItemId};
use df_common::ids::{CreatorId, UserId};
use std::{fmt::Write as _, net::IpAddr};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use df_common::Error;
use df_proto::events::v1::ContentDelivered;
use df_runtime::bus::{Consumer, EventEnvelope};
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Longest user agent kept; longer ones are cut (they are descriptive, not identifying keys).
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// Deliveries listed in one piece of evidence (the most recent ones; the count covers all).
/// Fifty lines stay well inside the 20,000 characters a provider accepts for the log.
pub const EVIDENCE_LINES: usize = 50;

/// Rows deleted per retention statement, so a large backlog never holds one long lock.
const PRUNE_BATCH: i64 = 10_000;

/// One delivery, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The fan who was handed the content.
    pub fan_id: UserId,
    /// Whose content it was.
    pub creator_id: CreatorId,
    /// The post.
    pub post_id: PostId,
    /// The media object of the post.
    pub media_id: MediaId,
    /// The pay-per-view item, when the post is one.
    pub ppv_item_id: Option<PpvItemId>,
    /// When the media service handed it over.
    pub delivered_at: DateTime<Utc>,
    /// The client's address, when known.
    pub client_ip: Option<IpAddr>,
    /// The client's user agent, when known, cut to [`USER_AGENT_MAX_CHARS`].
    pub user_agent: Option<String>,
}

fn malformed(detail: &str) -> Error {
    Error::from(PaymentsError::MalformedEvent).with_cause(anyhow::anyhow!("{detail}"))
}

fn id_field<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, Error> {
    value.parse().map_err(|_| malformed(name))
}

impl TryFrom<ContentDelivered> for Delivery {
    type Error = Error;

    fn try_from(event: ContentDelivered) -> Result<Self, Error> {
        let delivered_at = event
            .delivered_at
            .as_ref()
            .and_then(df_common::wire::instant)
            .ok_or_else(|| malformed("delivered_at"))?;
        let client_ip = match event.client_ip.trim() {
            "" => None,
            text => Some(text.parse::<IpAddr>().map_err(|_| malformed("client_ip"))?),
        };
        // Control characters would break the evidence's one-line-per-delivery layout.
        let user_agent: String = event
            .user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_MAX_CHARS)
            .collect();
        let user_agent = user_agent.trim();
        Ok(Self {
            fan_id: id_field(&event.fan_id, "fan_id")?,
            creator_id: id_field(&event.creator_id, "creator_id")?,
            post_id: id_field(&event.post_id, "post_id")?,
            media_id: id_field(&event.media_id, "media_id")?,
            ppv_item_id: match event.ppv_item_id.as_str() {
                "" => None,
                id => Some(id_field(id, "ppv_item_id")?),
            },
            delivered_at,
            client_ip,
            user_agent: (!user_agent.is_empty()).then(|| user_agent.to_owned()),
        })
    }
}

/// Consumes delivery reports into the access record.
pub struct AccessLogHandler;

#[async_trait]
impl Consumer for AccessLogHandler {
    type Event = ContentDelivered;
    const NAME: &'static str = "content_deliveries";

    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        event: ContentDelivered,
        _envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        record(conn, &Delivery::try_from(event)?).await
    }
}

/// Records a delivery; for a fan who has been erased, nothing is kept.
pub async fn record(conn: &mut AsyncPgConnection, delivery: &Delivery) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO content_deliveries (fan_id, creator_id, post_id, media_id, ppv_item_id,
             delivered_at, client_ip, user_agent)
         SELECT $1, $2, $3, $4, $5, $6, $7::inet, $8
          WHERE NOT EXISTS (SELECT 1 FROM erased_users WHERE user_id = $1)",
    )
    .bind::<sql_types::Uuid, _>(delivery.fan_id)
    .bind::<sql_types::Uuid, _>(delivery.creator_id)
    .bind::<sql_types::Uuid, _>(delivery.post_id)
    .bind::<sql_types::Uuid, _>(delivery.media_id)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(delivery.ppv_item_id)
    .bind::<sql_types::Timestamptz, _>(delivery.delivered_at)
    .bind::<sql_types::Nullable<sql_types::Text>, _>(delivery.client_ip.map(|ip| ip.to_string()))
    .bind::<sql_types::Nullable<sql_types::Text>, _>(delivery.user_agent.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// What the evidence covers: one fan's deliveries of one creator's content since a purchase,
/// limited to one pay-per-view item when the purchase was one.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// The buyer.
    pub fan_id: UserId,
    /// The seller.
    pub creator_id: CreatorId,
    /// The item bought, for a pay-per-view purchase.
    pub ppv_item_id: Option<PpvItemId>,
    /// When the purchase was made.
    pub since: DateTime<Utc>,
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = sql_types::BigInt)]
    total: i64,
    #[diesel(sql_type = sql_types::Timestamptz)]
    delivered_at: DateTime<Utc>,
    #[diesel(sql_type = sql_types::Uuid)]
    post_id: PostId,
    #[diesel(sql_type = sql_types::Uuid)]
    media_id: MediaId,
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    client_ip: Option<String>,
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    user_agent: Option<String>,
}

/// The access activity log for a dispute: how many deliveries there were and the most recent
/// [`EVIDENCE_LINES`] of them, oldest first, one per line.
pub async fn evidence(conn: &mut AsyncPgConnection, scope: Scope) -> Result<String, Error> {
    let mut lines: Vec<Line> = diesel::sql_query(
        "SELECT count(*) OVER () AS total, delivered_at, post_id, media_id,
                host(client_ip) AS client_ip, user_agent
           FROM content_deliveries
          WHERE fan_id = $1 AND creator_id = $2 AND delivered_at >= $3
            AND ($4::uuid IS NULL OR ppv_item_id = $4)
          ORDER BY delivered_at DESC, id DESC
          LIMIT $5",
    )
    .bind::<sql_types::Uuid, _>(scope.fan_id)
    .bind::<sql_types::Uuid, _>(scope.creator_id)
    .bind::<sql_types::Timestamptz, _>(scope.since)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(scope.ppv_item_id)
    .bind::<sql_types::BigInt, _>(EVIDENCE_LINES as i64)
    .load(conn)
    .await?;
    let what = if scope.ppv_item_id.is_some() {
        "the purchased item"
    } else {
        "the creator's content"
    };
    let purchased = scope.since.format("%Y-%m-%d %H:%M:%S UTC");
    let Some(total) = <[Line]>::first(&lines).map(|line| line.total) else {
        return Ok(format!(
            "No delivery of {what} to this account is on record since the purchase on \
             {purchased}. Content is delivered only to the paying account, after payment."
        ));
    };
    lines.reverse();
    let deliveries = if total == 1 { "delivery" } else { "deliveries" };
    let mut log = format!(
        "{total} {deliveries} of {what} to the paying account since the purchase on {purchased}"
    );
    if total > lines.len() as i64 {
        let _ = write!(log, "; the {} most recent", lines.len());
    }
    log.push_str(":\n");
    for line in &lines {
        let _ = write!(
            log,
            "{}  post {}  media {}  from {}",
            line.delivered_at.format("%Y-%m-%d %H:%M:%S UTC"),
            line.post_id,
            line.media_id,
            line.client_ip.as_deref().unwrap_or("an address not kept"),
        );
        if let Some(agent) = &line.user_agent {
            let _ = write!(log, "  ({agent})");
        }
        log.push('\n');
    }
    Ok(log)
}

/// Drops the fan's addresses and user agents; when and what stays, under the pseudonymous id.
pub async fn erase(conn: &mut AsyncPgConnection, fan_id: UserId) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE content_deliveries SET client_ip = NULL, user_agent = NULL
          WHERE fan_id = $1 AND (client_ip IS NOT NULL OR user_agent IS NOT NULL)",
    )
    .bind::<sql_types::Uuid, _>(fan_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes deliveries made before `before`, in bounded statements. Returns how many went.
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> Result<usize, Error> {
    let mut deleted = 0;
    loop {
        let batch = diesel::sql_query(
            "DELETE FROM content_deliveries
              WHERE id IN (SELECT id FROM content_deliveries WHERE delivered_at < $1 LIMIT $2)",
        )
        .bind::<sql_types::Timestamptz, _>(before)
        .bind::<sql_types::BigInt, _>(PRUNE_BATCH)
        .execute(conn)
        .await?;
        deleted += batch;
        if (batch as i64) < PRUNE_BATCH {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ContentDelivered {
        ContentDelivered {
            fan_id: UserId::new().to_string(),
            creator_id: CreatorId::new().to_string(),
            post_id: PostId::new().to_string(),
            media_id: MediaId::new().to_string(),
            ppv_item_id: String::new(),
            delivered_at: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            client_ip: "2001:db8::7".into(),
            user_agent: "Mozilla/5.0\n(evil)".into(),
        }
    }

    #[test]
    fn a_report_is_checked_field_by_field() {
        let delivery = Delivery::try_from(report()).unwrap();
        assert_eq!(delivery.client_ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(delivery.ppv_item_id, None);
        assert_eq!(
            delivery.user_agent.as_deref(),
            Some("Mozilla/5.0(evil)"),
            "control characters are dropped"
        );
        let long = ContentDelivered {
            user_agent: "x".repeat(10_000),
            client_ip: String::new(),
            ..report()
        };
        let delivery = Delivery::try_from(long).unwrap();
        assert_eq!(
            delivery.user_agent.map(|ua| ua.chars().count()),
            Some(USER_AGENT_MAX_CHARS)
        );
        assert_eq!(delivery.client_ip, None);

        for bad in [
            ContentDelivered {
                fan_id: "fan".into(),
                ..report()
            },
            ContentDelivered {
                ppv_item_id: "not-an-id".into(),
                ..report()
            },
            ContentDelivered {
                client_ip: "10.0.0.300".into(),
                ..report()
            },
            ContentDelivered {
                delivered_at: None,
                ..report()
            },
        ] {
            let error = Delivery::try_from(bad).unwrap_err();
            assert_eq!(error.code(), PaymentsError::MalformedEvent.code());
        }
    }
}
