//! One storage suite, run on the filesystem store and on S3 (a local S3-compatible server,
//! `s3s-fs`, started by the test on its own port and directory; `scripts/test` installs it).

use std::time::Duration;

use bytes::Bytes;
use df_common::secret::Secret;
use df_media::{
    config::{Backend, StorageSettings},
    ids::MediaId,
    storage::{Storage, Variant, keys},
};
use futures::TryStreamExt;

/// Bytes that differ at every offset a part boundary could hide an error at.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn read_all(storage: &Storage, key: &object_store::path::Path) -> Vec<u8> {
    let chunks: Vec<Bytes> = storage
        .stream(key, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

/// What media asks of any store; `signs` says whether the store signs its own URLs.
async fn storage_suite(storage: &Storage, signs: bool) {
    let id = MediaId::new();
    let small = Bytes::from_static(b"a small object");
    let original = keys::incoming(id, Variant::Original);
    storage.put(&original, small.clone()).await.unwrap();
    assert_eq!(storage.read(&original).await.unwrap(), small);
    assert_eq!(storage.size(&original).await.unwrap(), small.len() as u64);

    // A file larger than two parts goes up in parts and comes back whole and by range.
    let big = pattern(20 * 1024 * 1024 + 123);
    let spool = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spool.path(), &big).unwrap();
    let display = keys::incoming(id, Variant::Display);
    storage.put_file(&display, spool.path()).await.unwrap();
    assert_eq!(storage.size(&display).await.unwrap(), big.len() as u64);
    assert!(
        read_all(storage, &display).await == big,
        "the whole file differs"
    );
    let start = 8 * 1024 * 1024 - 5;
    let range: Vec<Bytes> = storage
        .stream(&display, Some(start as u64..start as u64 + 10))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(range.concat(), big[start..start + 10]);

    // Copies are repeatable; deleting the incoming prefix leaves the published copy.
    let published = keys::published(id, Variant::Display);
    storage.copy(&display, &published).await.unwrap();
    storage.copy(&display, &published).await.unwrap();
    storage.delete_incoming(id).await.unwrap();
    assert!(storage.size(&display).await.is_err());
    assert!(storage.size(&original).await.is_err());
    assert!(read_all(storage, &published).await == big);
    assert_eq!(
        storage.list(&format!("media/{id}")).await.unwrap(),
        vec![published.clone()]
    );

    // A file of this machine for programs that read files: the store's own, or a spool copy
    // that is gone once dropped.
    let spool_dir = tempfile::tempdir().unwrap();
    let local = storage
        .local_copy(&published, spool_dir.path())
        .await
        .unwrap();
    assert!(std::fs::read(local.path()).unwrap() == big);
    let spooled = local.path().starts_with(spool_dir.path());
    assert_eq!(spooled, signs, "only S3 objects are copied");
    drop(local);
    assert_eq!(std::fs::read_dir(spool_dir.path()).unwrap().count(), 0);

    let url = storage
        .presigned(&published, Duration::from_secs(60))
        .await
        .unwrap();
    if signs {
        let url = url.expect("S3 signs its own URLs");
        let fetched = reqwest::get(&url).await.unwrap();
        assert_eq!(fetched.status(), 200, "{url}");
        assert!(fetched.bytes().await.unwrap() == big);
        // One hex digit of the signature changed.
        let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let digit = if &url[at..=at] == "0" { "1" } else { "0" };
        let tampered = format!("{}{digit}{}", &url[..at], &url[at + 1..]);
        assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
    } else {
        assert_eq!(url, None);
    }

    // Deleting everything, twice, and deleting what is not there, are not errors.
    storage.delete_all(id).await.unwrap();
    storage.delete_all(id).await.unwrap();
    storage.delete(&original).await.unwrap();
    assert_eq!(storage.list(&format!("media/{id}")).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_store_passes_the_storage_suite() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StorageSettings {
        root: dir.path().join("store"),
        ..StorageSettings::default()
    };
    let storage = Storage::open(&settings).unwrap();
    storage_suite(&storage, false).await;
    let mut left = Vec::new();
    for entry in walkdir(&settings.root) {
        left.push(entry);
    }
    assert_eq!(left, Vec::<String>::new(), "no staging file is left behind");
}

fn walkdir(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walkdir(&path));
        } else {
            files.push(path.display().to_string());
        }
    }
    files
}

/// An S3-compatible server for one test.
struct S3Server {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    endpoint: String,
}

const ACCESS_KEY: &str = "df-test-access";
const SECRET_KEY: &str = "df-test-secret-key-0123456789";
const BUCKET: &str = "media";

impl S3Server {
    async fn start() -> Self {
        let binary = std::env::var("DF_TEST_S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let child = tokio::process::Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{binary} does not start ({e}); scripts/test installs it (cargo install s3s-fs)"
                )
            });
        df_testkit::eventually("s3s-fs listens", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        Self {
            _child: child,
            _dir: dir,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_store_passes_the_storage_suite() {
    let server = S3Server::start().await;
    let settings = StorageSettings {
        backend: Backend::S3,
        bucket: BUCKET.into(),
        endpoint: server.endpoint.clone(),
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: Secret::from(SECRET_KEY.to_owned()),
        allow_http: true,
        ..StorageSettings::default()
    };
    let storage = Storage::open(&settings).unwrap();
    storage_suite(&storage, true).await;
}
