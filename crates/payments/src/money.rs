//! Money arithmetic: amounts are integers in minor units with a currency, never floats. Splits are
//! computed so that the parts always add up to the whole.

use crate::errors::PaymentsError;
use df_common::Error;

/// Largest amount accepted for one payment (999,999.99 in a two-decimal currency).
pub const MAX_AMOUNT_MINOR: i64 = 99_999_999;

/// Currencies the platform sells in (all with two decimals).
pub const SUPPORTED_CURRENCIES: &[&str] = &["usd", "eur", "gbp", "cad", "aud"];

/// Checks and normalizes an ISO 4217 code to lower case.
pub fn currency(code: &str) -> Result<String, Error> {
    let code = code.trim().to_ascii_lowercase();
    if SUPPORTED_CURRENCIES.contains(&code.as_str()) {
        Ok(code)
    } else {
        Err(Error::from(PaymentsError::UnsupportedCurrency))
    }
}

/// Checks a price or tip amount.
pub fn amount(minor: i64, minimum: i64) -> Result<i64, Error> {
    if minor < minimum || minor > MAX_AMOUNT_MINOR {
        return Err(PaymentsError::InvalidAmount.with_message(format!(
            "The amount must be between {minimum} and {MAX_AMOUNT_MINOR} minor units (cents)."
        )));
    }
    Ok(minor)
}

/// `part` basis points of `whole`, rounded half up, computed without overflow.
pub fn basis_points(whole: i64, bps: u32) -> i64 {
    let product = i128::from(whole) * i128::from(bps);
    let rounded = (product + 5_000).div_euclid(10_000);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// How a gross payment divides between the platform and the creator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeSplit {
    /// What the fan paid.
    pub gross: i64,
    /// The platform's fee.
    pub platform_fee: i64,
    /// The creator's share: `gross - platform_fee`.
    pub creator_net: i64,
}

impl FeeSplit {
    /// Splits `gross` (≥ 0) with a platform fee of `fee_bps` basis points (≤ 10,000).
    pub fn of(gross: i64, fee_bps: u32) -> Self {
        let gross = gross.max(0);
        let platform_fee = basis_points(gross, fee_bps.min(10_000)).clamp(0, gross);
        Self {
            gross,
            platform_fee,
            creator_net: gross - platform_fee,
        }
    }

    /// The part of this split that a refund of `refund` (≤ gross) reverses, proportionally, such
    /// that all refunds of a payment together reverse exactly the original split.
    ///
    /// `already_refunded` is what earlier refunds reversed; computing from cumulative totals
    /// keeps rounding from drifting over many partial refunds.
    pub fn reversal(&self, already_refunded: i64, refund: i64) -> FeeSplit {
        let before = self.fee_share(already_refunded);
        let after = self.fee_share(already_refunded + refund);
        let platform_fee = after - before;
        FeeSplit {
            gross: refund,
            platform_fee,
            creator_net: refund - platform_fee,
        }
    }

    /// The platform fee attributable to the first `refunded` units of the gross.
    fn fee_share(&self, refunded: i64) -> i64 {
        if self.gross == 0 {
            return 0;
        }
        let refunded = refunded.clamp(0, self.gross);
        let share = i128::from(self.platform_fee) * i128::from(refunded) / i128::from(self.gross);
        i64::try_from(share).unwrap_or(0)
    }
}

/// The simulated processor's published fee schedule: 2.9 % + 30 minor units, never more than
/// the amount. (Stripe's own fee comes from the charge's balance transaction.)
pub fn simulated_processor_fee(amount: i64) -> i64 {
    (basis_points(amount, 290) + 30).min(amount.max(0))
}

#[cfg(test)]
mod tests {
    use quickcheck_macros::quickcheck;

    use super::*;

    #[test]
    fn twenty_percent_of_ten_dollars() {
        assert_eq!(
            FeeSplit::of(1_000, 2_000),
            FeeSplit {
                gross: 1_000,
                platform_fee: 200,
                creator_net: 800
            }
        );
        // Half a cent rounds up.
        assert_eq!(FeeSplit::of(1_003, 2_000).platform_fee, 201);
    }

    #[quickcheck]
    fn split_parts_sum_to_the_gross_and_fee_never_exceeds_it(gross: u32, bps: u16) -> bool {
        let split = FeeSplit::of(i64::from(gross), u32::from(bps));
        split.platform_fee + split.creator_net == split.gross
            && split.platform_fee <= split.gross
            && split.platform_fee >= 0
            && split.creator_net >= 0
    }

    #[quickcheck]
    fn refunds_reverse_exactly_the_original_split(gross: u32, bps: u16, cuts: Vec<u16>) -> bool {
        let gross = i64::from(gross % 10_000_000) + 1;
        let split = FeeSplit::of(gross, u32::from(bps) % 10_001);
        let mut refunded = 0;
        let (mut fee_back, mut net_back) = (0, 0);
        for cut in cuts {
            let refund = (i64::from(cut) % 1_000 + 1).min(gross - refunded);
            if refund == 0 {
                break;
            }
            let part = split.reversal(refunded, refund);
            if part.platform_fee + part.creator_net != refund
                || part.platform_fee < 0
                || part.creator_net < 0
            {
                return false;
            }
            fee_back += part.platform_fee;
            net_back += part.creator_net;
            refunded += refund;
        }
        // Refunding the rest reverses the whole split to the cent.
        let rest = split.reversal(refunded, gross - refunded);
        fee_back + rest.platform_fee == split.platform_fee
            && net_back + rest.creator_net == split.creator_net
    }

    #[quickcheck]
    fn simulated_fee_never_exceeds_the_amount(amount: u32) -> bool {
        let amount = i64::from(amount);
        let fee = simulated_processor_fee(amount);
        (0..=amount).contains(&fee)
    }

    #[test]
    fn currencies_are_checked() {
        assert_eq!(currency(" USD ").unwrap(), "usd");
        assert_eq!(
            currency("xyz").unwrap_err().code(),
            PaymentsError::UnsupportedCurrency.code()
        );
        assert!(amount(0, 1).is_err());
        assert!(amount(MAX_AMOUNT_MINOR + 1, 1).is_err());
    }
}
