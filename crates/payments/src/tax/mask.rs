//! Validation and masking of US taxpayer identification numbers and bank account details.
//!
//! Masked forms keep only the last four digits, the truncation the IRS allows on statements
//! furnished to recipients; everything else is replaced by `*`. Full numbers exist only inside
//! the encrypted columns (see [`super::crypto`]).

use crate::errors::PaymentsError;
use df_common::Error;

/// Longest TIN input looked at (`123-45-6789` plus surrounding blanks); anything longer is
/// refused before it is scanned.
const MAX_TIN_INPUT: usize = 32;

/// What a 9-digit TIN is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TinKind {
    /// An individual's number in SSN format: a Social Security number, or an ITIN/ATIN, which
    /// share the `123-45-6789` layout.
    Ssn,
    /// An Employer Identification Number (`12-3456789`).
    Ein,
}

impl TinKind {
    /// Name as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ssn => "ssn",
            Self::Ein => "ein",
        }
    }

    /// Parses [`TinKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "ssn" => Some(Self::Ssn),
            "ein" => Some(Self::Ein),
            _ => None,
        }
    }
}

fn invalid_tin() -> Error {
    Error::from(PaymentsError::InvalidTin)
}

/// The nine digits of a TIN and the kind its dashes show (`None` for bare digits).
fn tin_shape(input: &str) -> Option<([u8; 9], Option<TinKind>)> {
    if input.len() > MAX_TIN_INPUT {
        return None;
    }
    let text = input.trim().as_bytes();
    let kind = match text.len() {
        9 => None,
        10 if text[2] == b'-' => Some(TinKind::Ein),
        11 if text[3] == b'-' && text[6] == b'-' => Some(TinKind::Ssn),
        _ => return None,
    };
    let mut digits = [0_u8; 9];
    let mut count = 0;
    for (i, &byte) in text.iter().enumerate() {
        let dash_here = match kind {
            None => false,
            Some(TinKind::Ein) => i == 2,
            Some(TinKind::Ssn) => i == 3 || i == 6,
        };
        if dash_here {
            continue;
        }
        if !byte.is_ascii_digit() {
            return None;
        }
        digits[count] = byte;
        count += 1;
    }
    (count == 9).then_some((digits, kind))
}

/// Segments that are never issued: SSN area 000 or 666, group 00, serial 0000; EIN prefix 00 or
/// serial 0000000. Catching them here spares a failed IRS TIN match later.
fn never_issued(digits: &[u8; 9], kind: TinKind) -> bool {
    match kind {
        TinKind::Ssn => {
            let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
            area == b"000" || area == b"666" || group == b"00" || serial.iter().all(|&d| d == b'0')
        }
        TinKind::Ein => digits[..2] == *b"00" || digits[2..].iter().all(|&d| d == b'0'),
    }
}

fn to_string(digits: &[u8; 9]) -> String {
    digits.iter().map(|&d| char::from(d)).collect()
}

/// Checks a TIN and returns its nine digits and kind.
///
/// Accepts `123-45-6789` (SSN or ITIN), `12-3456789` (EIN) or nine bare digits, with blanks
/// around. Bare digits cannot show their kind and are taken as [`TinKind::Ssn`], the usual case
/// for an individual creator; a form that asks which kind was meant should call
/// [`normalize_tin_as`] instead.
pub fn normalize_tin(input: &str) -> Result<(String, TinKind), Error> {
    let (digits, kind) = tin_shape(input).ok_or_else(invalid_tin)?;
    let kind = kind.unwrap_or(TinKind::Ssn);
    if never_issued(&digits, kind) {
        return Err(invalid_tin());
    }
    Ok((to_string(&digits), kind))
}

/// Checks a TIN the user said is of `kind`: bare digits or that kind's dashes.
pub fn normalize_tin_as(input: &str, kind: TinKind) -> Result<String, Error> {
    let (digits, shown) = tin_shape(input).ok_or_else(invalid_tin)?;
    if shown.is_some_and(|shown| shown != kind) || never_issued(&digits, kind) {
        return Err(invalid_tin());
    }
    Ok(to_string(&digits))
}

/// A TIN of `kind` shown by its last four digits: `***-**-6789` or `**-***6789`. Anything but
/// four digits as `last4` gives a fully masked number.
pub fn masked_tin(kind: TinKind, last4: &str) -> String {
    let last4 = if last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit()) {
        last4
    } else {
        "****"
    };
    match kind {
        TinKind::Ssn => format!("***-**-{last4}"),
        TinKind::Ein => format!("**-***{last4}"),
    }
}

/// Masks a TIN for display: `123-45-6789` → `***-**-6789`, `12-3456789` → `**-***6789`,
/// bare digits in SSN layout.
///
/// Any other input keeps at most its last four digits and has every other digit replaced, so
/// masking an already masked value changes nothing and a malformed number never shows more
/// than four digits.
pub fn mask_tin(input: &str) -> String {
    if let Some((digits, kind)) = tin_shape(input) {
        let last4: String = digits[5..].iter().map(|&d| char::from(d)).collect();
        return masked_tin(kind.unwrap_or(TinKind::Ssn), &last4);
    }
    mask_digits_keeping_last(input.trim(), 4)
}

fn mask_digits_keeping_last(input: &str, keep: usize) -> String {
    let total = input.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    input
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen + keep <= total { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

/// Masks a bank account number, keeping the last four characters: `000123456789` →
/// `********6789`. Short numbers show at most half their characters, so a 4-digit account is
/// never shown whole.
pub fn mask_account(account: &str) -> String {
    let account = account.trim();
    let len = account.chars().count();
    let visible = (len / 2).min(4);
    account
        .chars()
        .enumerate()
        .map(|(i, c)| if i + visible < len { '*' } else { c })
        .collect()
}

/// Checks a US ABA routing number: nine digits, a Federal Reserve prefix (00–12, 21–32, 61–72,
/// 80) and the checksum `3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)`. Returns the
/// digits without surrounding blanks.
pub fn normalize_routing_number(input: &str) -> Result<String, Error> {
    let invalid = || Error::from(PaymentsError::InvalidRoutingNumber);
    let text = input.trim();
    if text.len() != 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let d: Vec<u32> = text.bytes().map(|b| u32::from(b - b'0')).collect();
    let prefix = d[0] * 10 + d[1];
    if !matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80) {
        return Err(invalid());
    }
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    if !sum.is_multiple_of(10) {
        return Err(invalid());
    }
    Ok(text.to_owned())
}

/// Checks a US bank account number: 4 to 17 digits. Returns the digits without surrounding
/// blanks.
pub fn normalize_account_number(input: &str) -> Result<String, Error> {
    let text = input.trim();
    if !(4..=17).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::from(PaymentsError::InvalidAccountNumber));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    fn nine_digits(n: u32) -> String {
        format!("{:09}", n % 1_000_000_000)
    }

    #[test]
    fn tins_mask_to_their_last_four_digits() {
        assert_eq!(mask_tin("123-45-6789"), "***-**-6789");
        assert_eq!(mask_tin("12-3456789"), "**-***6789");
        assert_eq!(mask_tin(" 123456789 "), "***-**-6789");
        assert_eq!(mask_tin("***-**-6789"), "***-**-6789");
        assert_eq!(mask_tin("**-***6789"), "**-***6789");
        assert_eq!(mask_tin("123 45 6789"), "*** ** 6789");
        assert_eq!(mask_tin(""), "");
        assert_eq!(masked_tin(TinKind::Ein, "6789"), "**-***6789");
        assert_eq!(masked_tin(TinKind::Ssn, "67a9"), "***-**-****");
    }

    #[quickcheck]
    fn a_masked_tin_shows_at_most_four_digits(input: String) -> bool {
        let masked = mask_tin(&input);
        let digits = masked.chars().filter(char::is_ascii_digit).count();
        digits <= 4 && mask_tin(&masked) == masked
    }

    #[quickcheck]
    fn every_layout_of_a_tin_masks_alike(n: u32) -> bool {
        let d = nine_digits(n);
        let ssn = format!("{}-{}-{}", &d[..3], &d[3..5], &d[5..]);
        let ein = format!("{}-{}", &d[..2], &d[2..]);
        mask_tin(&ssn) == format!("***-**-{}", &d[5..])
            && mask_tin(&d) == mask_tin(&ssn)
            && mask_tin(&ein) == format!("**-***{}", &d[5..])
    }

    #[test]
    fn tins_normalize_to_digits_and_kind() {
        assert_eq!(
            normalize_tin("123-45-6789").unwrap(),
            ("123456789".into(), TinKind::Ssn)
        );
        assert_eq!(
            normalize_tin("12-3456789").unwrap(),
            ("123456789".into(), TinKind::Ein)
        );
        assert_eq!(
            normalize_tin(" 123456789\n").unwrap(),
            ("123456789".into(), TinKind::Ssn)
        );
        assert_eq!(
            normalize_tin("912-70-1234").unwrap().1,
            TinKind::Ssn,
            "ITINs share the SSN layout"
        );
        assert_eq!(
            normalize_tin_as("123456789", TinKind::Ein).unwrap(),
            "123456789"
        );
        assert_eq!(
            normalize_tin_as("12-3456789", TinKind::Ein).unwrap(),
            "123456789"
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_clear_code() {
        for bad in [
            "",
            "12345678",
            "1234567890",
            "123-456-789",
            "1234-5-6789",
            "123-45-678a",
            "123.45.6789",
            "123 45 6789",
            "123--456789",
            "-123456789",
            "１２３４５６７８９",
            "000-12-3456",
            "666-12-3456",
            "123-00-4567",
            "123-45-0000",
            "00-1234567",
            "12-0000000",
        ] {
            let error = normalize_tin(bad).unwrap_err();
            assert_eq!(error.code(), PaymentsError::InvalidTin.code(), "{bad}");
            assert!(error.message().contains("123-45-6789"));
        }
        assert!(normalize_tin(&"1".repeat(10_000)).is_err());
        assert!(normalize_tin_as("12-3456789", TinKind::Ssn).is_err());
        assert!(normalize_tin_as("123-45-6789", TinKind::Ein).is_err());
    }

    #[quickcheck]
    fn dashed_and_bare_forms_agree(n: u32) -> TestResult {
        let d = nine_digits(n);
        let Ok((digits, kind)) = normalize_tin(&d) else {
            return TestResult::discard();
        };
        let dashed = format!("{}-{}-{}", &d[..3], &d[3..5], &d[5..]);
        TestResult::from_bool(
            digits == d && kind == TinKind::Ssn && normalize_tin(&dashed).unwrap() == (d, kind),
        )
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [TinKind::Ssn, TinKind::Ein] {
            assert_eq!(TinKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TinKind::parse("SSN"), None);
    }

    #[test]
    fn accounts_mask_to_their_last_four() {
        assert_eq!(mask_account("000123456789"), "********6789");
        assert_eq!(mask_account("12345678"), "****5678");
        assert_eq!(mask_account("123456"), "***456");
        assert_eq!(mask_account("1234"), "**34");
        assert_eq!(mask_account(""), "");
    }

    #[quickcheck]
    fn a_masked_account_shows_at_most_half_and_four(account: String) -> bool {
        let masked = mask_account(&account);
        let len = account.trim().chars().count();
        let shown = masked.chars().filter(|&c| c != '*').count();
        masked.chars().count() == len && shown <= 4 && shown * 2 <= len
    }

    #[test]
    fn routing_numbers_need_the_aba_checksum() {
        for good in [
            "110000000",
            "021000021",
            "011401533",
            "091000019",
            " 121000358 ",
        ] {
            assert_eq!(
                normalize_routing_number(good).unwrap(),
                good.trim(),
                "{good}"
            );
        }
        for bad in [
            "110000001",
            "021000012",
            "12345678",
            "1234567890",
            "11000000a",
            "",
            "500000005",
        ] {
            assert_eq!(
                normalize_routing_number(bad).unwrap_err().code(),
                PaymentsError::InvalidRoutingNumber.code(),
                "{bad}"
            );
        }
    }

    #[quickcheck]
    fn changing_one_digit_breaks_the_checksum(position: usize, delta: u8) -> bool {
        let good = "021000021";
        let position = position % 9;
        let delta = 1 + delta % 9;
        let mut bytes = good.as_bytes().to_vec();
        bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).unwrap();
        normalize_routing_number(&changed).is_err()
    }

    #[test]
    fn account_numbers_have_4_to_17_digits() {
        assert_eq!(
            normalize_account_number(" 000123456789 ").unwrap(),
            "000123456789"
        );
        assert!(normalize_account_number("1234").is_ok());
        assert!(normalize_account_number(&"9".repeat(17)).is_ok());
        for bad in ["123", &"9".repeat(18), "1234-5678", "12 34", "", "abcd"] {
            assert_eq!(
                normalize_account_number(bad).unwrap_err().code(),
                PaymentsError::InvalidAccountNumber.code(),
                "{bad}"
            );
        }
    }
}
