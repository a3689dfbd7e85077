//! Payments' configuration: the common sections plus its money policies. Every setting is
//! documented in docs/configuration.md.

use std::net::SocketAddr;

use df_common::{
    config::{Validate, check_range},
    secret::Secret,
};
use df_runtime::{ServiceBase, ServiceConfig, ServiceSettings};
use serde::Deserialize;

/// Everything payments reads at start-up: the sections every service reads, and its own.
pub type PaymentsConfig = ServiceConfig<PaymentsSections>;

/// Payments' own sections.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PaymentsSections {
    /// Which payment provider, and its settings.
    pub provider: ProviderConfig,
    /// Provider webhook verification.
    pub webhooks: WebhookConfig,
    /// Fees, holds, payouts, grace periods, disputes.
    pub policy: PolicyConfig,
    /// Tax data encryption, the payer on forms, the filing threshold.
    pub tax: crate::tax::TaxConfig,
    /// Checkout and onboarding.
    pub checkout: CheckoutConfig,
}

impl Validate for PaymentsSections {
    fn validate(&self, problems: &mut Vec<String>) {
        self.provider.validate(problems);
        self.webhooks.validate(problems);
        self.policy.validate(problems);
        self.tax.validate(problems);
        self.checkout.validate(problems);
    }
}

impl ServiceSettings for PaymentsSections {
    const SERVICE: &'static str = crate::SERVICE;

    /// No simulated provider, no Stripe test keys, no plain-http return origins.
    fn production_problems(&self, _base: &ServiceBase, problems: &mut Vec<String>) {
        match self.provider.kind {
            ProviderKind::Simulated => problems.push(
                "provider.kind: simulated completes payments without taking money; production needs stripe".into(),
            ),
            ProviderKind::Stripe => {
                let key = self.provider.stripe.secret_key.expose();
                if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
                    problems.push(
                        "provider.stripe.secret_key: a test-mode key in production (value hidden)".into(),
                    );
                }
            }
        }
        if self
            .checkout
            .return_origins
            .iter()
            .any(|origin| !origin.trim().to_ascii_lowercase().starts_with("https://"))
        {
            problems.push(
                "checkout.return_origins: every origin must be https:// in production".into(),
            );
        }
    }
}

/// Checkout and onboarding settings (section `checkout`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckoutConfig {
    /// Origins of the platform's client apps (`https://app.example.com`): the only places the
    /// provider may send a browser back to. `http://` only for loopback. Required.
    pub return_origins: Vec<String>,
}

impl Validate for CheckoutConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        crate::return_urls::validate_origins(
            "checkout.return_origins",
            &self.return_origins,
            problems,
        );
    }
}

/// Which provider adapter runs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Completes payments locally and sends signed webhook events (the embedded default).
    #[default]
    Simulated,
    /// Stripe Connect.
    Stripe,
}

/// Provider selection and settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// `simulated` or `stripe`.
    pub kind: ProviderKind,
    /// Settings of the simulated provider.
    pub simulated: SimulatedConfig,
    /// Settings of the Stripe adapter.
    pub stripe: crate::provider::stripe::StripeConfig,
}

impl Validate for ProviderConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        // Each adapter's settings are checked only when it is the one configured.
        let mut own = Vec::new();
        match self.kind {
            ProviderKind::Simulated => self.simulated.validate(&mut own),
            ProviderKind::Stripe => self.stripe.validate(&mut own),
        }
        problems.extend(own.into_iter().map(|p| {
            if p.starts_with("provider.") {
                p
            } else {
                format!("provider.{p}")
            }
        }));
    }
}

/// The simulated provider serves its hosted pages on its own listener, as Stripe's are on
/// another host, and delivers webhooks to the gateway like Stripe does.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatedConfig {
    /// Listener of the hosted checkout pages.
    pub listen: SocketAddr,
    /// Base URL fans are sent to (how `listen` is reached from a browser).
    pub public_url: String,
    /// Where webhook events are delivered: the gateway's `/v1/webhooks/stripe`.
    pub webhook_url: String,
    /// Webhook deliveries are retried with back-off for this long, like Stripe's.
    pub delivery_attempts: u32,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            public_url: "http://127.0.0.1:8091".into(),
            webhook_url: "http://127.0.0.1:8080/v1/webhooks/stripe".into(),
            delivery_attempts: 20,
        }
    }
}

impl Validate for SimulatedConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        for (name, url) in [
            ("provider.simulated.public_url", &self.public_url),
            ("provider.simulated.webhook_url", &self.webhook_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!("{name}: must be an http(s) URL"));
            }
        }
        check_range(
            problems,
            "provider.simulated.delivery_attempts",
            self.delivery_attempts,
            1,
            100,
        );
    }
}

/// Webhook signature checking.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// The endpoint's signing secret (`whsec_...`); a secret file in production.
    pub signing_secret: Secret<String>,
    /// The previous secret, accepted too while the endpoint's secret rotates.
    pub previous_signing_secret: Option<Secret<String>>,
    /// Events signed longer ago than this are refused (replay protection).
    pub tolerance_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            signing_secret: Secret::default(),
            previous_signing_secret: None,
            tolerance_secs: 300,
        }
    }
}

impl WebhookConfig {
    /// Every secret a signature may be made with.
    pub fn secrets(&self) -> Vec<Secret<String>> {
        std::iter::once(self.signing_secret.clone())
            .chain(self.previous_signing_secret.clone())
            .collect()
    }
}

impl Validate for WebhookConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if self.signing_secret.is_empty() {
            problems.push(
                "webhooks.signing_secret: required (the endpoint's whsec_… secret, from a secret file)"
                    .into(),
            );
        }
        if self
            .secrets()
            .iter()
            .any(|s| !s.is_empty() && s.expose().len() < 16)
        {
            problems.push(
                "webhooks.signing_secret: must be at least 16 characters (value hidden)".into(),
            );
        }
        check_range(
            problems,
            "webhooks.tolerance_secs",
            self.tolerance_secs,
            30,
            3_600,
        );
    }
}

/// Money policies.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Platform fee in basis points of the gross (2000 = 20 %).
    pub platform_fee_bps: u32,
    /// Earnings stay pending this long before they can be paid out.
    pub hold_days: u32,
    /// Smallest balance paid out, in minor units of the account currency.
    pub payout_minimum_minor: i64,
    /// Payouts run this often.
    pub payout_interval_hours: u32,
    /// Failed payouts are retried this many times with back-off, then surfaced to admins.
    pub payout_max_attempts: u32,
    /// First retry delay; doubles with each attempt.
    pub payout_retry_base_minutes: u32,
    /// A past-due subscription keeps access this long unless payment succeeds.
    pub grace_days: u32,
    /// Disputes per fan that raise a flag.
    pub dispute_flag_threshold: u32,
    /// Evidence is submitted this long before the provider's due date at the latest.
    pub evidence_lead_hours: u32,
    /// How long an entitlement answer is cached (invalidated earlier by changes).
    pub entitlement_cache_secs: u32,
    /// How often background jobs (scheduled payouts, dispute evidence) look for work.
    pub job_interval_secs: u32,
    /// How long the access record for dispute evidence (content deliveries) is kept. Card
    /// networks accept disputes up to about 120 days after a charge, and evidence covers the
    /// use before that.
    pub access_log_retention_days: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            platform_fee_bps: 2_000,
            hold_days: 7,
            payout_minimum_minor: 2_000,
            payout_interval_hours: 7 * 24,
            payout_max_attempts: 5,
            payout_retry_base_minutes: 30,
            grace_days: 3,
            dispute_flag_threshold: 2,
            evidence_lead_hours: 48,
            entitlement_cache_secs: 60,
            job_interval_secs: 60,
            access_log_retention_days: 180,
        }
    }
}

impl Validate for PolicyConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "policy.platform_fee_bps",
            self.platform_fee_bps,
            0,
            10_000,
        );
        check_range(problems, "policy.hold_days", self.hold_days, 0, 90);
        check_range(
            problems,
            "policy.payout_minimum_minor",
            self.payout_minimum_minor,
            1,
            100_000_000,
        );
        check_range(
            problems,
            "policy.payout_interval_hours",
            self.payout_interval_hours,
            1,
            31 * 24,
        );
        check_range(
            problems,
            "policy.payout_max_attempts",
            self.payout_max_attempts,
            1,
            20,
        );
        check_range(
            problems,
            "policy.payout_retry_base_minutes",
            self.payout_retry_base_minutes,
            1,
            24 * 60,
        );
        check_range(problems, "policy.grace_days", self.grace_days, 0, 30);
        check_range(
            problems,
            "policy.dispute_flag_threshold",
            self.dispute_flag_threshold,
            1,
            100,
        );
        check_range(
            problems,
            "policy.evidence_lead_hours",
            self.evidence_lead_hours,
            1,
            24 * 14,
        );
        check_range(
            problems,
            "policy.job_interval_secs",
            self.job_interval_secs,
            1,
            3_600,
        );
        check_range(
            problems,
            "policy.entitlement_cache_secs",
            self.entitlement_cache_secs,
            1,
            3_600,
        );
        check_range(
            problems,
            "policy.access_log_retention_days",
            self.access_log_retention_days,
            30,
            3 * 365,
        );
    }
}

#[cfg(test)]
mod tests {
    use df_common::grpc::tls::ServerTls;

    use super::*;

    fn problems_of(config: &PaymentsConfig) -> Vec<String> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems
    }

    /// A configuration that is complete for production but for the settings under test.
    fn production_ready() -> PaymentsConfig {
        let mut config = PaymentsConfig::default();
        config.base.production = true;
        config.base.database.tls = df_runtime::config::TlsMode::VerifyFull;
        config.base.redis.value_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into();
        // Existing files: validation checks that the certificate files are there.
        let file = std::env::current_exe().unwrap_or_default();
        config.base.grpc.tls = Some(ServerTls {
            cert_file: file.clone(),
            key_file: file,
            client_ca_file: None,
        });
        config.base.internal_auth.verifying_keys = [(
            "k1".to_owned(),
            "wOxACiH2N+NTFXmb69fYWoLqApulnIB7qhCIIiYZzHM=".to_owned(),
        )]
        .into_iter()
        .collect();
        config.own.provider.kind = ProviderKind::Stripe;
        config.own.provider.stripe.secret_key = "sk_live_0123456789abcdef".into();
        config.own.webhooks.signing_secret = "whsec_0123456789abcdef".into();
        config.own.tax = crate::tax::TaxConfig::ephemeral();
        config.own.tax.payer_name = "DirectFanz, Inc.".into();
        config.own.checkout.return_origins = vec!["https://app.directfanz.example".into()];
        config
    }

    #[test]
    fn production_mode_refuses_what_is_meant_for_a_laptop() {
        assert_eq!(problems_of(&production_ready()), Vec::<String>::new());

        let mut laptop = production_ready();
        laptop.base.database.tls = df_runtime::config::TlsMode::Disable;
        laptop.base.redis.value_key = Default::default();
        laptop.base.grpc.tls = None;
        laptop.own.provider.kind = ProviderKind::Simulated;
        laptop.own.checkout.return_origins = vec!["http://127.0.0.1:8080".into()];
        let problems = problems_of(&laptop);
        for setting in [
            "database.tls",
            "redis.value_key",
            "grpc.tls",
            "provider.kind",
            "checkout.return_origins",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(setting)),
                "{setting} not refused: {problems:?}"
            );
        }

        let mut test_key = production_ready();
        test_key.own.provider.stripe.secret_key = "sk_test_0123456789abcdef".into();
        let problems = problems_of(&test_key);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("provider.stripe.secret_key: a test-mode key"));
        assert!(
            !problems[0].contains("sk_test_0123"),
            "the key is never shown"
        );

        // The same laptop settings are fine outside production mode.
        laptop.base.production = false;
        assert_eq!(problems_of(&laptop), Vec::<String>::new());
    }
}
