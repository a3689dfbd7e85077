//! A gRPC service's whole configuration: the sections every service reads ([`ServiceBase`]:
//! production mode, gRPC, admin, database, Redis, bus, telemetry, internal auth) beside the
//! service's own sections, all at the top level of one file and one `DF_*` namespace.
//!
//! Both halves are read from the same merged sources (each its own extraction, so every error
//! still names the setting's full path); a top-level key that neither half knows is refused, as
//! every section refuses keys it does not know. Defaults that differ per service (listener
//! ports, database name, Redis prefix) come from [`df_common::ports`] and the service's name.

use std::{collections::BTreeMap, fmt::Debug, net::SocketAddr};

use df_common::{
    Secret,
    config::{
        AdminConfig, Extract, GrpcServerConfig, InternalAuthConfig, RedisConfig, TelemetryConfig,
        Validate, production,
    },
    lifecycle::Configuration,
};
use figment::{Figment, providers::Serialized};
use serde::{
    Deserialize, Deserializer,
    de::{DeserializeOwned, IgnoredAny, Visitor},
};

use crate::config::{BusConfig, DatabaseConfig};

/// The sections every gRPC service reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceBase {
    /// Production mode: start-up refuses settings meant for a laptop (unencrypted database or
    /// gRPC, unsealed cache values, and whatever the service adds).
    pub production: bool,
    /// gRPC listener.
    pub grpc: GrpcServerConfig,
    /// Admin listener (`/healthz`, `/readyz`, `/metrics`).
    pub admin: AdminConfig,
    /// The service's database (`df_<service>`).
    pub database: DatabaseConfig,
    /// Cache (keys under `df:<service>:`).
    pub redis: RedisConfig,
    /// Event bus.
    pub bus: BusConfig,
    /// Logs, traces, Sentry.
    pub telemetry: TelemetryConfig,
    /// Keys that verify principal tokens.
    pub internal_auth: InternalAuthConfig,
}

/// The top-level keys of [`ServiceBase`].
pub const BASE_SECTIONS: &[&str] = &[
    "production",
    "grpc",
    "admin",
    "database",
    "redis",
    "bus",
    "telemetry",
    "internal_auth",
];

impl ServiceBase {
    /// The defaults of `service`: its row of [`df_common::ports`], database `df_<service>`, Redis
    /// prefix `df:<service>:`.
    pub fn for_service(service: &str) -> Self {
        let ports = df_common::ports::of(service);
        let mut base = Self::default();
        base.grpc.listen = SocketAddr::from(([0, 0, 0, 0], ports.main));
        base.admin.listen = SocketAddr::from(([0, 0, 0, 0], ports.admin));
        base.database.url = Secret::from(database_url(service));
        base.redis.key_prefix = redis_prefix(service);
        base
    }

    /// The same defaults as lowest-priority configuration values.
    fn defaults_of(service: &str) -> Figment {
        let ports = df_common::ports::of(service);
        Figment::new()
            .join(Serialized::default(
                "grpc.listen",
                format!("0.0.0.0:{}", ports.main),
            ))
            .join(Serialized::default(
                "admin.listen",
                format!("0.0.0.0:{}", ports.admin),
            ))
            .join(Serialized::default("database.url", database_url(service)))
            .join(Serialized::default(
                "redis.key_prefix",
                redis_prefix(service),
            ))
    }
}

fn database_url(service: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/df_{service}")
}

fn redis_prefix(service: &str) -> String {
    format!("df:{service}:")
}

impl Validate for ServiceBase {
    fn validate(&self, problems: &mut Vec<String>) {
        self.grpc.validate(problems);
        self.database.validate(problems);
        self.redis.validate(problems);
        self.bus.validate(problems);
        self.telemetry.validate(problems);
        self.internal_auth.validate(problems);
        self.internal_auth.require_verifying_key(problems);
        if self.production {
            crate::config::production::database(&self.database, problems);
            production::redis_value_key(&self.redis, problems);
            production::grpc_tls(&self.grpc, problems);
        }
    }
}

/// A service's own sections: a struct of sections, `#[serde(default)]` but without
/// `deny_unknown_fields` at its top (it is read from sources that also hold the base sections;
/// [`ServiceConfig`] refuses top-level keys neither half knows), each section refusing unknown
/// keys itself.
pub trait ServiceSettings:
    DeserializeOwned + Default + Validate + Clone + Debug + Send + Sync + 'static
{
    /// The service's name: in logs, metrics, on the bus, and the key of its defaults.
    const SERVICE: &'static str;

    /// True when the service calls other services as itself (media asking payments): it then
    /// needs a signing key of its own, listed as its own in `internal_auth.key_issuers`.
    const CALLS_AS_ITSELF: bool = false;

    /// What production mode refuses of these sections, beyond the shared refusals.
    fn production_problems(&self, base: &ServiceBase, problems: &mut Vec<String>) {
        let _ = (base, problems);
    }
}

/// A service's whole configuration.
#[derive(Clone, Debug)]
pub struct ServiceConfig<S> {
    /// The sections every service reads.
    pub base: ServiceBase,
    /// The service's own sections.
    pub own: S,
}

impl<S: ServiceSettings> Default for ServiceConfig<S> {
    fn default() -> Self {
        Self {
            base: ServiceBase::for_service(S::SERVICE),
            own: S::default(),
        }
    }
}

impl<S: ServiceSettings> Validate for ServiceConfig<S> {
    fn validate(&self, problems: &mut Vec<String>) {
        self.base.validate(problems);
        self.own.validate(problems);
        if S::CALLS_AS_ITSELF {
            self.base
                .internal_auth
                .require_own_key(S::SERVICE, problems);
        }
        if self.base.production {
            self.own.production_problems(&self.base, problems);
        }
    }
}

impl<S: ServiceSettings> Extract for ServiceConfig<S> {
    fn extract(figment: Figment) -> Result<Self, Box<figment::Error>> {
        let figment = figment.join(ServiceBase::defaults_of(S::SERVICE));
        let own_sections = fields_of::<S>();
        let keys: BTreeMap<String, IgnoredAny> = figment.extract()?;
        if let Some(unknown) = keys.keys().find(|key| {
            !BASE_SECTIONS.contains(&key.as_str()) && !own_sections.contains(&key.as_str())
        }) {
            let expected: &'static [&'static str] = own_sections;
            return Err(Box::new(
                figment::error::Kind::UnknownField(unknown.clone(), expected).into(),
            ));
        }
        Ok(Self {
            base: figment.extract()?,
            own: figment.extract()?,
        })
    }
}

impl<S: ServiceSettings> Configuration for ServiceConfig<S> {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.base.telemetry
    }
}

/// The field names of a derived struct, as its `Deserialize` implementation declares them.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails once it has seen the struct's fields; the error is expected.
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// A deserializer that only records the field list `deserialize_struct` is called with.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use df_common::config::{Sources, load_from};

    use super::*;

    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    struct Sample {
        widgets: Widgets,
    }

    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Widgets {
        limit: u32,
    }

    impl Validate for Sample {
        fn validate(&self, problems: &mut Vec<String>) {
            if self.widgets.limit > 10 {
                problems.push("widgets.limit: at most 10".into());
            }
        }
    }

    impl ServiceSettings for Sample {
        const SERVICE: &'static str = "payments";
    }

    fn env(pairs: &[(&str, &str)]) -> Sources {
        let (_, verifying_key) = df_common::auth::generate_key_pair();
        let mut env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.push(("DF_INTERNAL_AUTH__VERIFYING_KEYS__K1".into(), verifying_key));
        Sources {
            env,
            ..Sources::default()
        }
    }

    #[test]
    fn both_halves_come_from_one_namespace_with_the_services_defaults() {
        let config: ServiceConfig<Sample> = load_from(&env(&[
            ("DF_WIDGETS__LIMIT", "7"),
            ("DF_GRPC__REQUEST_TIMEOUT_MS", "250"),
        ]))
        .unwrap();
        assert_eq!(config.own.widgets.limit, 7);
        assert_eq!(config.base.grpc.request_timeout_ms, 250);
        let defaults = ServiceBase::for_service("payments");
        assert_eq!(config.base.grpc.listen, defaults.grpc.listen);
        assert_eq!(config.base.admin.listen.port(), 9092);
        assert_eq!(
            config.base.database.url.expose(),
            defaults.database.url.expose()
        );
        assert_eq!(config.base.redis.key_prefix, "df:payments:");
    }

    #[test]
    fn a_setting_overrides_a_service_default() {
        let config: ServiceConfig<Sample> =
            load_from(&env(&[("DF_ADMIN__LISTEN", "127.0.0.1:9999")])).unwrap();
        assert_eq!(config.base.admin.listen.port(), 9999);
    }

    #[test]
    fn unknown_keys_are_refused_at_the_top_and_inside_either_half() {
        for (key, named) in [
            ("DF_WIDGTES__LIMIT", "widgtes"),
            ("DF_WIDGETS__LIMTI", "limti"),
            ("DF_DATABASE__URLL", "urll"),
        ] {
            let problems = load_from::<ServiceConfig<Sample>>(&env(&[(key, "1")]))
                .unwrap_err()
                .problems;
            assert!(
                problems.iter().any(|p| p.contains(named)),
                "{key}: {problems:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_full_path_and_both_halves_are_validated() {
        let problems = load_from::<ServiceConfig<Sample>>(&env(&[
            ("DF_WIDGETS__LIMIT", "11"),
            ("DF_GRPC__REQUEST_TIMEOUT_MS", "1"),
        ]))
        .unwrap_err()
        .problems;
        assert!(problems.iter().any(|p| p.starts_with("widgets.limit")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("grpc.request_timeout_ms"))
        );
        let problems =
            load_from::<ServiceConfig<Sample>>(&env(&[("DF_GRPC__CONCURRENCY_LIMIT", "many")]))
                .unwrap_err()
                .problems;
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("grpc.concurrency_limit")),
            "{problems:?}"
        );
    }
}
