//! `df-dev`: every DirectFanz service in one process, for local development and demos.
//!
//! Configuration is the services' own, nested under `identity`, `payments`, `media` and `gateway`
//! (`DF_GATEWAY__HTTP__LISTEN`, `DF_IDENTITY__MAIL__OUTBOX_DIR`, …), with local defaults: loopback
//! listeners, readable logs, email written to `.dev/mail`, the simulated payment provider, and
//! fresh internal keys, webhook secret and tax key generated at start when none are configured
//! (the services live in this process, so they share them).

use std::{collections::BTreeMap, process::ExitCode};

use base64::Engine;
use df_common::config::{Extract, Validate};
use df_gateway::GatewayConfig;
use df_identity::IdentityConfig;
use df_media::MediaConfig;
use df_payments::PaymentsConfig;
use figment::Figment;
use rand::RngCore;
use serde::de::IgnoredAny;

/// Every service's configuration, each under its name.
#[derive(Debug)]
struct DevConfig {
    identity: IdentityConfig,
    payments: PaymentsConfig,
    media: MediaConfig,
    gateway: GatewayConfig,
}

/// The top-level keys of [`DevConfig`].
const SERVICES: &[&str] = &["identity", "payments", "media", "gateway"];

impl Extract for DevConfig {
    fn extract(figment: Figment) -> Result<Self, Box<figment::Error>> {
        let keys: BTreeMap<String, IgnoredAny> = figment.extract()?;
        if let Some(unknown) = keys.keys().find(|key| !SERVICES.contains(&key.as_str())) {
            return Err(Box::new(
                figment::error::Kind::UnknownField(unknown.clone(), SERVICES).into(),
            ));
        }
        Ok(Self {
            identity: section(&figment, "identity")?,
            payments: section(&figment, "payments")?,
            media: section(&figment, "media")?,
            gateway: section(&figment, "gateway")?,
        })
    }
}

/// The configuration under `key`; its errors name their setting from the top.
fn section<T: Extract>(figment: &Figment, key: &str) -> Result<T, Box<figment::Error>> {
    T::extract(figment.focus(key)).map_err(|mut error| {
        error.path.insert(0, key.to_owned());
        error
    })
}

/// Local defaults, applied as if set in the environment so that any variable the caller sets
/// overrides just that one setting: every service on loopback at its ports from the ports
/// table, with readable logs.
fn dev_defaults() -> Vec<(String, String)> {
    let mut defaults = Vec::new();
    for &service in SERVICES {
        let ports = df_common::ports::of(service);
        let section = service.to_ascii_uppercase();
        let main = if service == df_gateway::SERVICE {
            "HTTP"
        } else {
            "GRPC"
        };
        defaults.extend([
            (
                format!("DF_{section}__{main}__LISTEN"),
                format!("127.0.0.1:{}", ports.main),
            ),
            (
                format!("DF_{section}__ADMIN__LISTEN"),
                format!("127.0.0.1:{}", ports.admin),
            ),
            (
                format!("DF_{section}__TELEMETRY__LOG_FORMAT"),
                "pretty".to_owned(),
            ),
        ]);
    }
    defaults.extend([
        (
            "DF_IDENTITY__MAIL__OUTBOX_DIR".to_owned(),
            ".dev/mail".to_owned(),
        ),
        (
            "DF_PAYMENTS__PROVIDER__SIMULATED__LISTEN".to_owned(),
            "127.0.0.1:8091".to_owned(),
        ),
        // No moderation service runs here: clean uploads publish at once.
        (
            "DF_MEDIA__MODERATION__AUTO_APPROVE_CLEAN_SCANS".to_owned(),
            "true".to_owned(),
        ),
        (
            "DF_MEDIA__STORAGE__ROOT".to_owned(),
            ".dev/media".to_owned(),
        ),
    ]);
    defaults
}

impl Validate for DevConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        let sections: [(&str, &dyn Validate); 4] = [
            (df_identity::SERVICE, &self.identity),
            (df_payments::SERVICE, &self.payments),
            (df_media::SERVICE, &self.media),
            (df_gateway::SERVICE, &self.gateway),
        ];
        for (name, section) in sections {
            let mut found = Vec::new();
            section.validate(&mut found);
            problems.extend(found.into_iter().map(|p| format!("{name}.{p}")));
        }
    }
}

fn random_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// `base` verifies the gateway's tokens with `public`, unless its keys are configured (it
/// already lists keys besides its services' own).
fn trust_gateway(
    base: &mut df_runtime::ServiceBase,
    gateway: &GatewayConfig,
    public: Option<&String>,
) {
    if let Some(public) = public
        && !lists_gateway_keys(base)
    {
        let id = gateway.internal_auth.signing_key_id.clone();
        base.internal_auth.verifying_keys.insert(id, public.clone());
    }
}

/// True when `base` is configured with keys of the gateway (keys not listed as a service's own).
fn lists_gateway_keys(base: &df_runtime::ServiceBase) -> bool {
    let auth = &base.internal_auth;
    auth.verifying_keys
        .keys()
        .any(|id| !auth.key_issuers.contains_key(id))
}

/// Media calls payments as itself: a fresh key of its own when none is configured, which
/// payments accepts from media only.
fn give_media_its_key(media: &mut MediaConfig, payments: &mut df_runtime::ServiceBase) {
    let own = &mut media.base.internal_auth;
    if own.signing_key.is_some() {
        return;
    }
    let (seed, public) = df_common::auth::generate_key_pair();
    let id = format!("{}-dev", df_media::SERVICE);
    own.signing_key = Some(seed);
    own.signing_key_id.clone_from(&id);
    own.key_issuers
        .insert(id.clone(), df_media::SERVICE.to_owned());
    let theirs = &mut payments.internal_auth;
    theirs.verifying_keys.insert(id.clone(), public);
    theirs.key_issuers.insert(id, df_media::SERVICE.to_owned());
}

/// Fills in what the services must agree on and what a newcomer has not configured.
fn complete(config: &mut DevConfig) {
    let DevConfig {
        identity,
        payments,
        media,
        gateway,
    } = config;
    give_media_its_key(media, &mut payments.base);
    // Signed URLs of this run: a fresh key unless one is configured.
    let delivery = &mut media.own.delivery;
    if delivery.signing_keys.is_empty() {
        let (key, _) = df_common::auth::generate_key_pair();
        delivery
            .signing_keys
            .insert(delivery.signing_key_id.clone(), key);
    }
    media.own.payments.url = format!("http://{}", payments.base.grpc.listen);
    // One machine: the gateway reads media's filesystem store itself, unless told otherwise.
    if matches!(
        media.own.storage.backend,
        df_media::config::Backend::Filesystem
    ) && gateway.media_store.root.is_none()
    {
        gateway.media_store.root = Some(media.own.storage.root.clone());
    }
    // The services behind the gateway, each with the name of its upstream.
    let mut backends = [
        (df_identity::SERVICE, &mut identity.base),
        (df_payments::SERVICE, &mut payments.base),
        (df_media::SERVICE, &mut media.base),
    ];
    // The gateway mints principal tokens; the services verify them with the public key.
    // A fresh pair only when nothing is configured: generating a signing key next to a
    // configured public key would make every call fail, so that case is left to validation.
    if gateway.internal_auth.signing_key.is_none()
        && !backends.iter().any(|(_, base)| lists_gateway_keys(base))
    {
        let (seed, _) = df_common::auth::generate_key_pair();
        gateway.internal_auth.signing_key = Some(seed);
    }
    let public = (gateway.internal_auth.signing_key.as_ref())
        .and_then(|seed| df_common::auth::public_key_of(seed).ok());
    for (name, base) in &mut backends {
        trust_gateway(base, gateway, public.as_ref());
        gateway.upstream_mut(name).url = format!("http://{}", base.grpc.listen);
    }
    if config.gateway.security.allowed_origins.is_empty() {
        let listen = config.gateway.http.listen;
        config.gateway.security.allowed_origins = vec![format!("http://{listen}")];
        if listen.ip().is_loopback() {
            config
                .gateway
                .security
                .allowed_origins
                .push(format!("http://localhost:{}", listen.port()));
        }
    }
    if config.gateway.security.csrf_key.is_empty() {
        config.gateway.security.csrf_key = random_key().into();
    }
    if config.payments.own.webhooks.signing_secret.is_empty() {
        config.payments.own.webhooks.signing_secret = format!("whsec_{}", random_key()).into();
    }
    if config.payments.own.checkout.return_origins.is_empty() {
        // The client apps of a local setup live where the gateway allows them.
        config.payments.own.checkout.return_origins =
            config.gateway.security.allowed_origins.clone();
    }
    if config.identity.own.mail.encryption.keys.is_empty() {
        // A fresh key per start: mail still queued when df-dev stops cannot be opened after a
        // restart (it is dropped). Set mail.encryption.keys to keep it.
        config.identity.own.mail.encryption = df_common::keyring::EncryptionConfig::ephemeral();
    }
    if config.payments.own.tax.encryption.keys.is_empty() {
        // A fresh key per start: tax details entered in a dev session are shown masked later,
        // but cannot be decrypted after a restart. Set tax.encryption.keys to keep them.
        config.payments.own.tax = df_payments::tax::TaxConfig::ephemeral();
    }
    let simulated = &mut config.payments.own.provider.simulated;
    simulated.public_url = format!("http://{}", simulated.listen);
    simulated.webhook_url = format!("http://{}/v1/webhooks/stripe", config.gateway.http.listen);
    config.identity.own.identity.public_app_url = format!("http://{}", config.gateway.http.listen);
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut sources = df_common::config::Sources::from_process();
    for (name, value) in dev_defaults() {
        if !sources.env.iter().any(|(k, _)| *k == name) {
            sources.env.insert(0, (name, value));
        }
    }
    let config: DevConfig = match df_common::config::load_completed(&sources, complete) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match df_common::telemetry::init("dev", &config.identity.base.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("telemetry: {error}");
            return ExitCode::from(2);
        }
    };
    let shutdown = df_common::lifecycle::shutdown_on_signals();
    let result = async {
        let identity_listeners = df_runtime::Listeners::bind(&config.identity.base).await?;
        let payments_listeners = df_runtime::Listeners::bind(&config.payments.base).await?;
        let payments_wiring = df_payments::Wiring::bind(&config.payments).await?;
        let media_listeners = df_runtime::Listeners::bind(&config.media.base).await?;
        let gateway_listeners = df_gateway::Listeners::bind(&config.gateway).await?;
        let gateway_url = format!("http://{}", config.gateway.http.listen);
        let identity = tokio::spawn(df_identity::serve(
            config.identity,
            identity_listeners,
            df_common::clock::Clock::system(),
            shutdown.clone(),
        ));
        let payments = tokio::spawn(df_payments::serve(
            config.payments,
            payments_listeners,
            payments_wiring,
            shutdown.clone(),
        ));
        let media = tokio::spawn(df_media::serve(
            config.media,
            media_listeners,
            df_common::clock::Clock::system(),
            shutdown.clone(),
        ));
        let gateway = tokio::spawn(df_gateway::serve(
            config.gateway,
            gateway_listeners,
            shutdown.clone(),
        ));
        tracing::info!(%gateway_url, "DirectFanz is up; press Ctrl-C to stop");
        let (identity, payments, media, gateway) = tokio::join!(identity, payments, media, gateway);
        shutdown.cancel();
        identity.map_err(df_common::Error::internal)??;
        payments.map_err(df_common::Error::internal)??;
        media.map_err(df_common::Error::internal)??;
        gateway.map_err(df_common::Error::internal)??;
        Ok::<(), df_common::Error>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(code = error.code(), cause = ?error.cause(), "dev stack failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_calls_each_service_where_it_listens_and_each_trusts_the_gateway() {
        let mut config = DevConfig {
            identity: IdentityConfig::default(),
            payments: PaymentsConfig::default(),
            media: MediaConfig::default(),
            gateway: GatewayConfig::default(),
        };
        config.media.base.grpc.listen = "127.0.0.1:18053".parse().unwrap_or_else(|e| panic!("{e}"));
        complete(&mut config);
        let url = |name: &str| {
            config
                .gateway
                .upstream(name)
                .map(|upstream| upstream.url)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(url("media"), "http://127.0.0.1:18053");
        // One machine: the gateway reads the files of media's filesystem store itself.
        assert_eq!(
            config.gateway.media_store.root.as_ref(),
            Some(&config.media.own.storage.root)
        );
        assert_eq!(
            url("payments"),
            format!("http://{}", config.payments.base.grpc.listen)
        );
        for base in [
            &config.identity.base,
            &config.payments.base,
            &config.media.base,
        ] {
            assert!(lists_gateway_keys(base), "{base:?}");
        }
    }
}
