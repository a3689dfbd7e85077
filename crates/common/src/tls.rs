//! TLS pieces every client and server here shares: the one rustls provider, and trust roots
//! read from a PEM file (a private CA, as cert-manager or a managed service hands out) or the
//! public web roots.

use std::path::Path;

use rustls::{RootCertStore, pki_types::CertificateDer, pki_types::pem::PemObject};

use crate::error::Error;

/// Installs ring as the process's rustls provider. Both the ring and the aws-lc providers are
/// compiled into the binary (different dependencies ask for different ones), and rustls refuses
/// to choose between them; every TLS client and server built afterwards uses ring. Idempotent.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificates of the PEM file at `path`; `setting` names it in errors.
pub fn certificates(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::internal(anyhow::anyhow!("{setting}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(anyhow::anyhow!("{setting}: {e}")))?;
    if certificates.is_empty() {
        return Err(Error::internal(anyhow::anyhow!(
            "{setting}: {} holds no certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The roots of the PEM file at `ca_file`, or the public web roots without one.
pub fn root_store(ca_file: Option<&Path>, setting: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for certificate in certificates(path, setting)? {
                roots.add(certificate).map_err(Error::internal)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}
