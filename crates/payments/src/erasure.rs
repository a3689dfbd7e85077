//! Erasure: when privacy asks to erase a user, payments removes the personal data it holds —
//! tip messages, checkout pages, bank details, the addresses and devices content was delivered
//! to — and keeps the financial records the law
//! requires, which name the user only by an id that identity no longer maps to a person.
//! A creator's legal name, address and (encrypted) TIN stay for the tax-record retention period:
//! the platform must still be able to file and correct their information returns.

use async_trait::async_trait;
use df_common::Error;
use df_proto::events::v1::UserErasureRequested;
use df_runtime::bus::{EventEnvelope, EventHandler};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use prost::Message;
use uuid::Uuid;

use crate::schema::{checkouts, erased_users, tax_profiles};

/// The routing key of erasure requests.
pub const ERASURE_REQUESTED: &str = "privacy.user.erasure_requested";

/// Consumes erasure requests.
pub struct ErasureHandler;

#[async_trait]
impl EventHandler for ErasureHandler {
    fn name(&self) -> &'static str {
        "user_erasure"
    }

    fn bindings(&self) -> Vec<String> {
        vec![ERASURE_REQUESTED.into()]
    }

    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        let event = UserErasureRequested::decode(envelope.payload.as_slice()).map_err(|e| {
            Error::invalid_input("payments.malformed_event", "Malformed erasure request.")
                .with_cause(e)
        })?;
        let user = Uuid::parse_str(&event.user_id).map_err(|e| {
            Error::invalid_input("payments.malformed_event", "Malformed erasure request.")
                .with_cause(e)
        })?;
        erase(conn, user).await
    }
}

/// Erases what payments holds about `user`, keeping the pseudonymous financial records.
pub async fn erase(conn: &mut AsyncPgConnection, user: Uuid) -> Result<(), Error> {
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
