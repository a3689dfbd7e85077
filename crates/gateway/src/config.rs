//! The gateway's configuration.

use std::net::SocketAddr;

use df_common::{
    config::{
        AdminConfig, InternalAuthConfig, RedisConfig, TelemetryConfig, Validate, check_range,
        production,
    },
    grpc::ClientConfig,
};
use serde::Deserialize;

use crate::security::SecurityConfig;

/// Everything the gateway reads at start-up.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Production mode: start-up refuses settings meant for a laptop (a session cookie without
    /// the `__Host-` prefix, plaintext calls to the services, plain-http browser origins).
    pub production: bool,
    /// Public HTTP listener.
    pub http: HttpConfig,
    /// Admin listener (`/healthz`, `/readyz`, `/metrics`).
    pub admin: AdminConfig,
    /// Rate-limit store.
    pub redis: RedisConfig,
    /// Logs, traces, Sentry.
    pub telemetry: TelemetryConfig,
    /// Keys that sign principal tokens for internal calls.
    pub internal_auth: InternalAuthConfig,
    /// Identity service.
    pub identity: ClientConfig,
    /// Payments service. Not part of readiness: payments being down must not take logins down.
    pub payments: ClientConfig,
    /// Headers, CSRF, CORS, rate limits, body limits.
    pub security: SecurityConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            production: false,
            http: HttpConfig::default(),
            admin: AdminConfig {
                listen: SocketAddr::from((
                    [0, 0, 0, 0],
                    df_common::ports::of(crate::SERVICE).admin,
                )),
            },
            redis: RedisConfig {
                key_prefix: "df:gateway:".into(),
                ..RedisConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            internal_auth: InternalAuthConfig::default(),
            identity: ClientConfig::default(),
            payments: ClientConfig {
                url: "http://127.0.0.1:50052".into(),
                ..ClientConfig::default()
            },
            security: SecurityConfig::default(),
        }
    }
}

impl Validate for GatewayConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        self.http.validate(problems);
        self.redis.validate(problems);
        self.telemetry.validate(problems);
        self.internal_auth.validate(problems);
        self.internal_auth.require_signing_key(problems);
        let mut identity = Vec::new();
        self.identity.validate(&mut identity);
        problems.extend(identity.into_iter().map(|p| format!("identity.{p}")));
        let mut payments = Vec::new();
        self.payments.validate(&mut payments);
        problems.extend(payments.into_iter().map(|p| format!("payments.{p}")));
        self.security.validate(problems);
        if self.production {
            production::client_tls("identity", &self.identity, problems);
            production::client_tls("payments", &self.payments, problems);
            if !self.security.session_cookie_name.starts_with("__Host-") {
                problems.push(format!(
                    "security.session_cookie_name: `{}` lacks the __Host- prefix, which binds the cookie to this host over https (required in production)",
                    self.security.session_cookie_name
                ));
            }
            if self
                .security
                .allowed_origins
                .iter()
                .any(|origin| !origin.trim().to_ascii_lowercase().starts_with("https://"))
            {
                problems.push(
                    "security.allowed_origins: every origin must be https:// in production".into(),
                );
            }
        }
    }
}

/// The public listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Keep-alive of idle client connections.
    pub keep_alive_secs: u64,
    /// Time a client has to send its request head.
    pub client_request_timeout_ms: u64,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], df_common::ports::of(crate::SERVICE).main)),
            workers: 0,
            keep_alive_secs: 30,
            client_request_timeout_ms: 5_000,
            shutdown_timeout_secs: 20,
        }
    }
}

impl Validate for HttpConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(problems, "http.workers", self.workers, 0, 256);
        check_range(
            problems,
            "http.keep_alive_secs",
            self.keep_alive_secs,
            1,
            600,
        );
        check_range(
            problems,
            "http.client_request_timeout_ms",
            self.client_request_timeout_ms,
            100,
            60_000,
        );
        check_range(
            problems,
            "http.shutdown_timeout_secs",
            self.shutdown_timeout_secs,
            1,
            300,
        );
    }
}

impl df_common::lifecycle::Configuration for GatewayConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}
