//! Tax profiles and Form 1099-NEC summaries against a real database: profiles are stored
//! encrypted and read back masked, bad input stores nothing, and the yearly figures come from
//! the ledger, reconciled with the payments and disputes rows.

// A failed unwrap is a failed test, with the value in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::keyring::{EncryptionConfig, Keyring};
use std::path::Path;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use df_common::ids::{CreatorId, UserId};
use df_common::{Error, ErrorKind, Secret};
use df_payments::ids::{PaymentId, TransactionId};
use df_payments::{
    charges::{self, Kind, NewPayment},
    disputes::{self, Reported},
    ledger::{self, Transaction, TransactionKind, policy},
    money::FeeSplit,
    schema::tax_profiles,
    tax::{
        forms,
        profiles::{self, TaxAddress, TaxProfileInput},
        reports::{self, Payer},
    },
};
use df_runtime::db::Db;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

const TIN: &str = "123-45-6789";
const TIN_DIGITS: &str = "123456789";
const ROUTING: &str = "021000021";
const ACCOUNT: &str = "000123456789";
/// Platform fee of every test payment: 20 %.
const FEE_BPS: u32 = 2_000;

async fn database() -> (df_testkit::TestDb, Db) {
    let test_db = df_testkit::TestDb::new(
        "payments",
        df_payments::MIGRATIONS,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
    )
    .await;
    let db = Db::connect(&test_db.config()).unwrap();
    (test_db, db)
}

fn keyring() -> Keyring {
    Keyring::from_config(&EncryptionConfig::ephemeral(), "tax.encryption").unwrap()
}

fn payer() -> Payer {
    Payer {
        name: "DirectFanz, Inc.".into(),
        tin_masked: "**-***4321".into(),
    }
}

fn input(tin: &str, bank: Option<(&str, &str)>) -> TaxProfileInput {
    TaxProfileInput {
        legal_name: " Ada Lovelace ".into(),
        address: TaxAddress {
            line1: "12 Analytical Way".into(),
            line2: "Suite 3".into(),
            city: "London".into(),
            state: "KY".into(),
            postal_code: "40741".into(),
            country: "us".into(),
        },
        tin: Secret::from(tin),
        tin_kind: None,
        bank_routing_number: bank.map(|(routing, _)| routing.to_owned()),
        bank_account_number: bank.map(|(_, account)| Secret::from(account)),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn profile_count(conn: &mut AsyncPgConnection) -> i64 {
    tax_profiles::table.count().get_result(conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_is_stored_encrypted_and_read_back_masked() {
    let (_test_db, db) = database().await;
    let mut conn = db.conn().await.unwrap();
    let keyring = keyring();
    let creator = CreatorId::new();

    let stored = profiles::put_profile(
        &mut conn,
        &keyring,
        creator,
        &input(TIN, Some((ROUTING, ACCOUNT))),
    )
    .await
    .unwrap();
    assert_eq!(stored.creator_id, creator);
    assert_eq!(stored.legal_name, "Ada Lovelace");
    assert_eq!(stored.address.country, "US");
    assert_eq!(stored.tin_masked, "***-**-6789");
    assert_eq!(stored.bank_account_masked.as_deref(), Some("********6789"));
    let read = profiles::get_profile(&mut conn, creator).await.unwrap();
    assert_eq!(read.as_ref(), Some(&stored));

    // The row holds ciphertexts and masks, never the numbers.
    let (key_id, tin_ciphertext, bank_ciphertext, tin_masked, address): (
        String,
        Vec<u8>,
        Option<Vec<u8>>,
        String,
        serde_json::Value,
    ) = tax_profiles::table
        .find(creator)
        .select((
            tax_profiles::tin_key_id,
            tax_profiles::tin_ciphertext,
            tax_profiles::bank_ciphertext,
            tax_profiles::tin_masked,
            tax_profiles::address,
        ))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(key_id, "local");
    let bank_ciphertext = bank_ciphertext.unwrap();
    for needle in [TIN_DIGITS, TIN, "6789"] {
        assert!(!contains(&tin_ciphertext, needle.as_bytes()), "{needle}");
    }
    for needle in [ACCOUNT, ROUTING, "6789"] {
        assert!(!contains(&bank_ciphertext, needle.as_bytes()), "{needle}");
    }
    assert!(!tin_masked.contains("12345"));
    assert!(!address.to_string().contains(TIN_DIGITS));

    // The full number comes back only through the one decrypting call.
    let tin = profiles::decrypt_tin(&mut conn, &keyring, creator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tin.expose().as_str(), TIN_DIGITS);
    assert!(
        profiles::decrypt_tin(&mut conn, &keyring, CreatorId::new())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        profiles::get_profile(&mut conn, CreatorId::new())
            .await
            .unwrap(),
        None
    );

    // A ciphertext copied into another creator's row does not open there.
    let other = CreatorId::new();
    profiles::put_profile(&mut conn, &keyring, other, &input("987-65-4321", None))
        .await
        .unwrap();
    diesel::update(tax_profiles::table.find(other))
        .set(tax_profiles::tin_ciphertext.eq(&tin_ciphertext))
        .execute(&mut conn)
        .await
        .unwrap();
    let error = profiles::decrypt_tin(&mut conn, &keyring, other)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal);
    assert_eq!(
        error.message(),
        Error::of_kind(ErrorKind::Internal).message()
    );
    // Reading the masked profile never needs a key.
    let masked = profiles::get_profile(&mut conn, other)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(masked.tin_masked, "***-**-4321");

    // A profile written again replaces the old one: without bank details, none remain.
    let replaced = profiles::put_profile(&mut conn, &keyring, creator, &input("12-3456789", None))
        .await
        .unwrap();
    assert_eq!(replaced.tin_masked, "**-***6789");
    assert_eq!(replaced.bank_account_masked, None);
    assert!(replaced.updated_at >= stored.updated_at);
    let (bank_key_id, bank_ciphertext): (Option<String>, Option<Vec<u8>>) = tax_profiles::table
        .find(creator)
        .select((tax_profiles::bank_key_id, tax_profiles::bank_ciphertext))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!((bank_key_id, bank_ciphertext), (None, None));
    assert_eq!(profile_count(&mut conn).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_details_are_refused_with_their_code_and_store_nothing() {
    let (_test_db, db) = database().await;
    let mut conn = db.conn().await.unwrap();
    let keyring = keyring();
    let creator = CreatorId::new();

    let mut unnamed = input(TIN, None);
    unnamed.legal_name = " ".into();
    let mut no_city = input(TIN, None);
    no_city.address.city = String::new();
    let cases = [
        (input("123-45-678", None), "payments.invalid_tin"),
        (input("000-12-3456", None), "payments.invalid_tin"),
        (
            input(TIN, Some(("021000012", ACCOUNT))),
            "payments.invalid_routing_number",
        ),
        (
            input(TIN, Some((ROUTING, "12ab"))),
            "payments.invalid_account_number",
        ),
        (
            input(TIN, Some((ROUTING, ""))),
            "payments.incomplete_bank_account",
        ),
        (unnamed, "payments.invalid_legal_name"),
        (no_city, "payments.invalid_address"),
    ];
    for (bad, code) in &cases {
        let error = profiles::put_profile(&mut conn, &keyring, creator, bad)
            .await
            .unwrap_err();
        assert_eq!(error.code(), *code);
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert_eq!(profile_count(&mut conn).await, 0, "{code}");
    }

    // A bad update leaves the stored profile as it was.
    let stored = profiles::put_profile(
        &mut conn,
        &keyring,
        creator,
        &input(TIN, Some((ROUTING, ACCOUNT))),
    )
    .await
    .unwrap();
    for (bad, code) in &cases {
        let error = profiles::put_profile(&mut conn, &keyring, creator, bad)
            .await
            .unwrap_err();
        assert_eq!(error.code(), *code);
    }
    assert_eq!(
        profiles::get_profile(&mut conn, creator).await.unwrap(),
        Some(stored)
    );
    let tin = profiles::decrypt_tin(&mut conn, &keyring, creator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tin.expose().as_str(), TIN_DIGITS);
}

fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .unwrap()
}

/// Books one ledger transaction as the money flows do: postings computed from the creator's
/// current balances.
async fn book(
    conn: &mut AsyncPgConnection,
    kind: TransactionKind,
    creator: CreatorId,
    currency: &str,
    at: DateTime<Utc>,
    postings: impl FnOnce(&policy::CreatorBalances) -> Vec<ledger::Posting>,
) {
    let balances = ledger::creator_balances(conn, creator, currency)
        .await
        .unwrap();
    let booked = ledger::book(
        conn,
        &Transaction {
            kind,
            creator_id: creator,
            currency: currency.to_owned(),
            reference: PaymentId::new().to_string(),
            effect_key: format!("test:{}", TransactionId::new()),
            occurred_at: at,
            postings: postings(&balances),
        },
    )
    .await
    .unwrap();
    assert!(booked);
}

fn paid(gross: i64) -> impl FnOnce(&policy::CreatorBalances) -> Vec<ledger::Posting> {
    move |_| policy::payment(FeeSplit::of(gross, FEE_BPS), 30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_yearly_summary_is_the_net_booked_in_the_ledger_that_year() {
    let (_test_db, db) = database().await;
    let mut conn = db.conn().await.unwrap();
    let keyring = keyring();
    let creator = CreatorId::new();
    let no_profile = CreatorId::new();
    let profile_only = CreatorId::new();
    profiles::put_profile(&mut conn, &keyring, creator, &input(TIN, None))
        .await
        .unwrap();
    profiles::put_profile(
        &mut conn,
        &keyring,
        profile_only,
        &input("987-65-4321", None),
    )
    .await
    .unwrap();

    conn.transaction::<(), Error, _>(async move |conn| {
        use TransactionKind as K;
        // 2025: 200.00 gross → 160.00 net, on the last second of the year.
        book(
            conn,
            K::Payment,
            creator,
            "usd",
            utc(2025, 12, 31, 23, 59, 59),
            paid(20_000),
        )
        .await;
        // 2026: 100.00 gross → 80.00 net, held, released, then paid out.
        book(
            conn,
            K::Payment,
            creator,
            "usd",
            utc(2026, 3, 1, 12, 0, 0),
            paid(10_000),
        )
        .await;
        book(
            conn,
            K::Release,
            creator,
            "usd",
            utc(2026, 3, 8, 0, 0, 0),
            |b| policy::release(b, 8_000),
        )
        .await;
        book(
            conn,
            K::PayoutStarted,
            creator,
            "usd",
            utc(2026, 3, 9, 0, 0, 0),
            |b| policy::payout_started(b, b.available).unwrap(),
        )
        .await;
        // A 25.00 refund of it takes back 20.00 of the creator's share, now owed.
        book(
            conn,
            K::Refund,
            creator,
            "usd",
            utc(2026, 6, 1, 0, 0, 0),
            |b| {
                let reversal = FeeSplit::of(10_000, FEE_BPS).reversal(0, 2_500);
                policy::refund(b, reversal, 0).postings
            },
        )
        .await;
        // 50.00 gross → 40.00 net on the last second of 2026.
        book(
            conn,
            K::Payment,
            creator,
            "usd",
            utc(2026, 12, 31, 23, 59, 59),
            paid(5_000),
        )
        .await;
        // Not 2026: the first instant of 2027, and euros.
        book(
            conn,
            K::Payment,
            creator,
            "usd",
            utc(2027, 1, 1, 0, 0, 0),
            paid(3_000),
        )
        .await;
        book(
            conn,
            K::Payment,
            creator,
            "eur",
            utc(2026, 7, 1, 0, 0, 0),
            paid(7_000),
        )
        .await;
        // Someone else's earnings.
        book(
            conn,
            K::Payment,
            no_profile,
            "usd",
            utc(2026, 2, 1, 0, 0, 0),
            paid(1_000),
        )
        .await;
        Ok(())
    })
    .await
    .unwrap();

    // 80.00 − 20.00 + 40.00; the release and the payout change nothing.
    let expected = 8_000 - 2_000 + 4_000;
    let summary = reports::summary_for(&mut conn, creator, 2026, 200_000, &payer())
        .await
        .unwrap();
    assert_eq!(summary.nonemployee_compensation_minor, expected);
    assert_eq!(summary.payments_count, 2);
    assert_eq!(summary.currency, "usd");
    assert_eq!(summary.tax_year, 2026);
    assert_eq!(summary.recipient_name, "Ada Lovelace");
    assert_eq!(summary.recipient_tin_masked, "***-**-6789");
    assert_eq!(
        summary.recipient_address,
        ["12 Analytical Way", "Suite 3", "London, KY 40741"]
    );
    assert_eq!(summary.payer_tin_masked, "**-***4321");
    assert!(!summary.meets_threshold);

    for (threshold, meets) in [
        (expected, true),
        (expected + 1, false),
        (expected - 1, true),
    ] {
        let summary = reports::summary_for(&mut conn, creator, 2026, threshold, &payer())
            .await
            .unwrap();
        assert_eq!(summary.threshold_minor, threshold);
        assert_eq!(summary.meets_threshold, meets, "threshold {threshold}");
    }

    let last_year = reports::summary_for(&mut conn, creator, 2025, 0, &payer())
        .await
        .unwrap();
    assert_eq!(last_year.nonemployee_compensation_minor, 16_000);
    assert_eq!(last_year.payments_count, 1);
    assert_eq!(
        reports::summary_for(&mut conn, creator, 1999, 0, &payer())
            .await
            .unwrap_err()
            .code(),
        "payments.invalid_tax_year"
    );

    let csv = String::from_utf8(forms::to_csv(std::slice::from_ref(&summary))).unwrap();
    assert!(csv.contains(",***-**-6789,"), "{csv}");
    assert!(csv.contains(",100.00,USD,2,2000.00,false\r\n"), "{csv}");
    assert!(!csv.contains(TIN_DIGITS) && !csv.contains("12345"), "{csv}");
    let pdf = forms::to_pdf(&summary);
    assert!(pdf.starts_with(b"%PDF"));
    assert!(contains(&pdf, b"(TIN: ***-**-6789)"));
    assert!(contains(&pdf, b"100.00 USD"));
    assert!(!contains(&pdf, TIN_DIGITS.as_bytes()));

    // Everyone with a profile or earnings, each once, in creator id order.
    let all = reports::all_summaries(&mut conn, 2026, 200_000, &payer())
        .await
        .unwrap();
    let mut ids = vec![creator, no_profile, profile_only];
    ids.sort();
    assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    let find = |id: CreatorId| &all.iter().find(|(c, _)| *c == id).unwrap().1;
    assert_eq!(find(creator), &summary);
    let unnamed = find(no_profile);
    assert_eq!(unnamed.nonemployee_compensation_minor, 800);
    assert_eq!(unnamed.payments_count, 1);
    assert!(unnamed.recipient_name.is_empty() && unnamed.recipient_tin_masked.is_empty());
    let idle = find(profile_only);
    assert_eq!(idle.nonemployee_compensation_minor, 0);
    assert_eq!(idle.payments_count, 0);
    assert_eq!(idle.recipient_tin_masked, "***-**-4321");
    assert!(!idle.meets_threshold);
}

fn new_payment(creator: CreatorId, reference: &str, gross: i64, at: DateTime<Utc>) -> NewPayment {
    NewPayment {
        provider_payment_id: reference.to_owned(),
        provider_charge_id: Some(format!("ch_{reference}")),
        kind: Kind::Tip,
        fan_id: UserId::new(),
        creator_id: creator,
        subscription_id: None,
        ppv_item_id: None,
        checkout_id: None,
        split: FeeSplit::of(gross, FEE_BPS),
        processor_fee: df_payments::money::simulated_processor_fee(gross),
        currency: "usd".into(),
        message: None,
        occurred_at: at,
        available_at: at + chrono::Duration::days(7),
    }
}

async fn state(conn: &mut AsyncPgConnection, reference: &str) -> charges::PaymentState {
    charges::find_for_update(conn, None, &[reference])
        .await
        .unwrap()
        .unwrap()
}

fn dispute(id: &str, status: &str) -> Reported {
    Reported {
        provider_dispute_id: id.to_owned(),
        amount: 0,
        fee: 1_500,
        status: status.to_owned(),
        reason: "fraudulent".into(),
        evidence_due_by: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_figure_reconciles_with_the_payments_and_disputes() {
    let (_test_db, db) = database().await;
    let mut conn = db.conn().await.unwrap();
    let creator = CreatorId::new();
    // Dispute rows are stamped with the database's clock, so the flows happen this year.
    let year = Utc::now().year();
    let day = move |n: i64| utc(year, 1, 1, 0, 0, 0) + chrono::Duration::days(n);

    conn.transaction::<(), Error, _>(async move |conn| {
        // 100.00 → 80.00 net; two partial refunds of 25.00 and 15.00 (40.00 in all) take back
        // 32.00 of it.
        charges::book_payment(conn, &new_payment(creator, "pi_one", 10_000, day(1)))
            .await?
            .unwrap();
        let one = state(conn, "pi_one").await;
        charges::apply_refund_total(conn, &one, 2_500, day(2)).await?;
        let one = state(conn, "pi_one").await;
        charges::apply_refund_total(conn, &one, 4_000, day(3)).await?;
        // 50.00 → 40.00 net; disputed for 50.00 plus a 15.00 fee, and lost.
        charges::book_payment(conn, &new_payment(creator, "pi_two", 5_000, day(4)))
            .await?
            .unwrap();
        let two = state(conn, "pi_two").await;
        let mut reported = dispute("dp_two", "needs_response");
        reported.amount = 5_000;
        disputes::open(conn, &two, &reported, day(5), 10).await?;
        reported.status = "lost".into();
        disputes::update(conn, &two, &reported, day(6)).await?;
        // 20.00 → 16.00 net; disputed and won, so the creator keeps it.
        charges::book_payment(conn, &new_payment(creator, "pi_three", 2_000, day(7)))
            .await?
            .unwrap();
        let three = state(conn, "pi_three").await;
        let mut reported = dispute("dp_three", "needs_response");
        reported.amount = 2_000;
        disputes::open(conn, &three, &reported, day(8), 10).await?;
        reported.status = "won".into();
        disputes::update(conn, &three, &reported, day(9)).await?;
        // Holds end and the balance is paid out: neither is earnings.
        charges::release_due(conn, day(30), 100).await?;
        let balances = ledger::creator_balances(conn, creator, "usd").await?;
        ledger::book(
            conn,
            &Transaction {
                kind: TransactionKind::PayoutStarted,
                creator_id: creator,
                currency: "usd".into(),
                reference: "po_test".into(),
                effect_key: "payout:test:started".into(),
                occurred_at: day(31),
                postings: policy::payout_started(&balances, balances.available).unwrap(),
            },
        )
        .await?;
        Ok(())
    })
    .await
    .unwrap();

    let expected = (8_000 - 3_200) + (4_000 - 6_500) + 1_600;
    let summary = reports::summary_for(&mut conn, creator, year, 0, &payer())
        .await
        .unwrap();
    assert_eq!(summary.nonemployee_compensation_minor, expected);
    assert_eq!(summary.payments_count, 3);
    // No profile yet: the figures are there, the recipient is not.
    assert!(summary.recipient_name.is_empty());
    let both = reports::reconciliation(&mut conn, creator, year)
        .await
        .unwrap();
    assert_eq!(
        both,
        reports::Reconciliation {
            ledger_minor: expected,
            tables_minor: expected,
        }
    );
    assert!(reports::reconcile(&mut conn, creator, year).await.unwrap());
    // Another year has nothing on either side.
    assert!(
        reports::reconcile(&mut conn, creator, year - 1)
            .await
            .unwrap()
    );

    // An entry the payments rows know nothing about breaks the reconciliation.
    conn.transaction::<(), Error, _>(async move |conn| {
        book(
            conn,
            TransactionKind::Refund,
            creator,
            "usd",
            day(40),
            |b| {
                policy::debit_creator(b, 100, 0)
                    .postings
                    .into_iter()
                    .chain([ledger::Posting::new(ledger::Account::Refunds, 100)])
                    .collect()
            },
        )
        .await;
        Ok(())
    })
    .await
    .unwrap();
    let both = reports::reconciliation(&mut conn, creator, year)
        .await
        .unwrap();
    assert_eq!(both.ledger_minor, expected - 100);
    assert_eq!(both.tables_minor, expected);
    assert!(!reports::reconcile(&mut conn, creator, year).await.unwrap());
}
