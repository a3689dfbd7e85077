//! Erasure: when privacy asks to erase a user, payments removes the personal data it holds —
//! tip messages, checkout pages, bank details, the addresses and devices content was delivered
//! to — and keeps the financial records the law
//! requires, which name the user only by an id that identity no longer maps to a person.
//! A creator's legal name, address and (encrypted) TIN stay for the tax-record retention period:
//! the platform must still be able to file and correct their information returns.

use async_trait::async_trait;
use df_common::Error;
use df_common::ids::UserId;
use df_runtime::erasure::Erase;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::{checkouts, erased_users, tax_profiles};

/// What payments erases of a user.
pub struct PaymentsErasure;

#[async_trait]
impl Erase for PaymentsErasure {
    async fn erase(&self, conn: &mut AsyncPgConnection, user: UserId) -> Result<(), Error> {
        erase(conn, user).await
    }
}

/// Erases what payments holds about `user`, keeping the pseudonymous financial records.
pub async fn erase(conn: &mut AsyncPgConnection, user: UserId) -> Result<(), Error> {
    // `payments` is one SQL table behind two diesel tables; plain SQL says it directly.
    diesel::sql_query(
        "UPDATE payments SET message = NULL WHERE fan_id = $1 AND message IS NOT NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .execute(conn)
    .await?;
    diesel::update(checkouts::table.filter(checkouts::fan_id.eq(user)))
        .set((
            checkouts::message.eq(None::<String>),
            checkouts::url.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    diesel::update(tax_profiles::table.find(user))
        .set((
            tax_profiles::bank_key_id.eq(None::<String>),
            tax_profiles::bank_ciphertext.eq(None::<Vec<u8>>),
            tax_profiles::bank_masked.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    crate::access_log::erase(conn, user).await?;
    diesel::insert_into(erased_users::table)
        .values(erased_users::user_id.eq(user))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}
