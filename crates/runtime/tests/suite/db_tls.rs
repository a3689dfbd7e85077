//! Postgres over TLS, against a private server this test starts (the machine's shared server is
//! never reconfigured): `require` and `verify-full` connect, `verify-full` refuses a server whose
//! certificate another CA signed, and `disable` is refused by a server that only accepts TLS.
//!
//! Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`; scripts/test installs them) and
//! `openssl`; when run as root the server runs as the `postgres` user, as Postgres requires.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

use df_runtime::{
    config::{DatabaseConfig, TlsMode},
    db::Db,
};

struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Runs `program` as the postgres user when we are root (Postgres refuses to run as root).
fn run_as_owner(program: &Path, args: &[&str]) {
    let status = if is_root() {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(program)
            .args(args)
            .status()
    } else {
        Command::new(program).args(args).status()
    }
    .unwrap();
    assert!(status.success(), "{} {args:?} failed", program.display());
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it.
fn make_certificates(dir: &Path, prefix: &str) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{prefix}ca.key"),
            "-out",
            &format!("{prefix}ca.crt"),
            "-days",
            "2",
            "-subj",
            "/CN=df-test-ca",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{prefix}server.key"),
            "-out",
            &format!("{prefix}server.csr"),
            "-subj",
            "/CN=localhost",
        ],
        dir,
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{prefix}server.csr"),
            "-CA",
            &format!("{prefix}ca.crt"),
            "-CAkey",
            &format!("{prefix}ca.key"),
            "-CAcreateserial",
            "-out",
            &format!("{prefix}server.crt"),
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
        dir,
    );
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        make_certificates(dir.path(), "");
        make_certificates(dir.path(), "other-");
        if is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        run_as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = dir.path().join("server.key");
        if is_root() {
            Command::new("chmod").arg("600").arg(&key).status().unwrap();
        }
        std::fs::write(
            data.join("postgresql.auto.conf"),
            format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir}'\n\
                 ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        // TLS only: plain TCP is rejected, so a successful connection proves TLS was used.
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        if is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .unwrap();
        }
        let log = dir.path().join("server.log");
        run_as_owner(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        Self { dir, port, bin }
    }

    fn config(&self, tls: TlsMode, ca: Option<&str>) -> DatabaseConfig {
        DatabaseConfig {
            url: format!("postgres://postgres@127.0.0.1:{}/postgres", self.port).into(),
            tls,
            ca_file: ca.map(|name| self.dir.path().join(name)),
            connect_timeout_ms: 5_000,
            max_connections: 1,
            run_migrations: false,
            ..DatabaseConfig::default()
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let args = [
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let _ = if is_root() {
            Command::new("runuser")
                .arg("-u")
                .arg("postgres")
                .arg("--")
                .arg(&pg_ctl)
                .args(args)
                .status()
        } else {
            Command::new(&pg_ctl).args(args).status()
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_against_a_tls_only_server() {
    let server = PrivatePostgres::start();

    let required = Db::connect(&server.config(TlsMode::Require, None)).unwrap();
    assert!(
        required.ping().await,
        "require: encrypted, certificate not checked"
    );

    let verified = Db::connect(&server.config(TlsMode::VerifyFull, Some("ca.crt"))).unwrap();
    assert!(verified.ping().await, "verify-full with the right CA");

    let wrong_ca = Db::connect(&server.config(TlsMode::VerifyFull, Some("other-ca.crt"))).unwrap();
    assert!(
        !wrong_ca.ping().await,
        "verify-full must refuse a certificate from another CA"
    );

    let plain = Db::connect(&server.config(TlsMode::Disable, None)).unwrap();
    assert!(!plain.ping().await, "the server accepts TLS only");
}
