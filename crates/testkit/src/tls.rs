//! Certificates for tests: a private CA made at test start that issues server and client
//! certificates as PEM files (the services read certificates from files, as cert-manager or a
//! mesh provides them), and a TLS-only `redis-server` that the test starts and stops itself.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The PEM certificate.
    pub cert_file: PathBuf,
    /// The PEM private key.
    pub key_file: PathBuf,
}

/// A private certificate authority whose files live as long as it does.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (the file clients and servers trust).
    pub ca_file: PathBuf,
    issued: usize,
}

impl TestCa {
    /// A fresh CA.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "DirectFanz test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, certificate.pem()).unwrap();
        Self {
            dir,
            issuer: Issuer::new(params, key),
            ca_file,
            issued: 0,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&mut self, names: &[&str]) -> CertFiles {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate naming `name`.
    pub fn client(&mut self, name: &str) -> CertFiles {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&mut self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> CertFiles {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        self.issued += 1;
        let files = CertFiles {
            cert_file: self.dir.path().join(format!("cert-{}.pem", self.issued)),
            key_file: self.dir.path().join(format!("key-{}.pem", self.issued)),
        };
        std::fs::write(&files.cert_file, certificate.pem()).unwrap();
        std::fs::write(&files.key_file, key.serialize_pem()).unwrap();
        files
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A `redis-server` answering only TLS on a loopback port, with a certificate from its own
/// [`TestCa`]; stopped (by the pid this started) when dropped.
pub struct TlsRedis {
    child: Child,
    /// `rediss://127.0.0.1:<port>/0`.
    pub url: String,
    /// The CA the server's certificate chains to.
    pub ca: TestCa,
}

impl TlsRedis {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let mut ca = TestCa::new();
        let server = ca.server(&["127.0.0.1", "localhost"]);
        // A free port: bound and released just before the server binds it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&server.cert_file)
            .arg("--tls-key-file")
            .arg(&server.key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca.ca_file)
            .args(["--tls-auth-clients", "no"])
            .arg("--dir")
            .arg(ca.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (with TLS support) must be installed: scripts/test installs it");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the TLS redis-server never listened"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            url: format!("rediss://127.0.0.1:{port}/0"),
            ca,
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
