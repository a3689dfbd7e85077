//! The `tax` section of the payments configuration: the keys that encrypt taxpayer data, who the
//! platform is on the forms it issues, and the filing threshold.

use df_common::config::{Validate, check_range};
use serde::Deserialize;

use df_common::keyring::EncryptionConfig;

use super::{mask::mask_tin, reports::Payer};

/// Where [`TaxConfig`] sits in the payments configuration; problems are reported under it.
pub const SECTION: &str = "tax";
/// Longest payer name accepted, the same bound as a creator's legal name.
pub const MAX_PAYER_NAME_CHARS: usize = 200;
/// The Form 1099-NEC filing threshold from tax year 2026 on: USD 2,000.00.
pub const DEFAULT_NEC_THRESHOLD_MINOR: i64 = 200_000;

/// Tax settings.
///
/// | Variable | Meaning |
/// |---|---|
/// | `DF_TAX__ENCRYPTION__ACTIVE_KEY_ID` | id of the key that encrypts new values |
/// | `DF_TAX__ENCRYPTION__KEYS__<ID>` | a key: base64 of 32 random bytes (from a secret file) |
/// | `DF_TAX__PAYER_NAME` | the platform's legal name, printed as the payer |
/// | `DF_TAX__PAYER_TIN_MASKED` | the platform's EIN masked to its last four digits (`**-***6789`) |
/// | `DF_TAX__NEC_THRESHOLD_MINOR` | box 1 amount (USD cents) from which a form must be filed |
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaxConfig {
    /// Keys that encrypt TINs and bank details at rest.
    pub encryption: EncryptionConfig,
    /// The platform's legal name, printed as the payer.
    pub payer_name: String,
    /// The platform's EIN, masked. Only the masked form is ever configured: the forms this
    /// service produces never show more.
    pub payer_tin_masked: String,
    /// Box 1 amount, in USD cents, from which a form must be filed.
    pub nec_threshold_minor: i64,
}

impl Default for TaxConfig {
    fn default() -> Self {
        Self {
            encryption: EncryptionConfig::default(),
            payer_name: String::new(),
            payer_tin_masked: String::new(),
            nec_threshold_minor: DEFAULT_NEC_THRESHOLD_MINOR,
        }
    }
}

impl TaxConfig {
    /// Settings for local development and tests: a fresh random key under id `local` and a
    /// placeholder payer. Values sealed with the key cannot be opened after a restart.
    pub fn ephemeral() -> Self {
        Self {
            encryption: EncryptionConfig::ephemeral(),
            payer_name: "DirectFanz (development)".into(),
            payer_tin_masked: "**-***0000".into(),
            nec_threshold_minor: DEFAULT_NEC_THRESHOLD_MINOR,
        }
    }

    /// The payer printed on every form.
    pub fn payer(&self) -> Payer {
        Payer {
            name: self.payer_name.trim().to_owned(),
            tin_masked: self.payer_tin_masked.trim().to_owned(),
        }
    }
}

impl Validate for TaxConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        self.encryption
            .validate_at(&format!("{SECTION}.encryption"), problems);
        let name = self.payer_name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_PAYER_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            problems.push(format!(
                "{SECTION}.payer_name: required, 1 to {MAX_PAYER_NAME_CHARS} characters on one line (the platform's legal name)"
            ));
        }
        let tin = self.payer_tin_masked.trim();
        // Masking is idempotent, so a value that masking changes shows more than four digits.
        if tin.is_empty() || mask_tin(tin) != tin || !tin.contains('*') {
            problems.push(format!(
                "{SECTION}.payer_tin_masked: must be the platform's EIN masked to its last four digits, like **-***6789 (value hidden)"
            ));
        }
        check_range(
            problems,
            &format!("{SECTION}.nec_threshold_minor"),
            self.nec_threshold_minor,
            0,
            i64::MAX,
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use base64::Engine;
    use df_common::Secret;

    use super::*;

    fn valid() -> TaxConfig {
        TaxConfig {
            encryption: EncryptionConfig {
                active_key_id: "k1".into(),
                keys: [(
                    "k1".to_owned(),
                    Secret::new(base64::engine::general_purpose::STANDARD.encode([3_u8; 32])),
                )]
                .into_iter()
                .collect(),
            },
            payer_name: "DirectFanz, Inc.".into(),
            payer_tin_masked: "**-***4321".into(),
            nec_threshold_minor: DEFAULT_NEC_THRESHOLD_MINOR,
        }
    }

    fn problems(config: &TaxConfig) -> Vec<String> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems
    }

    #[test]
    fn a_complete_configuration_passes() {
        assert_eq!(problems(&valid()), Vec::<String>::new());
        let payer = valid().payer();
        assert_eq!(payer.name, "DirectFanz, Inc.");
        assert_eq!(payer.tin_masked, "**-***4321");
    }

    #[test]
    fn the_default_names_every_missing_setting() {
        let all = problems(&TaxConfig::default()).join("\n");
        assert!(
            all.contains("tax.encryption.keys: at least one key"),
            "{all}"
        );
        assert!(
            all.contains("tax.encryption.active_key_id: required"),
            "{all}"
        );
        assert!(all.contains("tax.payer_name: required"), "{all}");
        assert!(all.contains("tax.payer_tin_masked:"), "{all}");
        assert_eq!(TaxConfig::default().nec_threshold_minor, 200_000);
    }

    #[test]
    fn a_full_payer_tin_is_refused_without_being_echoed() {
        for tin in ["12-3456789", "123456789", "4321", "**-**54321"] {
            let mut config = valid();
            config.payer_tin_masked = tin.into();
            let all = problems(&config).join("\n");
            assert!(
                all.contains("tax.payer_tin_masked: must be"),
                "{tin}: {all}"
            );
            assert!(!all.contains(tin), "{all}");
        }
    }

    #[test]
    fn bad_names_and_thresholds_are_reported() {
        let mut config = valid();
        config.payer_name = "DirectFanz\nInc.".into();
        config.nec_threshold_minor = -1;
        let all = problems(&config).join("\n");
        assert!(all.contains("tax.payer_name:"), "{all}");
        assert!(
            all.contains("tax.nec_threshold_minor: -1 is out of range"),
            "{all}"
        );
        config.payer_name = "N".repeat(MAX_PAYER_NAME_CHARS + 1);
        assert!(problems(&config).join("\n").contains("tax.payer_name:"));
    }

    #[test]
    fn the_section_loads_through_the_configuration_loader() {
        let key = base64::engine::general_purpose::STANDARD.encode([9_u8; 32]);
        let sources = df_common::config::Sources {
            env: vec![
                ("DF_ENCRYPTION__ACTIVE_KEY_ID".into(), "k2026".into()),
                ("DF_ENCRYPTION__KEYS__K2026".into(), key),
                ("DF_PAYER_NAME".into(), "DirectFanz, Inc.".into()),
                ("DF_PAYER_TIN_MASKED".into(), "**-***4321".into()),
                ("DF_NEC_THRESHOLD_MINOR".into(), "60000".into()),
            ],
            ..Default::default()
        };
        let config: TaxConfig = df_common::config::load_from(&sources).unwrap();
        assert_eq!(problems(&config), Vec::<String>::new());
        assert_eq!(config.nec_threshold_minor, 60_000);
        assert_eq!(config.encryption.active_key_id, "k2026");
    }
}
