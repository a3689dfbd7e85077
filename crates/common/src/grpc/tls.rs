//! TLS for internal gRPC. Passwords, session tokens and tax and bank details cross the pod
//! network between services, so production listeners serve TLS only and clients verify the
//! server against a private CA. Certificates come from files, as cert-manager or a service mesh
//! mounts them; they are read at start-up (a rotated certificate takes effect on the next
//! rollout). With `client_ca_file` set, a server also requires a client certificate from that
//! CA (mutual TLS).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::{config::Validate, error::Error};

/// A listener's TLS settings (`grpc.tls`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain of this service.
    pub cert_file: PathBuf,
    /// PEM private key of `cert_file`.
    pub key_file: PathBuf,
    /// PEM roots client certificates must chain to; when set, clients without one are refused.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// A client's TLS settings (`<upstream>.tls`); the upstream's URL is then `https://`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTls {
    /// PEM roots the server's certificate must chain to (the public web roots when unset).
    pub ca_file: Option<PathBuf>,
    /// The name the server's certificate must carry, when it is not the URL's host.
    pub domain_name: Option<String>,
    /// PEM certificate presented to servers that require one (mutual TLS).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

fn read(path: &Path, setting: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::internal(anyhow::anyhow!(
            "{setting}: cannot read {}: {e}",
            path.display()
        ))
    })
}

fn check_file(problems: &mut Vec<String>, setting: &str, path: &Path) {
    if !path.is_file() {
        problems.push(format!("{setting}: {} does not exist", path.display()));
    }
}

impl ServerTls {
    /// tonic's server settings from the files.
    pub fn load(&self) -> Result<ServerTlsConfig, Error> {
        crate::tls::install_crypto_provider();
        let identity = Identity::from_pem(
            read(&self.cert_file, "grpc.tls.cert_file")?,
            read(&self.key_file, "grpc.tls.key_file")?,
        );
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca_file {
            config =
                config.client_ca_root(Certificate::from_pem(read(ca, "grpc.tls.client_ca_file")?));
        }
        Ok(config)
    }
}

impl Validate for ServerTls {
    fn validate(&self, problems: &mut Vec<String>) {
        check_file(problems, "grpc.tls.cert_file", &self.cert_file);
        check_file(problems, "grpc.tls.key_file", &self.key_file);
        if let Some(ca) = &self.client_ca_file {
            check_file(problems, "grpc.tls.client_ca_file", ca);
        }
    }
}

impl ClientTls {
    /// tonic's client settings from the files.
    pub fn load(&self) -> Result<ClientTlsConfig, Error> {
        crate::tls::install_crypto_provider();
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_file {
            Some(ca) => config.ca_certificate(Certificate::from_pem(read(ca, "tls.ca_file")?)),
            None => config.with_webpki_roots(),
        };
        if let Some(name) = &self.domain_name {
            config = config.domain_name(name.clone());
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            config = config.identity(Identity::from_pem(
                read(cert, "tls.cert_file")?,
                read(key, "tls.key_file")?,
            ));
        }
        Ok(config)
    }
}

/// Problems are named from the client's section (`tls.ca_file`); the caller prefixes the
/// upstream (`identity.tls.ca_file`).
impl Validate for ClientTls {
    fn validate(&self, problems: &mut Vec<String>) {
        for (name, path) in [
            ("tls.ca_file", &self.ca_file),
            ("tls.cert_file", &self.cert_file),
            ("tls.key_file", &self.key_file),
        ] {
            if let Some(path) = path {
                check_file(problems, name, path);
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            problems.push("tls: cert_file and key_file go together (mutual TLS)".into());
        }
    }
}
