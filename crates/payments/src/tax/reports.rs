//! Form 1099-NEC figures for a tax year, computed from the ledger.
//!
//! Box 1 (nonemployee compensation) is what the creator earned, net, in the calendar year (UTC):
//! the sum of the ledger entries on the creator's earning accounts — pending, available and
//! receivable — for the transactions that change what the creator earned: payments, refunds and
//! disputes (opened, won, lost). Releases and payouts are left out because they only move money
//! between the creator's own accounts or out to their bank; counting a payout would take from box
//! 1 money that was already earned. Each transaction counts in the year of its `occurred_at`, so
//! a refund in January reduces the new year's figure, not the year of the payment.
//!
//! Only USD earnings are reported: the form is in dollars, and converting other currencies
//! would need each payment's settlement exchange rate, which the ledger does not hold.
//!
//! [`reconcile`] checks the ledger figure against one computed independently from the
//! `payments` and `disputes` rows.

use crate::errors::PaymentsError;
use crate::status::DisputeStatus;
use df_common::ids::CreatorId;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use df_common::Error;
use diesel::{
    ExpressionMethods, QueryDsl, QueryableByName,
    sql_types::{Array, BigInt, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{
    forms::Form1099Summary,
    profiles::{self, TaxProfileView},
};
use crate::{
    ledger::{Account, TransactionKind},
    money::FeeSplit,
    schema::disputes,
};

/// The currency of the forms, and the only one whose earnings they report.
pub const FORM_CURRENCY: &str = "usd";
/// The creator's accounts whose entries make up their earnings.
pub const EARNING_ACCOUNTS: [Account; 3] = [
    Account::CreatorPending,
    Account::CreatorAvailable,
    Account::CreatorReceivable,
];
/// The transactions that change what a creator earned.
pub const EARNING_KINDS: [TransactionKind; 5] = [
    TransactionKind::Payment,
    TransactionKind::Refund,
    TransactionKind::DisputeOpened,
    TransactionKind::DisputeWon,
    TransactionKind::DisputeLost,
];
/// Earliest tax year asked about.
pub const MIN_TAX_YEAR: i32 = 2000;
/// Latest tax year asked about.
pub const MAX_TAX_YEAR: i32 = 9998;

/// Who issues the forms (the platform).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payer {
    /// Legal name.
    pub name: String,
    /// EIN, masked (`**-***6789`).
    pub tin_masked: String,
}

/// The calendar year `tax_year` in UTC, as `[start, end)`.
pub fn year_bounds(tax_year: i32) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let new_year = |year: i32| {
        NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|midnight| midnight.and_utc())
    };
    let bounds = (MIN_TAX_YEAR..=MAX_TAX_YEAR)
        .contains(&tax_year)
        .then(|| Some((new_year(tax_year)?, new_year(tax_year + 1)?)))
        .flatten();
    bounds.ok_or_else(|| {
        PaymentsError::InvalidTaxYear.with_message(format!(
            "The tax year must be between {MIN_TAX_YEAR} and {MAX_TAX_YEAR}."
        ))
    })
}

/// A creator's earnings in a year, from the ledger.
#[derive(Clone, Copy, Debug, Default, QueryableByName)]
struct Earned {
    /// Net earnings in minor units.
    #[diesel(sql_type = BigInt)]
    amount: i64,
    /// Payment transactions that credited the creator.
    #[diesel(sql_type = BigInt)]
    payments: i64,
}

#[derive(QueryableByName)]
struct EarnedBy {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    creator_id: CreatorId,
    #[diesel(embed)]
    earned: Earned,
}

/// Aggregates and filters shared by both earnings queries; binds `$1..=$6` in the order of
/// [`bind_earnings`].
const EARNINGS_FROM: &str = "
    COALESCE(SUM(e.amount), 0)::bigint AS amount,
    COUNT(DISTINCT t.id) FILTER (WHERE t.kind = $6) AS payments
    FROM ledger_entries e
    JOIN ledger_transactions t ON t.id = e.transaction_id
    WHERE e.owner_id IS NOT NULL
      AND e.currency = $1
      AND e.account = ANY($2)
      AND t.kind = ANY($3)
      AND t.occurred_at >= $4 AND t.occurred_at < $5";

macro_rules! bind_earnings {
    ($query:expr, $start:expr, $end:expr) => {
        $query
            .bind::<Text, _>(FORM_CURRENCY)
            .bind::<Array<Text>, _>(EARNING_ACCOUNTS.map(Account::as_str).to_vec())
            .bind::<Array<Text>, _>(EARNING_KINDS.map(TransactionKind::as_str).to_vec())
            .bind::<Timestamptz, _>($start)
            .bind::<Timestamptz, _>($end)
            .bind::<Text, _>(TransactionKind::Payment.as_str())
    };
}

/// `creator_id`'s earnings booked in `[start, end)`.
async fn earned(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Earned, Error> {
    let query = diesel::sql_query(format!("SELECT {EARNINGS_FROM} AND e.owner_id = $7"));
    Ok(bind_earnings!(query, start, end)
        .bind::<diesel::sql_types::Uuid, _>(creator_id)
        .get_result(conn)
        .await?)
}

fn form(
    tax_year: i32,
    payer: &Payer,
    threshold_minor: i64,
    profile: Option<&TaxProfileView>,
    earned: Earned,
) -> Form1099Summary {
    Form1099Summary {
        tax_year,
        payer_name: payer.name.clone(),
        payer_tin_masked: payer.tin_masked.clone(),
        recipient_name: profile.map(|p| p.legal_name.clone()).unwrap_or_default(),
        recipient_tin_masked: profile.map(|p| p.tin_masked.clone()).unwrap_or_default(),
        recipient_address: profile.map(|p| p.address.lines()).unwrap_or_default(),
        nonemployee_compensation_minor: earned.amount,
        currency: FORM_CURRENCY.to_owned(),
        payments_count: u32::try_from(earned.payments).unwrap_or(u32::MAX),
        threshold_minor,
        // Nothing earned never requires a form, whatever the threshold is set to.
        meets_threshold: earned.amount > 0 && earned.amount >= threshold_minor,
    }
}

/// `creator_id`'s Form 1099-NEC figures for `tax_year`.
///
/// The recipient's name, masked TIN and address come from their tax profile; they are empty when
/// the creator has none, and a caller that furnishes the form should ask for a profile first.
/// Never decrypts anything. `payments.invalid_tax_year` for a year out of range.
pub async fn summary_for(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    tax_year: i32,
    threshold_minor: i64,
    payer: &Payer,
) -> Result<Form1099Summary, Error> {
    let (start, end) = year_bounds(tax_year)?;
    let earned = earned(conn, creator_id, start, end).await?;
    let profile = profiles::get_profile(conn, creator_id).await?;
    Ok(form(
        tax_year,
        payer,
        threshold_minor,
        profile.as_ref(),
        earned,
    ))
}

/// The figures of every creator who has a tax profile or booked earnings in `tax_year`, in
/// creator id order, each with the creator's id (a creator without a profile has no name on
/// the form).
pub async fn all_summaries(
    conn: &mut AsyncPgConnection,
    tax_year: i32,
    threshold_minor: i64,
    payer: &Payer,
) -> Result<Vec<(CreatorId, Form1099Summary)>, Error> {
    let (start, end) = year_bounds(tax_year)?;
    let query = diesel::sql_query(format!(
        "SELECT e.owner_id AS creator_id, {EARNINGS_FROM} GROUP BY e.owner_id"
    ));
    let rows: Vec<EarnedBy> = bind_earnings!(query, start, end).load(conn).await?;
    let mut creators: BTreeMap<CreatorId, (Option<TaxProfileView>, Earned)> = rows
        .into_iter()
        .map(|row| (row.creator_id, (None, row.earned)))
        .collect();
    for profile in profiles::all_profiles(conn).await? {
        let creator_id = profile.creator_id;
        creators.entry(creator_id).or_default().0 = Some(profile);
    }
    Ok(creators
        .into_iter()
        .map(|(creator_id, (profile, earned))| {
            let form = form(tax_year, payer, threshold_minor, profile.as_ref(), earned);
            (creator_id, form)
        })
        .collect())
}

/// Both sides of a [`reconcile`] check, in minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconciliation {
    /// Box 1 as [`summary_for`] computes it from the ledger.
    pub ledger_minor: i64,
    /// The same figure from the `payments` and `disputes` rows.
    pub tables_minor: i64,
}

impl Reconciliation {
    /// True when both sides agree.
    pub fn matches(&self) -> bool {
        self.ledger_minor == self.tables_minor
    }
}

#[derive(QueryableByName)]
struct PaymentRow {
    #[diesel(sql_type = BigInt)]
    gross_minor: i64,
    #[diesel(sql_type = BigInt)]
    platform_fee_minor: i64,
    #[diesel(sql_type = BigInt)]
    net_minor: i64,
    #[diesel(sql_type = BigInt)]
    refunded_minor: i64,
}

/// Amount, fee, status, opened and last updated.
type DisputeRow = (i64, i64, DisputeStatus, DateTime<Utc>, DateTime<Utc>);

fn overflow() -> Error {
    Error::internal(anyhow::anyhow!("tax year earnings overflow 64 bits"))
}

/// The two figures [`reconcile`] compares.
///
/// The tables side, in USD for `creator_id`:
///
/// - plus `net_minor` of every payment captured in the year (`payments.created_at`, which is the
///   capture time);
/// - minus the creator's share of what was refunded of those payments, recomputed from the
///   cumulative `refunded_minor` with the same proportional split the refunds were booked with
///   (all partial refunds of a payment together reverse exactly the share of their total);
/// - minus amount and fee of every dispute opened in the year (`disputes.created_at`), and plus
///   them again for every dispute won in the year (`disputes.updated_at` of a `won` row, which
///   no longer changes once the dispute is closed). A lost dispute keeps the amount in the
///   reserve's loss account, so it changes nothing further.
///
/// Known differences that are not errors: the `payments` row keeps only the refunded total, not
/// when each refund happened, so a refund booked in a later year than its payment counts in the
/// payment's year here and in its own year in the ledger; and a dispute's row times are when it
/// was recorded, which can fall on the other side of New Year from the provider's event time.
/// A mismatch is therefore a prompt to read the creator's statement, not proof of a bad entry.
pub async fn reconciliation(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    tax_year: i32,
) -> Result<Reconciliation, Error> {
    let (start, end) = year_bounds(tax_year)?;
    let ledger_minor = earned(conn, creator_id, start, end).await?.amount;

    // `payments.created_at` lives in the `payment_details` half of the split diesel table.
    let paid: Vec<PaymentRow> = diesel::sql_query(
        "SELECT gross_minor, platform_fee_minor, net_minor, refunded_minor FROM payments
         WHERE creator_id = $1 AND currency = $2 AND created_at >= $3 AND created_at < $4",
    )
    .bind::<diesel::sql_types::Uuid, _>(creator_id)
    .bind::<Text, _>(FORM_CURRENCY)
    .bind::<Timestamptz, _>(start)
    .bind::<Timestamptz, _>(end)
    .load(conn)
    .await?;
    let mut total: i128 = 0;
    for p in &paid {
        let split = FeeSplit {
            gross: p.gross_minor,
            platform_fee: p.platform_fee_minor,
            creator_net: p.net_minor,
        };
        let refunded = split.reversal(0, p.refunded_minor).creator_net;
        total += i128::from(p.net_minor) - i128::from(refunded);
    }

    // A dispute opened after the year cannot have been won in it.
    let disputed: Vec<DisputeRow> = disputes::table
        .filter(disputes::creator_id.eq(creator_id))
        .filter(disputes::currency.eq(FORM_CURRENCY))
        .filter(disputes::created_at.lt(end))
        .select((
            disputes::amount_minor,
            disputes::fee_minor,
            disputes::status,
            disputes::created_at,
            disputes::updated_at,
        ))
        .load(conn)
        .await?;
    let in_year = |at: DateTime<Utc>| start <= at && at < end;
    for (amount, fee, status, opened_at, updated_at) in &disputed {
        let held = i128::from(*amount) + i128::from(*fee);
        if in_year(*opened_at) {
            total -= held;
        }
        if *status == DisputeStatus::Won && in_year(*updated_at) {
            total += held;
        }
    }
    let tables_minor = i64::try_from(total).map_err(|_| overflow())?;
    Ok(Reconciliation {
        ledger_minor,
        tables_minor,
    })
}

/// True when `creator_id`'s box 1 for `tax_year` from the ledger equals the figure computed
/// independently from the `payments` and `disputes` rows; see [`reconciliation`] for how, and
/// for the year-boundary cases in which they may legitimately differ. A mismatch is logged with
/// the creator's id and the year (not the amounts).
pub async fn reconcile(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    tax_year: i32,
) -> Result<bool, Error> {
    let matches = reconciliation(conn, creator_id, tax_year).await?.matches();
    if !matches {
        tracing::warn!(
            creator_id = %creator_id,
            tax_year,
            "tax year earnings in the ledger differ from the payments and disputes rows"
        );
    }
    Ok(matches)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::tax::profiles::TaxAddress;

    #[test]
    fn a_tax_year_is_the_utc_calendar_year() {
        let (start, end) = year_bounds(2026).unwrap();
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        for bad in [1999, 9999, i32::MIN, i32::MAX, 0] {
            assert_eq!(
                year_bounds(bad).unwrap_err().code(),
                PaymentsError::InvalidTaxYear.code()
            );
        }
    }

    fn payer() -> Payer {
        Payer {
            name: "DirectFanz, Inc.".into(),
            tin_masked: "**-***4321".into(),
        }
    }

    #[test]
    fn the_threshold_is_reached_at_its_amount_and_never_by_nothing() {
        let at = |amount, threshold| {
            form(
                2026,
                &payer(),
                threshold,
                None,
                Earned {
                    amount,
                    payments: 1,
                },
            )
            .meets_threshold
        };
        assert!(at(200_000, 200_000));
        assert!(!at(199_999, 200_000));
        assert!(!at(0, 0));
        assert!(!at(-500, 0));
        assert!(at(1, 0));
    }

    #[test]
    fn a_form_takes_the_profile_masked_and_is_in_dollars() {
        let profile = TaxProfileView {
            creator_id: CreatorId::new(),
            legal_name: "Ada Lovelace".into(),
            address: TaxAddress {
                line1: "12 Analytical Way".into(),
                line2: String::new(),
                city: "London".into(),
                state: "KY".into(),
                postal_code: "40741".into(),
                country: "US".into(),
            },
            tin_masked: "***-**-6789".into(),
            bank_account_masked: None,
            updated_at: Utc::now(),
        };
        let earned = Earned {
            amount: 12_345,
            payments: i64::from(u32::MAX) + 1,
        };
        let with = form(2026, &payer(), 60_000, Some(&profile), earned);
        assert_eq!(with.recipient_name, "Ada Lovelace");
        assert_eq!(with.recipient_tin_masked, "***-**-6789");
        assert_eq!(
            with.recipient_address,
            ["12 Analytical Way", "London, KY 40741"]
        );
        assert_eq!(with.currency, "usd");
        assert_eq!(with.payments_count, u32::MAX);
        assert_eq!(with.payer_tin_masked, "**-***4321");
        let without = form(2026, &payer(), 60_000, None, earned);
        assert!(without.recipient_name.is_empty() && without.recipient_tin_masked.is_empty());
        assert_eq!(without.nonemployee_compensation_minor, 12_345);
    }
}
