//! The database itself guards the books: entries cannot be changed or deleted, a transaction
//! that does not balance cannot commit, and the integrity check notices a running balance that
//! disagrees with the entries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::ids::CreatorId;
use df_payments::{
    ledger::{self, Account, Posting, Transaction, TransactionKind, integrity},
    money::FeeSplit,
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::support::Payments;

fn tip(creator: CreatorId, key: &str) -> Transaction {
    Transaction {
        kind: TransactionKind::Payment,
        creator_id: creator,
        currency: "usd".into(),
        reference: key.into(),
        effect_key: format!("payment:{key}"),
        occurred_at: chrono::Utc::now(),
        postings: ledger::policy::payment(FeeSplit::of(1_000, 2_000), 59),
    }
}

#[tokio::test]
async fn the_books_refuse_edits_and_imbalance_and_the_check_finds_drift() {
    let p = Payments::start().await;
    let mut conn = p.conn().await;
    let creator = CreatorId::new();
    let booked = conn
        .transaction::<bool, df_common::Error, _>(async move |conn| {
            ledger::book(conn, &tip(creator, "pi_1")).await
        })
        .await
        .unwrap();
    assert!(booked);
    // The same effect twice books nothing.
    let again = conn
        .transaction::<bool, df_common::Error, _>(async move |conn| {
            ledger::book(conn, &tip(creator, "pi_1")).await
        })
        .await
        .unwrap();
    assert!(!again);
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());

    for statement in [
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET kind = 'refund'",
        "DELETE FROM ledger_transactions",
    ] {
        let error = diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }

    // An unbalanced transaction written behind the ledger's back cannot commit.
    let tx_id = Uuid::now_v7();
    let forged = conn
        .transaction::<(), diesel::result::Error, _>(async move |conn| {
            diesel::sql_query(format!(
                "INSERT INTO ledger_transactions (id, kind, reference, effect_key, occurred_at)
                 VALUES ('{tx_id}', 'payment', 'x', 'forged', now())"
            ))
            .execute(conn)
            .await?;
            diesel::sql_query(format!(
                "INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
                 VALUES ('{tx_id}', 'creator_available', '{creator}', 'usd', 1000000)"
            ))
            .execute(conn)
            .await?;
            Ok(())
        })
        .await;
    assert!(forged.unwrap_err().to_string().contains("does not balance"));
    // Balanced entries appended to a booked transaction are refused as well.
    let appended = diesel::sql_query(
        "INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
         SELECT id, 'platform_revenue', NULL::uuid, 'usd', 5 FROM ledger_transactions
          WHERE effect_key = 'payment:pi_1'
         UNION ALL
         SELECT id, 'processor_fees', NULL::uuid, 'usd', -5 FROM ledger_transactions
          WHERE effect_key = 'payment:pi_1'",
    )
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert!(
        appended.to_string().contains("does not balance"),
        "{appended}"
    );
    // So are balanced entries of a transaction that was never booked.
    let orphans = diesel::sql_query(format!(
        "INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
         VALUES ('{orphan}', 'platform_revenue', NULL, 'usd', 5),
                ('{orphan}', 'processor_fees', NULL, 'usd', -5)",
        orphan = Uuid::now_v7()
    ))
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert!(orphans.to_string().contains("foreign key"), "{orphans}");
    // And the ledger refuses to book one itself.
    let mut lopsided = tip(creator, "pi_2");
    lopsided
        .postings
        .push(Posting::new(Account::CreatorAvailable, 1));
    let refused = conn
        .transaction::<bool, df_common::Error, _>(async move |conn| {
            ledger::book(conn, &lopsided).await
        })
        .await;
    assert!(refused.is_err());

    // A running balance changed behind the ledger's back is reported.
    diesel::sql_query("UPDATE creator_balances SET balance = balance + 5")
        .execute(&mut conn)
        .await
        .unwrap();
    let violations = integrity::check(&mut conn).await.unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        violations[0].violation,
        "running_balance_differs_from_entries"
    );
    assert_eq!(violations[0].amount, 5);
}

#[derive(diesel::QueryableByName)]
struct Key {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key: i64,
}

#[tokio::test]
async fn the_database_and_the_service_lock_a_creator_under_the_same_key() {
    let p = Payments::start().await;
    let mut conn = p.conn().await;
    let mut creators = vec![
        CreatorId::from_uuid(Uuid::nil()),
        CreatorId::from_uuid(Uuid::max()),
    ];
    creators.extend((0..20).map(|_| CreatorId::new()));
    for creator in creators {
        let Key { key } = diesel::sql_query("SELECT ledger_lock_key($1) AS key")
            .bind::<diesel::sql_types::Uuid, _>(creator)
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(key, ledger::lock_key(creator), "{creator}");
    }
}
