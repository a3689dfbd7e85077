//! Layered configuration: defaults → optional TOML file → `DF_*` environment → secrets directory.
//!
//! - The TOML file is named by `DF_CONFIG_FILE`.
//! - Environment variables start with `DF_`; `__` separates sections:
//!   `DF_DATABASE__URL` sets `database.url`.
//! - The secrets directory (`DF_SECRETS_DIR`) holds one file per secret, named like the variable
//!   without its prefix (`database__url`), as Kubernetes mounts Secrets. Trailing newlines are
//!   trimmed. Later layers win.
//!
//! After loading, [`Validate`] collects every problem, so an operator sees all bad values at once,
//! one clear line each, and never a secret's value.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
    value::Value,
};
use serde::{Deserialize, de::DeserializeOwned};

use crate::secret::Secret;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "DF_";
/// Variable naming the optional TOML file.
pub const CONFIG_FILE_VAR: &str = "DF_CONFIG_FILE";
/// Variable naming the optional secrets directory.
pub const SECRETS_DIR_VAR: &str = "DF_SECRETS_DIR";
/// `DF_*` variables that belong to the scripts and the test kit, not to any service's settings.
const TOOLING_PREFIXES: &[&str] = &["DF_TEST_", "DF_SKIP_", "DF_PREREQ_"];

/// How a whole configuration is read out of the merged sources. Every deserializable struct is
/// read as it is; a service's configuration made of several structs (`df-runtime`'s
/// `ServiceConfig`) reads each from the same sources.
pub trait Extract: Sized {
    /// Reads `Self` from `figment`.
    fn extract(figment: Figment) -> Result<Self, Box<figment::Error>>;
}

impl<T: DeserializeOwned> Extract for T {
    fn extract(figment: Figment) -> Result<Self, Box<figment::Error>> {
        Ok(figment.extract()?)
    }
}

/// A configuration section that can check itself.
pub trait Validate {
    /// Appends one human-readable line per problem, naming the setting (`database.url`).
    fn validate(&self, problems: &mut Vec<String>);
}

/// Every problem found while loading configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where configuration comes from. [`Sources::from_process`] reads the real environment; tests
/// build one by hand.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Optional TOML file.
    pub file: Option<PathBuf>,
    /// `DF_*` variables (others are ignored).
    pub env: Vec<(String, String)>,
    /// Optional directory of secret files.
    pub secrets_dir: Option<PathBuf>,
}

impl Sources {
    /// The process environment, with the file and secrets directory it names.
    pub fn from_process() -> Self {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .filter(|(k, _)| !TOOLING_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| PathBuf::from(v))
        };
        Self {
            file: lookup(CONFIG_FILE_VAR),
            secrets_dir: lookup(SECRETS_DIR_VAR),
            env,
        }
    }
}

/// Loads `T` from the process environment and validates it.
pub fn load<T: Extract + Validate>() -> Result<T, ConfigError> {
    load_from(&Sources::from_process())
}

/// Loads `T` from explicit sources and validates it.
pub fn load_from<T: Extract + Validate>(sources: &Sources) -> Result<T, ConfigError> {
    load_completed(sources, |_| {})
}

/// Loads `T` from the process environment, lets `complete` fill in derived values (a runner that
/// wires services together), then validates it.
pub fn load_then<T: Extract + Validate>(complete: impl FnOnce(&mut T)) -> Result<T, ConfigError> {
    load_completed(&Sources::from_process(), complete)
}

/// [`load_then`] with explicit sources.
pub fn load_completed<T: Extract + Validate>(
    sources: &Sources,
    complete: impl FnOnce(&mut T),
) -> Result<T, ConfigError> {
    let mut problems = Vec::new();
    let file = match &sources.file {
        Some(file) if file.is_file() => Some(file.clone()),
        Some(file) => {
            problems.push(format!(
                "{CONFIG_FILE_VAR}: file {} does not exist",
                file.display()
            ));
            None
        }
        None => None,
    };
    let mut env: Vec<(String, String)> = sources
        .env
        .iter()
        .filter_map(|(name, value)| Some((env_key(name)?, value.clone())))
        .collect();
    if let Some(dir) = &sources.secrets_dir {
        match read_secrets_dir(dir) {
            Ok(secrets) => env.extend(secrets),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    // Text from the environment is read as a number or boolean where it looks like one; when the
    // setting turns out to want text (a password of digits), that key is re-read as text.
    let mut keep_as_text = std::collections::BTreeSet::new();
    let config: T = loop {
        let mut figment = Figment::new();
        if let Some(file) = &file {
            figment = figment.merge(Toml::file(file));
        }
        for (key, value) in &env {
            let value = if keep_as_text.contains(key) {
                Value::from(value.clone())
            } else {
                parse_scalar(value)
            };
            figment = figment.merge(Serialized::default(key, value));
        }
        match T::extract(figment) {
            Ok(config) => break config,
            Err(error) => {
                let error = *error;
                let retry = error
                    .clone()
                    .into_iter()
                    .find_map(|e| text_wanted_at(&e, &env));
                match retry {
                    Some(key) if !keep_as_text.contains(&key) => {
                        keep_as_text.insert(key);
                    }
                    _ => {
                        return Err(ConfigError {
                            problems: error
                                .into_iter()
                                .map(|e| describe_figment_error(&e))
                                .collect(),
                        });
                    }
                }
            }
        }
    };
    let mut config = config;
    complete(&mut config);
    config.validate(&mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError { problems })
    }
}

/// `DF_DATABASE__MAX_CONNECTIONS` → `database.max_connections`; the two meta variables and
/// anything without the prefix are not settings.
fn env_key(name: &str) -> Option<String> {
    if name == CONFIG_FILE_VAR || name == SECRETS_DIR_VAR {
        return None;
    }
    let rest = name.strip_prefix(ENV_PREFIX)?;
    if rest.is_empty() {
        return None;
    }
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// Recognises numbers and booleans in environment text, and lists written as TOML arrays
/// (`DF_CHECKOUT__RETURN_ORIGINS='["https://app.example.com"]'`).
fn parse_scalar(value: &str) -> Value {
    let trimmed = value.trim();
    if trimmed.starts_with('[')
        && trimmed.ends_with(']')
        && let Ok(mut table) = toml::from_str::<toml::Table>(&format!("list = {trimmed}"))
        && let Some(list) = table.remove("list")
        && let Ok(list) = Value::serialize(list)
    {
        return list;
    }
    if let Ok(b) = value.parse::<bool>() {
        return Value::from(b);
    }
    if let Ok(n) = value.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(n) = value.parse::<u64>() {
        return Value::from(n);
    }
    if value.contains('.')
        && let Ok(f) = value.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    Value::from(value.to_owned())
}

/// The environment key whose scalar was refused because the setting wants text.
fn text_wanted_at(error: &figment::Error, env: &[(String, String)]) -> Option<String> {
    let figment::error::Kind::InvalidType(actual, expected) = &error.kind else {
        return None;
    };
    let scalar = matches!(
        actual,
        figment::error::Actual::Bool(_)
            | figment::error::Actual::Unsigned(_)
            | figment::error::Actual::Signed(_)
            | figment::error::Actual::Float(_)
            | figment::error::Actual::Seq
    );
    let path = error.path.join(".");
    (scalar && expected.contains("str") && env.iter().any(|(k, _)| *k == path)).then_some(path)
}

fn read_secrets_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{SECRETS_DIR_VAR}: cannot read {}: {e}", dir.display()))?;
    let mut secrets = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // Kubernetes mounts its bookkeeping as dot-files and `..data` links: skip them.
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        let value = std::fs::read_to_string(&path)
            .map_err(|e| format!("secret file {name}: cannot read: {e}"))?;
        let key = name.to_ascii_lowercase().replace("__", ".");
        secrets.push((key, value.trim_end_matches(['\n', '\r']).to_owned()));
    }
    secrets.sort();
    Ok(secrets)
}

/// Figment's messages name the setting and the expected type but, for secrets, must not echo
/// the offending value; only its path and the kind of mismatch are reported.
fn describe_figment_error(error: &figment::Error) -> String {
    let path = error.path.join(".");
    let what = match &error.kind {
        figment::error::Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", describe_actual(actual))
        }
        figment::error::Kind::InvalidValue(actual, expected) => {
            format!("expected {expected}, found {}", describe_actual(actual))
        }
        figment::error::Kind::UnknownVariant(_, expected) => {
            format!("unknown value; expected one of: {}", expected.join(", "))
        }
        figment::error::Kind::MissingField(field) => format!("missing setting `{field}`"),
        figment::error::Kind::UnknownField(field, _) => format!("unknown setting `{field}`"),
        // Parser messages quote the offending line, which may hold a secret: keep only where.
        figment::error::Kind::Message(message) => {
            let line = message
                .split_whitespace()
                .skip_while(|w| *w != "line")
                .nth(1)
                .map(|n| {
                    format!(
                        " near line {}",
                        n.trim_matches(|c: char| !c.is_ascii_digit())
                    )
                })
                .unwrap_or_default();
            format!("the configuration file is not valid TOML{line}")
        }
        other => other.to_string(),
    };
    if path.is_empty() {
        what
    } else {
        format!("{path}: {what}")
    }
}

fn describe_actual(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "text",
        Actual::Map => "a table",
        Actual::Seq => "a list",
        _ => "another kind of value",
    }
}

/// A duration given in milliseconds.
pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Checks that `value` lies in `range`, naming `setting` otherwise.
pub fn check_range<T: PartialOrd + fmt::Display>(
    problems: &mut Vec<String>,
    setting: &str,
    value: T,
    min: T,
    max: T,
) {
    if value < min || value > max {
        problems.push(format!(
            "{setting}: {value} is out of range ({min}..={max})"
        ));
    }
}

/// Redis connection settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`, or `rediss://` for TLS (managed Redis such as Upstash requires
    /// it); may hold a password.
    pub url: Secret<String>,
    /// PEM bundle of the roots a `rediss://` server's certificate must chain to; the public web
    /// roots when unset.
    pub ca_file: Option<PathBuf>,
    /// Base64 key (at least 32 bytes) of the MAC that authenticates cached values that grant
    /// access (sessions, entitlement answers): a value in the shared Redis without this
    /// service's MAC is a miss. Each service has its own. Unset: a random key per process
    /// (fine for one instance; refused in production mode).
    pub value_key: Secret<String>,
    /// Prefix put before every key (isolates tenants and tests).
    pub key_prefix: String,
    /// Largest number of connections being opened at once. Commands share one multiplexed
    /// connection; the pool opens a new one when it breaks.
    pub pool_size: usize,
    /// Connection timeout.
    pub connect_timeout_ms: u64,
    /// Per-command timeout; a slower Redis counts as down for that request.
    pub command_timeout_ms: u64,
    /// Retries after a failed command (bounded; with jitter).
    pub max_retries: u32,
    /// Base of the exponential retry back-off.
    pub retry_base_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: Secret::from("redis://127.0.0.1:6379/0"),
            ca_file: None,
            value_key: Secret::default(),
            key_prefix: "df:".into(),
            pool_size: 32,
            connect_timeout_ms: 250,
            command_timeout_ms: 100,
            max_retries: 2,
            retry_base_ms: 10,
        }
    }
}

impl Validate for RedisConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        let url = self.url.expose();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            problems.push("redis.url: must start with redis:// or rediss:// (value hidden)".into());
        }
        if !self.value_key.is_empty()
            && let Err(problem) = crate::cache::seal::decode_key(&self.value_key)
        {
            problems.push(problem);
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                problems.push(format!("redis.ca_file: {} does not exist", ca.display()));
            } else if !url.starts_with("rediss://") {
                problems
                    .push("redis.ca_file: set, but redis.url does not use TLS (rediss://)".into());
            }
        }
        check_range(problems, "redis.pool_size", self.pool_size, 1, 1_000);
        check_range(
            problems,
            "redis.connect_timeout_ms",
            self.connect_timeout_ms,
            10,
            60_000,
        );
        check_range(
            problems,
            "redis.command_timeout_ms",
            self.command_timeout_ms,
            5,
            60_000,
        );
        check_range(problems, "redis.max_retries", self.max_retries, 0, 10);
        check_range(
            problems,
            "redis.retry_base_ms",
            self.retry_base_ms,
            1,
            10_000,
        );
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production).
    #[default]
    Json,
    /// Human-readable lines (local development).
    Pretty,
}

/// Logs, traces, metrics and error reporting.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directives (`info,df_identity=debug`).
    pub log_filter: String,
    /// OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`); off when unset.
    pub otlp_endpoint: Option<String>,
    /// Fraction of traces sampled (0.0–1.0).
    pub trace_sample_ratio: f64,
    /// Sentry DSN; off when unset.
    pub sentry_dsn: Option<Secret<String>>,
    /// Deployment environment name reported to Sentry and traces.
    pub environment: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Json,
            log_filter: "info".into(),
            otlp_endpoint: None,
            trace_sample_ratio: 1.0,
            sentry_dsn: None,
            environment: "development".into(),
        }
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if !(0.0..=1.0).contains(&self.trace_sample_ratio) {
            problems.push("telemetry.trace_sample_ratio: must be between 0.0 and 1.0".into());
        }
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push("telemetry.otlp_endpoint: must be an http(s) URL".into());
        }
        if let Some(dsn) = &self.sentry_dsn
            && !dsn.expose().starts_with("https://")
            && !dsn.expose().starts_with("http://")
        {
            problems.push("telemetry.sentry_dsn: must be an http(s) URL (value hidden)".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_filter).is_err() {
            problems.push(format!(
                "telemetry.log_filter: `{}` is not a valid filter",
                self.log_filter
            ));
        }
    }
}

/// Keys of the internal principal tokens (Ed25519).
///
/// The gateway holds the signing key that speaks for users (a secret); every service holds the
/// public keys that verify. A service that calls another for itself (media asking payments)
/// holds a key of its own whose tokens are accepted only as that service (`key_issuers`), so a
/// compromised internal service can never mint a token for a user or for another service.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InternalAuthConfig {
    /// Base64 Ed25519 seed (32 bytes) that signs tokens; set only on the minting service.
    pub signing_key: Option<Secret<String>>,
    /// Id written into tokens signed with `signing_key`.
    pub signing_key_id: String,
    /// Key id → base64 Ed25519 public key (32 bytes). Old keys stay while tokens signed with them
    /// may be alive, so keys rotate without downtime. The signing key's own public key is
    /// always accepted.
    pub verifying_keys: std::collections::BTreeMap<String, String>,
    /// Key id → the one service whose key it is. A token signed with such a key is accepted only
    /// from that service acting for itself; keys not listed are the gateway's.
    pub key_issuers: std::collections::BTreeMap<String, String>,
    /// Lifetime of a minted token.
    pub token_ttl_secs: u64,
}

impl Default for InternalAuthConfig {
    fn default() -> Self {
        Self {
            signing_key: None,
            signing_key_id: "k1".into(),
            verifying_keys: Default::default(),
            key_issuers: Default::default(),
            token_ttl_secs: 60,
        }
    }
}

impl InternalAuthConfig {
    /// Problems when this service must mint tokens (the gateway).
    pub fn require_signing_key(&self, problems: &mut Vec<String>) {
        if self.signing_key.is_none() {
            problems.push(
                "internal_auth.signing_key: required (base64 of a 32-byte Ed25519 seed, from a secret file)"
                    .into(),
            );
        }
    }

    /// Problems when `service` calls others as itself: it needs a key of its own, listed as
    /// `service`'s, so that it can sign for nobody else.
    pub fn require_own_key(&self, service: &str, problems: &mut Vec<String>) {
        if self.signing_key.is_none() {
            problems.push(format!(
                "internal_auth.signing_key: required ({service} calls other services as itself with a key of its own)"
            ));
        }
        if self
            .key_issuers
            .get(&self.signing_key_id)
            .map(String::as_str)
            != Some(service)
        {
            problems.push(format!(
                "internal_auth.key_issuers.{}: must be `{service}` (its own key signs for {service} only)",
                self.signing_key_id
            ));
        }
    }

    /// Problems when this service must verify tokens.
    pub fn require_verifying_key(&self, problems: &mut Vec<String>) {
        if self.signing_key.is_none() && self.verifying_keys.is_empty() {
            problems.push(
                "internal_auth.verifying_keys: at least one public key is required (DF_INTERNAL_AUTH__VERIFYING_KEYS__<ID>)"
                    .into(),
            );
        }
    }
}

fn check_key_bytes(problems: &mut Vec<String>, setting: &str, value: &str, hide: bool) {
    use base64::Engine;
    let hidden = if hide { " (value hidden)" } else { "" };
    match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
        Ok(bytes) if bytes.len() == 32 => {}
        Ok(_) => problems.push(format!(
            "{setting}: must decode to exactly 32 bytes{hidden}"
        )),
        Err(_) => problems.push(format!("{setting}: is not valid base64{hidden}")),
    }
}

impl Validate for InternalAuthConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if let Some(key) = &self.signing_key {
            check_key_bytes(problems, "internal_auth.signing_key", key.expose(), true);
        }
        for (id, key) in &self.verifying_keys {
            check_key_bytes(
                problems,
                &format!("internal_auth.verifying_keys.{id}"),
                key,
                false,
            );
        }
        for (id, issuer) in &self.key_issuers {
            if !self.verifying_keys.contains_key(id) && *id != self.signing_key_id {
                problems.push(format!(
                    "internal_auth.key_issuers.{id}: names no verifying key or the signing key"
                ));
            }
            if issuer.is_empty() || !issuer.bytes().all(|b| b.is_ascii_lowercase()) {
                problems.push(format!(
                    "internal_auth.key_issuers.{id}: `{issuer}` is not a service name"
                ));
            }
        }
        if self.signing_key_id.is_empty() || self.signing_key_id.contains('.') {
            problems
                .push("internal_auth.signing_key_id: must be non-empty and contain no '.'".into());
        }
        check_range(
            problems,
            "internal_auth.token_ttl_secs",
            self.token_ttl_secs,
            5,
            3_600,
        );
    }
}

/// gRPC server settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Deadline applied to every call that does not bring a shorter one.
    pub request_timeout_ms: u64,
    /// Largest message accepted.
    pub max_message_bytes: usize,
    /// Calls served at once per connection.
    pub concurrency_limit: usize,
    /// TLS: when set, the listener serves TLS only (and, with a client CA, mutual TLS).
    pub tls: Option<crate::grpc::tls::ServerTls>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            request_timeout_ms: 10_000,
            max_message_bytes: 4 * 1024 * 1024,
            concurrency_limit: 256,
            tls: None,
        }
    }
}

impl Validate for GrpcServerConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "grpc.request_timeout_ms",
            self.request_timeout_ms,
            10,
            600_000,
        );
        check_range(
            problems,
            "grpc.max_message_bytes",
            self.max_message_bytes,
            1_024,
            64 * 1024 * 1024,
        );
        check_range(
            problems,
            "grpc.concurrency_limit",
            self.concurrency_limit,
            1,
            100_000,
        );
        if let Some(tls) = &self.tls {
            tls.validate(problems);
        }
    }
}

/// The admin HTTP listener: `/healthz`, `/readyz`, `/metrics`. Not exposed publicly.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Listen address.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
        }
    }
}

/// Production mode (`production = true` in every service's configuration): one setting that
/// makes start-up refuse what is convenient on a laptop and dangerous in a cluster. Each
/// service adds its own refusals to these shared ones.
pub mod production {
    use super::{GrpcServerConfig, RedisConfig};

    /// Cached answers that grant access must be sealed with a configured key (a random key
    /// per process would make every replica's cache useless to the others).
    pub fn redis_value_key(config: &RedisConfig, problems: &mut Vec<String>) {
        if config.value_key.is_empty() {
            problems.push(
                "redis.value_key: required in production (base64 of at least 32 random bytes, from a secret file)".into(),
            );
        }
    }

    /// Internal gRPC must be served over TLS.
    pub fn grpc_tls(config: &GrpcServerConfig, problems: &mut Vec<String>) {
        if config.tls.is_none() {
            problems.push(
                "grpc.tls: required in production (certificate and key files; passwords and tax details cross this listener)".into(),
            );
        }
    }

    /// A client of another service must use TLS.
    pub fn client_tls(
        section: &str,
        config: &crate::grpc::ClientConfig,
        problems: &mut Vec<String>,
    ) {
        if config.tls.is_none() {
            problems.push(format!(
                "{section}.tls: required in production (and an https:// url)"
            ));
        }
    }
}
