//! Creators' tax profiles: legal name, mailing address, TIN and optional bank details.
//!
//! The TIN and the bank details are validated, then stored only encrypted ([`df_common::keyring`]),
//! each bound to its creator and field so a ciphertext copied to another row does not open; next
//! to them sit masked forms that keep the last four digits. Reading a profile returns the masked
//! forms and never decrypts: [`decrypt_tin`] is the one place a full number comes back out, and
//! forms do not call it, because they print the TIN masked.
//!
//! [`put_profile`] replaces the whole profile: leaving the bank details out removes stored ones.

use crate::errors::PaymentsError;
use chrono::{DateTime, Utc};
use df_common::ids::CreatorId;
use df_common::{Error, Secret};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, upsert::excluded};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use df_common::keyring::{Keyring, Plaintext, field_aad};

use super::mask::{
    TinKind, mask_account, masked_tin, normalize_account_number, normalize_routing_number,
    normalize_tin, normalize_tin_as,
};
use crate::schema::tax_profiles;

/// The record name in the associated data of every sealed profile field.
pub const RECORD: &str = "tax_profile";
/// Field name in the associated data of the sealed TIN.
pub const TIN_FIELD: &str = "tin";
/// Field name in the associated data of the sealed bank details (`routing:account`).
pub const BANK_FIELD: &str = "bank_account";
/// Longest legal name, in characters.
pub const MAX_LEGAL_NAME_CHARS: usize = 200;
/// Longest street line, in characters.
pub const MAX_ADDRESS_LINE_CHARS: usize = 100;
/// Longest city, in characters.
pub const MAX_CITY_CHARS: usize = 100;
/// Longest state, province or region, in characters.
pub const MAX_STATE_CHARS: usize = 50;
/// Longest postal code, in characters.
pub const MAX_POSTAL_CODE_CHARS: usize = 20;

/// A mailing address, stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaxAddress {
    /// Street and number (required).
    pub line1: String,
    /// Apartment, suite, ... (optional).
    pub line2: String,
    /// City (required).
    pub city: String,
    /// State, province or region (optional: not every country has one).
    pub state: String,
    /// Postal code (required).
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, upper case (required).
    pub country: String,
}

impl TaxAddress {
    /// The address as printed on a form: street lines, `City, ST 12345`, and the country unless
    /// it is the United States.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.line1.clone()];
        if !self.line2.is_empty() {
            lines.push(self.line2.clone());
        }
        lines.push(if self.state.is_empty() {
            format!("{} {}", self.city, self.postal_code)
        } else {
            format!("{}, {} {}", self.city, self.state, self.postal_code)
        });
        if self.country != "US" {
            lines.push(self.country.clone());
        }
        lines
    }
}

/// What a creator submits. Blank bank fields count as absent, so a form's empty inputs map
/// directly.
#[derive(Clone, Debug)]
pub struct TaxProfileInput {
    /// Legal name or business name, as it should appear on the 1099.
    pub legal_name: String,
    /// Mailing address.
    pub address: TaxAddress,
    /// SSN, ITIN or EIN, with or without dashes.
    pub tin: Secret<String>,
    /// The TIN's kind when the creator said which it is; without it, the dashes decide and bare
    /// digits are taken as an SSN ([`normalize_tin`]).
    pub tin_kind: Option<TinKind>,
    /// US ABA routing number; given together with the account number or not at all.
    pub bank_routing_number: Option<String>,
    /// US bank account number; given together with the routing number or not at all.
    pub bank_account_number: Option<Secret<String>>,
}

/// A stored profile as anyone allowed to see it sees it: sensitive numbers masked only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxProfileView {
    /// Whose profile.
    pub creator_id: CreatorId,
    /// Legal name.
    pub legal_name: String,
    /// Mailing address.
    pub address: TaxAddress,
    /// The TIN by its last four digits: `***-**-6789` (SSN, ITIN) or `**-***6789` (EIN).
    pub tin_masked: String,
    /// The bank account number by its last four digits, when bank details are stored.
    pub bank_account_masked: Option<String>,
    /// When the profile was last written.
    pub updated_at: DateTime<Utc>,
}

/// A checked input, ready to seal. Plaintexts are wiped when dropped.
struct Checked {
    legal_name: String,
    address: TaxAddress,
    tin: Zeroizing<String>,
    tin_masked: String,
    bank: Option<(Zeroizing<String>, String)>,
}

fn invalid_legal_name() -> Error {
    PaymentsError::InvalidLegalName.with_message(format!(
        "The legal name is not valid. Enter 1 to {MAX_LEGAL_NAME_CHARS} characters on one line."
    ))
}

fn invalid_address(detail: &str) -> Error {
    PaymentsError::InvalidAddress.with_message(format!("The address is not valid: {detail}"))
}

/// Trims `value` and checks it is one line of at most `max` characters (and not empty when
/// `required`).
fn text_field(value: &str, max: usize, required: bool) -> Option<String> {
    let value = value.trim();
    let ok = (!required || !value.is_empty())
        && value.chars().count() <= max
        && !value.chars().any(char::is_control);
    ok.then(|| value.to_owned())
}

fn check_address(address: &TaxAddress) -> Result<TaxAddress, Error> {
    let line = |value: &str, max: usize, required: bool, name: &str| {
        text_field(value, max, required).ok_or_else(|| {
            let need = if required { "required, " } else { "" };
            invalid_address(&format!(
                "{name} is {need}at most {max} characters on one line."
            ))
        })
    };
    let line1 = line(&address.line1, MAX_ADDRESS_LINE_CHARS, true, "line 1")?;
    let line2 = line(&address.line2, MAX_ADDRESS_LINE_CHARS, false, "line 2")?;
    let city = line(&address.city, MAX_CITY_CHARS, true, "the city")?;
    let state = line(&address.state, MAX_STATE_CHARS, false, "the state")?;
    let postal_code = address.postal_code.trim();
    if postal_code.is_empty()
        || postal_code.len() > MAX_POSTAL_CODE_CHARS
        || !postal_code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
    {
        return Err(invalid_address(&format!(
            "the postal code is required, at most {MAX_POSTAL_CODE_CHARS} letters, digits, spaces or dashes."
        )));
    }
    let country = address.country.trim();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid_address(
            "the country is required, as its two-letter code (US, CA, GB, ...).",
        ));
    }
    Ok(TaxAddress {
        line1,
        line2,
        city,
        state,
        postal_code: postal_code.to_ascii_uppercase(),
        country: country.to_ascii_uppercase(),
    })
}

/// Treats a blank optional input as absent.
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// Every check of [`put_profile`], before anything is encrypted or stored.
fn check(input: &TaxProfileInput) -> Result<Checked, Error> {
    let legal_name =
        text_field(&input.legal_name, MAX_LEGAL_NAME_CHARS, true).ok_or_else(invalid_legal_name)?;
    let address = check_address(&input.address)?;
    let (tin, kind) = match input.tin_kind {
        Some(kind) => (normalize_tin_as(input.tin.expose(), kind)?, kind),
        None => normalize_tin(input.tin.expose())?,
    };
    let tin = Zeroizing::new(tin);
    let tin_masked = masked_tin(kind, &tin.as_str()[5..]);
    let routing = present(input.bank_routing_number.as_deref());
    let account = present(
        input
            .bank_account_number
            .as_ref()
            .map(|a| a.expose().as_str()),
    );
    let bank = match (routing, account) {
        (None, None) => None,
        (Some(routing), Some(account)) => {
            let routing = normalize_routing_number(routing)?;
            let account = Zeroizing::new(normalize_account_number(account)?);
            let masked = mask_account(&account);
            Some((Zeroizing::new(format!("{routing}:{}", *account)), masked))
        }
        _ => {
            return Err(Error::from(PaymentsError::IncompleteBankAccount));
        }
    };
    Ok(Checked {
        legal_name,
        address,
        tin,
        tin_masked,
        bank,
    })
}

type Row = (
    CreatorId,
    String,
    serde_json::Value,
    String,
    Option<String>,
    DateTime<Utc>,
);

/// The columns a view is made of: never a ciphertext.
type ViewColumns = (
    tax_profiles::creator_id,
    tax_profiles::legal_name,
    tax_profiles::address,
    tax_profiles::tin_masked,
    tax_profiles::bank_masked,
    tax_profiles::updated_at,
);

const VIEW_COLUMNS: ViewColumns = (
    tax_profiles::creator_id,
    tax_profiles::legal_name,
    tax_profiles::address,
    tax_profiles::tin_masked,
    tax_profiles::bank_masked,
    tax_profiles::updated_at,
);

fn view(row: Row) -> Result<TaxProfileView, Error> {
    let (creator_id, legal_name, address, tin_masked, bank_account_masked, updated_at) = row;
    let address = serde_json::from_value(address).map_err(|e| {
        Error::internal(anyhow::anyhow!(
            "tax profile of {creator_id} has an unreadable address: {e}"
        ))
    })?;
    Ok(TaxProfileView {
        creator_id,
        legal_name,
        address,
        tin_masked,
        bank_account_masked,
        updated_at,
    })
}

/// Validates `input` and stores it as `creator_id`'s profile, replacing any earlier one.
///
/// Errors (nothing is stored): `payments.invalid_legal_name`, `payments.invalid_address`,
/// `payments.invalid_tin`, `payments.invalid_routing_number`, `payments.invalid_account_number`,
/// `payments.incomplete_bank_account` (only one of routing and account number given).
pub async fn put_profile(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    creator_id: CreatorId,
    input: &TaxProfileInput,
) -> Result<TaxProfileView, Error> {
    let checked = check(input)?;
    let tin = keyring.encrypt(&checked.tin, &field_aad(RECORD, creator_id, TIN_FIELD))?;
    let (bank_key_id, bank_ciphertext, bank_masked) = match &checked.bank {
        Some((plain, masked)) => {
            let sealed = keyring.encrypt(plain, &field_aad(RECORD, creator_id, BANK_FIELD))?;
            (
                Some(sealed.key_id),
                Some(sealed.ciphertext),
                Some(masked.clone()),
            )
        }
        None => (None, None, None),
    };
    let address = serde_json::to_value(&checked.address).map_err(Error::internal)?;
    let row: Row = diesel::insert_into(tax_profiles::table)
        .values((
            tax_profiles::creator_id.eq(creator_id),
            tax_profiles::legal_name.eq(&checked.legal_name),
            tax_profiles::address.eq(&address),
            tax_profiles::tin_key_id.eq(&tin.key_id),
            tax_profiles::tin_ciphertext.eq(&tin.ciphertext),
            tax_profiles::tin_masked.eq(&checked.tin_masked),
            tax_profiles::bank_key_id.eq(&bank_key_id),
            tax_profiles::bank_ciphertext.eq(&bank_ciphertext),
            tax_profiles::bank_masked.eq(&bank_masked),
        ))
        .on_conflict(tax_profiles::creator_id)
        .do_update()
        .set((
            tax_profiles::legal_name.eq(excluded(tax_profiles::legal_name)),
            tax_profiles::address.eq(excluded(tax_profiles::address)),
            tax_profiles::tin_key_id.eq(excluded(tax_profiles::tin_key_id)),
            tax_profiles::tin_ciphertext.eq(excluded(tax_profiles::tin_ciphertext)),
            tax_profiles::tin_masked.eq(excluded(tax_profiles::tin_masked)),
            tax_profiles::bank_key_id.eq(excluded(tax_profiles::bank_key_id)),
            tax_profiles::bank_ciphertext.eq(excluded(tax_profiles::bank_ciphertext)),
            tax_profiles::bank_masked.eq(excluded(tax_profiles::bank_masked)),
            tax_profiles::updated_at.eq(diesel::dsl::now),
        ))
        .returning(VIEW_COLUMNS)
        .get_result(conn)
        .await?;
    tracing::info!(creator_id = %creator_id, bank = checked.bank.is_some(), "tax profile stored");
    view(row)
}

/// `creator_id`'s profile with masked numbers only, if one is stored. Never decrypts.
pub async fn get_profile(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
) -> Result<Option<TaxProfileView>, Error> {
    let row: Option<Row> = tax_profiles::table
        .find(creator_id)
        .select(VIEW_COLUMNS)
        .first(conn)
        .await
        .optional()?;
    row.map(view).transpose()
}

/// Every stored profile, masked, in creator id order (for the yearly reports).
pub(crate) async fn all_profiles(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<TaxProfileView>, Error> {
    let rows: Vec<Row> = tax_profiles::table
        .select(VIEW_COLUMNS)
        .order(tax_profiles::creator_id)
        .load(conn)
        .await?;
    rows.into_iter().map(view).collect()
}

/// The full TIN of `creator_id` (nine digits), for the few uses that need more than the masked
/// form, such as an electronic filing with the IRS. Forms and summaries never call it: they
/// print the masked TIN stored next to the ciphertext.
///
/// Every call is logged with the creator's id (never the number). A ciphertext that does not
/// open under the configured keys for this creator fails with an opaque internal error.
pub async fn decrypt_tin(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    creator_id: CreatorId,
) -> Result<Option<Plaintext>, Error> {
    let sealed: Option<(String, Vec<u8>)> = tax_profiles::table
        .find(creator_id)
        .select((tax_profiles::tin_key_id, tax_profiles::tin_ciphertext))
        .first(conn)
        .await
        .optional()?;
    let Some((key_id, ciphertext)) = sealed else {
        return Ok(None);
    };
    tracing::info!(creator_id = %creator_id, "tax identification number decrypted");
    keyring
        .decrypt(
            &key_id,
            &ciphertext,
            &field_aad(RECORD, creator_id, TIN_FIELD),
        )
        .map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn address() -> TaxAddress {
        TaxAddress {
            line1: " 12 Analytical Way ".into(),
            line2: String::new(),
            city: "London".into(),
            state: "KY".into(),
            postal_code: "40741".into(),
            country: "us".into(),
        }
    }

    fn input() -> TaxProfileInput {
        TaxProfileInput {
            legal_name: "  Ada Lovelace ".into(),
            address: address(),
            tin: Secret::from("123-45-6789"),
            tin_kind: None,
            bank_routing_number: None,
            bank_account_number: None,
        }
    }

    fn code(input: &TaxProfileInput) -> String {
        match check(input) {
            Ok(_) => "ok".into(),
            Err(error) => error.code().to_owned(),
        }
    }

    #[test]
    fn a_valid_input_is_trimmed_and_masked() {
        let checked = check(&input()).unwrap();
        assert_eq!(checked.legal_name, "Ada Lovelace");
        assert_eq!(checked.address.line1, "12 Analytical Way");
        assert_eq!(checked.address.country, "US");
        assert_eq!(checked.tin.as_str(), "123456789");
        assert_eq!(checked.tin_masked, "***-**-6789");
        assert!(checked.bank.is_none());

        let mut ein = input();
        ein.tin = Secret::from("123456789");
        ein.tin_kind = Some(TinKind::Ein);
        assert_eq!(check(&ein).unwrap().tin_masked, "**-***6789");
    }

    #[test]
    fn bank_details_seal_as_one_value_and_mask_the_account() {
        let mut with_bank = input();
        with_bank.bank_routing_number = Some(" 021000021 ".into());
        with_bank.bank_account_number = Some(Secret::from("000123456789"));
        let checked = check(&with_bank).unwrap();
        let (plain, masked) = checked.bank.unwrap();
        assert_eq!(plain.as_str(), "021000021:000123456789");
        assert_eq!(masked, "********6789");
    }

    #[test]
    fn blank_bank_fields_count_as_absent() {
        let mut blank = input();
        blank.bank_routing_number = Some("  ".into());
        blank.bank_account_number = Some(Secret::from(""));
        assert!(check(&blank).unwrap().bank.is_none());
    }

    #[test]
    fn each_bad_field_has_its_code() {
        type Change = Box<dyn Fn(&mut TaxProfileInput)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                PaymentsError::InvalidLegalName.code(),
                Box::new(|i| i.legal_name = "  ".into()),
            ),
            (
                PaymentsError::InvalidLegalName.code(),
                Box::new(|i| i.legal_name = "N".repeat(MAX_LEGAL_NAME_CHARS + 1)),
            ),
            (
                PaymentsError::InvalidLegalName.code(),
                Box::new(|i| i.legal_name = "Ada\nLovelace".into()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.line1 = String::new()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.line2 = "x".repeat(MAX_ADDRESS_LINE_CHARS + 1)),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.city = " ".into()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.state = "K\u{7}Y".into()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.postal_code = String::new()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.postal_code = "40741;".into()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.country = "USA".into()),
            ),
            (
                PaymentsError::InvalidAddress.code(),
                Box::new(|i| i.address.country = "U1".into()),
            ),
            (
                PaymentsError::InvalidTin.code(),
                Box::new(|i| i.tin = Secret::from("123-45-678")),
            ),
            (
                PaymentsError::InvalidTin.code(),
                Box::new(|i| {
                    i.tin = Secret::from("123-45-6789");
                    i.tin_kind = Some(TinKind::Ein);
                }),
            ),
            (
                PaymentsError::IncompleteBankAccount.code(),
                Box::new(|i| i.bank_routing_number = Some("021000021".into())),
            ),
            (
                PaymentsError::IncompleteBankAccount.code(),
                Box::new(|i| i.bank_account_number = Some(Secret::from("000123456789"))),
            ),
            (
                PaymentsError::InvalidRoutingNumber.code(),
                Box::new(|i| {
                    i.bank_routing_number = Some("021000012".into());
                    i.bank_account_number = Some(Secret::from("000123456789"));
                }),
            ),
            (
                PaymentsError::InvalidAccountNumber.code(),
                Box::new(|i| {
                    i.bank_routing_number = Some("021000021".into());
                    i.bank_account_number = Some(Secret::from("12-34"));
                }),
            ),
        ];
        for (expected, change) in cases {
            let mut bad = input();
            change(&mut bad);
            assert_eq!(code(&bad), expected, "{bad:?}");
        }
    }

    #[test]
    fn an_input_never_prints_its_numbers() {
        let mut with_bank = input();
        with_bank.bank_routing_number = Some("021000021".into());
        with_bank.bank_account_number = Some(Secret::from("000123456789"));
        let printed = format!("{with_bank:?}");
        assert!(!printed.contains("6789"), "{printed}");
    }

    #[test]
    fn addresses_print_as_a_form_shows_them() {
        let us = check_address(&address()).unwrap();
        assert_eq!(us.lines(), ["12 Analytical Way", "London, KY 40741"]);
        let abroad = check_address(&TaxAddress {
            line1: "1 Rue de Rivoli".into(),
            line2: "Apt 4".into(),
            city: "Paris".into(),
            state: String::new(),
            postal_code: "75001".into(),
            country: "fr".into(),
        })
        .unwrap();
        assert_eq!(
            abroad.lines(),
            ["1 Rue de Rivoli", "Apt 4", "Paris 75001", "FR"]
        );
    }
}
