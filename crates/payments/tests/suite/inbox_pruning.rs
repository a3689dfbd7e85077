//! The bus inbox does not grow without bound: the service kit prunes every service's inbox on a
//! schedule, keeping entries for [`df_runtime::INBOX_RETENTION`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_proto::events::v1::UserErasureRequested;
use diesel::{QueryableByName, sql_types};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::support::Payments;

#[derive(QueryableByName)]
struct Entry {
    #[diesel(sql_type = sql_types::Text)]
    consumer: String,
}

async fn inbox(p: &Payments) -> Vec<String> {
    let mut conn = p.conn().await;
    diesel::sql_query("SELECT consumer FROM inbox ORDER BY processed_at")
        .load::<Entry>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.consumer)
        .collect()
}

async fn wait_for(p: &Payments, what: &str, expected: &[&str]) {
    df_testkit::eventually_ok(what, async || {
        let entries = inbox(p).await;
        if entries == expected {
            Ok(())
        } else {
            Err(entries)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_inbox_entries_are_pruned_after_the_retention_period() {
    let p = Payments::start().await;
    p.bus
        .consumed(df_payments::SERVICE, df_runtime::erasure::CONSUMER)
        .await;
    p.bus
        .publish_event(
            "privacy",
            &UserErasureRequested {
                user_id: Uuid::now_v7().to_string(),
                request_id: Uuid::now_v7().to_string(),
                requested_at: None,
            },
        )
        .await;
    let mut conn = p.conn().await;
    wait_for(&p, "the event recorded", &["user_erasure"]).await;

    // An entry that will be younger than the retention period once the clock has moved.
    let young = p.clock.now() + chrono::Duration::days(2);
    diesel::sql_query(
        "INSERT INTO inbox (consumer, event_id, processed_at) VALUES ('young', $1, $2)",
    )
    .bind::<sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<sql_types::Timestamptz, _>(young)
    .execute(&mut conn)
    .await
    .unwrap();

    // 31 days on, the next pruning forgets the applied event and keeps the younger entry.
    p.clock
        .advance(df_runtime::INBOX_RETENTION + chrono::Duration::days(1));
    wait_for(&p, "the old entry pruned", &["young"]).await;
}
