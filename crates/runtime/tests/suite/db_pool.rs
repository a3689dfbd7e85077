//! The connection pool against the machine's Postgres, through a TCP proxy the test controls: a
//! query on a connection the database dropped fails with a retryable "unavailable" (not an
//! internal error), and the broken connection never goes back to the pool.

// A failed unwrap is a failed test, with the value in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use df_common::ErrorKind;
use df_runtime::db::Db;
use df_testkit::{TcpProxy, TestDb};
use diesel_async::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("tests/migrations");

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migrations")
}

/// One pooled connection, reached through a proxy.
async fn pool_through_proxy() -> (TestDb, TcpProxy, Db) {
    let test_db = TestDb::new("common_pool", MIGRATIONS, &migrations_dir()).await;
    let proxy = TcpProxy::in_front_of(&test_db.server_addr()).await;
    let mut config = test_db.config_via(proxy.addr());
    config.max_connections = 1;
    let db = Db::connect(&config).unwrap();
    (test_db, proxy, db)
}

async fn select_one(db: &Db) -> Result<(), df_common::Error> {
    let mut conn = db.conn().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_on_a_dropped_connection_is_retryable_and_the_pool_replaces_it() {
    let (_test_db, proxy, db) = pool_through_proxy().await;
    select_one(&db).await.unwrap();
    let mut conn = db.conn().await.unwrap();
    // The database drops the connection while it is checked out.
    proxy.reset_connections();
    let error: df_common::Error = diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .unwrap_err()
        .into();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error:?}");
    assert_eq!(error.code(), "common.database_unavailable");
    drop(conn);
    // The broken connection is not put back: the next caller gets a working one.
    select_one(&db).await.unwrap();
    assert_eq!(db.status().size, 1);
}
