//! The gateway's configuration.

use std::{collections::BTreeMap, net::SocketAddr};

use df_common::{
    Error,
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
    /// The services the gateway calls, by name (`upstreams.payments.url`, ...); what an entry
    /// leaves out keeps its default: the service's port on this machine, and readiness gated
    /// by identity only (payments being down must not take logins down).
    pub upstreams: BTreeMap<String, ClientConfig>,
    /// Headers, CSRF, CORS, rate limits, body limits.
    pub security: SecurityConfig,
    /// Media's filesystem store, where this gateway can read it.
    pub media_store: MediaStoreConfig,
}

/// Media's filesystem store as this gateway sees it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaStoreConfig {
    /// The directory of media's filesystem store (`storage.root` of media), mounted here
    /// read-only: files behind signed URLs are read from it by the gateway instead of streamed
    /// through media. Unset (the default, and always with S3): media streams them.
    pub root: Option<std::path::PathBuf>,
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
            upstreams: BTreeMap::new(),
            security: SecurityConfig::default(),
            media_store: MediaStoreConfig::default(),
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
        let known: Vec<&str> = UPSTREAMS.iter().map(|(known, _)| *known).collect();
        for name in self
            .upstreams
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
        {
            problems.push(format!(
                "upstreams.{name}: the gateway calls no such service (it calls {})",
                known.join(", ")
            ));
        }
        for name in &known {
            let Ok(upstream) = self.upstream(name) else {
                continue;
            };
            let mut found = Vec::new();
            upstream.validate(&mut found);
            problems.extend(found.into_iter().map(|p| format!("upstreams.{name}.{p}")));
            // An upstream a deployment does not configure (media, before the chart deploys
            // it) is never reached: its routes answer 503. Every other one needs TLS.
            let deployed =
                self.upstreams.contains_key(*name) || upstream.gates_readiness == Some(true);
            if self.production && deployed {
                production::client_tls(&format!("upstreams.{name}"), &upstream, problems);
            }
        }
        self.security.validate(problems);
        if self.production {
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

/// The services the gateway calls, and whether each gates its readiness.
pub const UPSTREAMS: &[(&str, bool)] = &[("identity", true), ("payments", false), ("media", false)];

impl GatewayConfig {
    /// The settings of upstream `name` (one of [`UPSTREAMS`]), its defaults filled in.
    pub fn upstream(&self, name: &str) -> Result<ClientConfig, Error> {
        let &(_, gates_by_default) = UPSTREAMS
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("no upstream `{name}`")))?;
        let mut upstream = self.upstreams.get(name).cloned().unwrap_or_default();
        if upstream.url.is_empty() {
            upstream.url = format!("http://127.0.0.1:{}", df_common::ports::of(name).main);
        }
        upstream.gates_readiness = Some(upstream.gates_readiness.unwrap_or(gates_by_default));
        Ok(upstream)
    }

    /// The settings of upstream `name`, to change (tests, the dev runner).
    pub fn upstream_mut(&mut self, name: &str) -> &mut ClientConfig {
        self.upstreams.entry(name.to_owned()).or_default()
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

#[cfg(test)]
mod tests {
    use df_common::config::{Sources, load_from};

    use super::*;

    /// The keys the gateway requires (any 32 bytes, base64).
    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn load(pairs: &[(&str, &str)]) -> Result<GatewayConfig, df_common::config::ConfigError> {
        let mut env = vec![
            ("DF_INTERNAL_AUTH__SIGNING_KEY", KEY),
            ("DF_SECURITY__CSRF_KEY", KEY),
        ];
        env.extend_from_slice(pairs);
        load_from(&Sources {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Sources::default()
        })
    }

    #[test]
    fn an_upstream_names_only_what_it_changes_and_keeps_its_defaults() {
        let config = load(&[
            (
                "DF_UPSTREAMS__PAYMENTS__URL",
                "http://payments.internal:50052",
            ),
            ("DF_UPSTREAMS__PAYMENTS__GATES_READINESS", "true"),
        ])
        .unwrap();
        let payments = config.upstream("payments").unwrap();
        assert_eq!(payments.url, "http://payments.internal:50052");
        assert_eq!(payments.gates_readiness, Some(true));
        assert_eq!(payments.request_timeout_ms, 5_000);
        let identity = config.upstream("identity").unwrap();
        assert_eq!(identity.url, "http://127.0.0.1:50051");
        assert_eq!(
            identity.gates_readiness,
            Some(true),
            "identity gates by default"
        );
        let defaults = load(&[]).unwrap();
        assert_eq!(
            defaults.upstream("payments").unwrap().url,
            "http://127.0.0.1:50052"
        );
        assert_eq!(
            defaults.upstream("payments").unwrap().gates_readiness,
            Some(false)
        );
    }

    #[test]
    fn an_unknown_or_broken_upstream_is_refused_by_name() {
        let problems = load(&[
            ("DF_UPSTREAMS__MODERATION__URL", "http://moderation:50054"),
            ("DF_UPSTREAMS__IDENTITY__URL", "not a url"),
        ])
        .unwrap_err()
        .problems;
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("upstreams.moderation: the gateway calls no such service")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("upstreams.identity.url:")),
            "{problems:?}"
        );
    }
}
