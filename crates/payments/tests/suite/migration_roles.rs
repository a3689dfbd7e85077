//! The books bind the service itself: migrations run as the role that owns the schema, and
//! payments runs as an application role that may read and write rows but not change tables or
//! their triggers. A role that owns the ledger could switch its append-only triggers off; the
//! service's role cannot, nor truncate, nor alter, nor rewrite the migration history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use df_payments::webhook::signature;
use df_proto::payments::v1::IngestWebhookRequest;
use df_testkit::RoleSeparatedDb;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::support::{Payments, stripe_event, stripe_fixtures};

/// The error of `statement`, run as whoever `conn` is; panics if it succeeds.
async fn refused(conn: &mut AsyncPgConnection, statement: &str) -> String {
    match diesel::sql_query(statement).execute(conn).await {
        Ok(_) => panic!("allowed: {statement}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_role_cannot_change_the_books_or_their_rules() {
    let roles = RoleSeparatedDb::new("payments").await;
    let config = roles.config();
    // The deployment step, as the chart runs it: the service's own binary with `migrate`
    // migrates as the owner and grants the application role its rights.
    let (_, verifying_key) = df_common::auth::generate_key_pair();
    let tax_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_df-payments"))
        .arg("migrate")
        .env_clear()
        .envs([
            ("DF_DATABASE__URL", roles.app_url()),
            ("DF_DATABASE__MIGRATION_URL", roles.owner_url()),
            ("DF_DATABASE__APP_ROLE", roles.app_role().to_owned()),
            ("DF_INTERNAL_AUTH__VERIFYING_KEYS__K1", verifying_key),
            ("DF_WEBHOOKS__SIGNING_SECRET", "whsec_migrate_test".into()),
            ("DF_TAX__ENCRYPTION__ACTIVE_KEY_ID", "k1".into()),
            ("DF_TAX__ENCRYPTION__KEYS__K1", tax_key),
            ("DF_TAX__PAYER_NAME", "DirectFanz (test)".into()),
            ("DF_TAX__PAYER_TIN_MASKED", "**-***0000".into()),
            (
                "DF_CHECKOUT__RETURN_ORIGINS",
                r#"["https://app.directfanz.test"]"#.into(),
            ),
        ])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    // The service works as the application role: a tip is booked in the ledger.
    let service_config = config.clone();
    let p = Payments::start_with(move |c| c.base.database = service_config).await;
    let mut intent = stripe_fixtures()["payment_intent"].clone();
    intent["id"] = json!("pi_roles_1");
    intent["amount"] = json!(1_200);
    intent["amount_received"] = json!(1_200);
    intent["currency"] = json!("usd");
    intent["status"] = json!("succeeded");
    intent["metadata"] = json!({"kind": "tip", "fan_id": uuid::Uuid::now_v7().to_string(),
        "creator_id": uuid::Uuid::now_v7().to_string()});
    let body = stripe_event(
        "evt_roles_1",
        "payment_intent.succeeded",
        chrono::Utc::now().timestamp(),
        intent,
    )
    .to_string();
    let header = signature::sign(body.as_bytes(), &p.secret, chrono::Utc::now().timestamp());
    let outcome = p
        .client()
        .ingest_webhook(p.as_service(IngestWebhookRequest {
            payload: body.into_bytes(),
            signature: header,
        }))
        .await
        .unwrap()
        .into_inner()
        .outcome;
    assert_eq!(outcome, "applied");

    let mut app = AsyncPgConnection::establish(&roles.app_url())
        .await
        .unwrap();
    let entries = df_testkit::db::count(&mut app, "SELECT count(*) AS n FROM ledger_entries").await;
    assert!(entries >= 2, "the tip is in the books");

    // What the application role may not do.
    let trigger_refusal = refused(&mut app, "UPDATE ledger_entries SET amount = amount + 1").await;
    assert!(trigger_refusal.contains("append-only"), "{trigger_refusal}");
    for statement in [
        "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only",
        "DROP TRIGGER ledger_entries_append_only ON ledger_entries",
        "ALTER TABLE ledger_entries DROP COLUMN amount",
        "TRUNCATE ledger_entries",
        "CREATE TABLE shadow_ledger (id bigint)",
        "DELETE FROM __diesel_schema_migrations",
        "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$",
    ] {
        let error = refused(&mut app, statement).await;
        assert!(
            error.contains("owner") || error.contains("permission denied"),
            "{statement}: {error}"
        );
    }

    // The owner could: this is why the service must not run as the owner.
    let mut owner = AsyncPgConnection::establish(&roles.owner_url())
        .await
        .unwrap();
    diesel::sql_query("BEGIN")
        .execute(&mut owner)
        .await
        .unwrap();
    diesel::sql_query("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        .execute(&mut owner)
        .await
        .unwrap();
    diesel::sql_query("ROLLBACK")
        .execute(&mut owner)
        .await
        .unwrap();
    let mut p = p;
    p.stop().await;
}
