//! The ledger integrity check: one SQL query (`sql/ledger_integrity.sql`) that anyone with read
//! access can run; every row it returns is a violation.

use df_common::Error;
use diesel::{QueryableByName, sql_types};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The check, as shipped in `crates/payments/sql/ledger_integrity.sql`.
pub const INTEGRITY_SQL: &str = include_str!("../../sql/ledger_integrity.sql");

/// One violation found by the check.
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct Violation {
    /// What is wrong.
    #[diesel(sql_type = sql_types::Text)]
    pub violation: String,
    /// The transaction or balance concerned.
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    pub subject: Option<String>,
    /// Its currency.
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    pub currency: Option<String>,
    /// The amount off.
    #[diesel(sql_type = sql_types::BigInt)]
    pub amount: i64,
}

/// Runs the check; an empty list means the books balance.
pub async fn check(conn: &mut AsyncPgConnection) -> Result<Vec<Violation>, Error> {
    diesel::sql_query(INTEGRITY_SQL)
        .load(conn)
        .await
        .map_err(Error::internal)
}
