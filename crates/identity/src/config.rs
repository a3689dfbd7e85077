//! Identity's configuration: the sections every service reads plus its own. Every setting is
//! documented in docs/configuration.md.

use df_common::config::{Validate, check_range};
use df_runtime::{ServiceBase, ServiceConfig, ServiceSettings};
use serde::Deserialize;

use crate::{mail::MailConfig, password::breached::BreachedCheckConfig};

/// Everything identity reads at start-up: the sections every service reads, and its own.
pub type IdentityConfig = ServiceConfig<IdentitySections>;

/// Identity's own sections.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdentitySections {
    /// Email delivery.
    pub mail: MailConfig,
    /// Optional k-anonymity breached-password check.
    pub breached_passwords: BreachedCheckConfig,
    /// Identity's own policies.
    pub identity: IdentitySettings,
}

impl Validate for IdentitySections {
    fn validate(&self, problems: &mut Vec<String>) {
        self.mail.validate(problems);
        self.breached_passwords.validate(problems);
        self.identity.validate(problems);
    }
}

impl ServiceSettings for IdentitySections {
    const SERVICE: &'static str = crate::SERVICE;

    /// Mail must be delivered, and its links must be https (they carry one-time tokens).
    fn production_problems(&self, _base: &ServiceBase, problems: &mut Vec<String>) {
        if self.mail.adapter == crate::mail::MailAdapter::File {
            problems.push(
                "mail.adapter: file writes email to a local directory; production needs a delivering adapter (sendgrid)".into(),
            );
        }
        if !self.identity.public_app_url.starts_with("https://") {
            problems.push(
                "identity.public_app_url: must be https:// in production (email links carry one-time tokens)".into(),
            );
        }
    }
}

/// Identity's own policies.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentitySettings {
    /// Base URL of the client app; email links point at `<url>/verify-email?token=…` etc.
    pub public_app_url: String,
    /// Lifetime of an email verification link.
    pub verification_ttl_hours: u32,
    /// Lifetime of a password reset link.
    pub password_reset_ttl_minutes: u32,
    /// Lifetime of a login unlock link.
    pub unlock_ttl_hours: u32,
    /// Session lifetimes per role.
    pub sessions: SessionPolicy,
    /// Login throttling and lockout.
    pub login: LoginThrottleConfig,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            public_app_url: "http://127.0.0.1:8080".into(),
            verification_ttl_hours: 24,
            password_reset_ttl_minutes: 30,
            unlock_ttl_hours: 24,
            sessions: SessionPolicy::default(),
            login: LoginThrottleConfig::default(),
        }
    }
}

impl Validate for IdentitySettings {
    fn validate(&self, problems: &mut Vec<String>) {
        if !(self.public_app_url.starts_with("http://")
            || self.public_app_url.starts_with("https://"))
        {
            problems.push("identity.public_app_url: must be an http(s) URL".into());
        }
        check_range(
            problems,
            "identity.verification_ttl_hours",
            self.verification_ttl_hours,
            1,
            168,
        );
        check_range(
            problems,
            "identity.password_reset_ttl_minutes",
            self.password_reset_ttl_minutes,
            5,
            30,
        );
        check_range(
            problems,
            "identity.unlock_ttl_hours",
            self.unlock_ttl_hours,
            1,
            168,
        );
        self.sessions.validate(problems);
        self.login.validate(problems);
    }
}

/// Idle and absolute session timeouts; staff (moderators, admins) get shorter ones.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    /// Fans and creators: a session unused this long ends.
    pub member_idle_minutes: u32,
    /// Fans and creators: a session ends this long after login, used or not.
    pub member_absolute_hours: u32,
    /// Staff idle timeout.
    pub staff_idle_minutes: u32,
    /// Staff absolute timeout.
    pub staff_absolute_hours: u32,
    /// How long identity caches a validated session in Redis.
    pub cache_ttl_secs: u32,
    /// How long the gateway may reuse a validation answer. Bounds how late a revocation takes
    /// effect, so it is capped at one second.
    pub edge_cache_ttl_ms: u32,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            member_idle_minutes: 7 * 24 * 60,
            member_absolute_hours: 30 * 24,
            staff_idle_minutes: 30,
            staff_absolute_hours: 12,
            cache_ttl_secs: 30,
            edge_cache_ttl_ms: 500,
        }
    }
}

impl Validate for SessionPolicy {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "identity.sessions.member_idle_minutes",
            self.member_idle_minutes,
            5,
            90 * 24 * 60,
        );
        check_range(
            problems,
            "identity.sessions.member_absolute_hours",
            self.member_absolute_hours,
            1,
            365 * 24,
        );
        check_range(
            problems,
            "identity.sessions.staff_idle_minutes",
            self.staff_idle_minutes,
            1,
            24 * 60,
        );
        check_range(
            problems,
            "identity.sessions.staff_absolute_hours",
            self.staff_absolute_hours,
            1,
            72,
        );
        check_range(
            problems,
            "identity.sessions.cache_ttl_secs",
            self.cache_ttl_secs,
            1,
            300,
        );
        check_range(
            problems,
            "identity.sessions.edge_cache_ttl_ms",
            self.edge_cache_ttl_ms,
            0,
            1_000,
        );
        if self.staff_idle_minutes > self.member_idle_minutes {
            problems.push(
                "identity.sessions.staff_idle_minutes: must not exceed member_idle_minutes".into(),
            );
        }
        if self.staff_absolute_hours > self.member_absolute_hours {
            problems.push(
                "identity.sessions.staff_absolute_hours: must not exceed member_absolute_hours"
                    .into(),
            );
        }
    }
}

/// Brute-force protection; on by default.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginThrottleConfig {
    /// Failures allowed before delays start.
    pub free_attempts: u32,
    /// First delay after the free attempts; doubles with each further failure.
    pub base_delay_ms: u64,
    /// Largest delay.
    pub max_delay_ms: u64,
    /// Consecutive failures that lock the login until unlocked by email, reset or an admin.
    pub lock_after: u32,
    /// Passwords evaluated per login identifier per hour, whatever else happens.
    pub max_evaluations_per_hour: u32,
    /// Failed logins per client IP per hour (counted in Redis; skipped while Redis is down).
    pub ip_failures_per_hour: u32,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_delay_ms: 1_000,
            max_delay_ms: 15 * 60 * 1_000,
            lock_after: 20,
            max_evaluations_per_hour: 100,
            ip_failures_per_hour: 100,
        }
    }
}

impl Validate for LoginThrottleConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "identity.login.free_attempts",
            self.free_attempts,
            1,
            20,
        );
        check_range(
            problems,
            "identity.login.base_delay_ms",
            self.base_delay_ms,
            0,
            60_000,
        );
        check_range(
            problems,
            "identity.login.max_delay_ms",
            self.max_delay_ms,
            self.base_delay_ms,
            86_400_000,
        );
        check_range(
            problems,
            "identity.login.lock_after",
            self.lock_after,
            self.free_attempts,
            100,
        );
        check_range(
            problems,
            "identity.login.max_evaluations_per_hour",
            self.max_evaluations_per_hour,
            1,
            100,
        );
        check_range(
            problems,
            "identity.login.ip_failures_per_hour",
            self.ip_failures_per_hour,
            1,
            100_000,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_mode_refuses_what_is_meant_for_a_laptop() {
        let mut config = IdentityConfig::default();
        config.base.production = true;
        config.base.internal_auth.verifying_keys = [(
            "k1".to_owned(),
            "wOxACiH2N+NTFXmb69fYWoLqApulnIB7qhCIIiYZzHM=".to_owned(),
        )]
        .into_iter()
        .collect();
        config.own.mail.encryption = df_common::keyring::EncryptionConfig::ephemeral();
        let mut problems = Vec::new();
        config.validate(&mut problems);
        for setting in [
            "database.tls",
            "redis.value_key",
            "grpc.tls",
            "mail.adapter",
            "identity.public_app_url",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(setting)),
                "{setting} not refused: {problems:?}"
            );
        }
        config.base.production = false;
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert_eq!(problems, Vec::<String>::new());
    }
}
