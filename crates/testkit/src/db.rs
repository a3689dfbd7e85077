//! A fresh Postgres database per test, cloned from a migrated template.
//!
//! The template is named after a hash of the service's migrations directory, so it is built once
//! per migration set (under an advisory lock, because tests run in parallel processes) and every
//! test then gets `CREATE DATABASE … TEMPLATE …`, which takes milliseconds. The database is
//! dropped when the [`TestDb`] is dropped.

use std::path::Path;

use df_runtime::{config::DatabaseConfig, db::Db};
use diesel::sql_query;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::EmbeddedMigrations;
use sha2::{Digest, Sha256};

/// Server URL of the machine's Postgres (override with `DF_TEST_DATABASE_URL`).
pub fn server_url() -> String {
    std::env::var("DF_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database that exists for one test.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Clones a fresh database for `service` whose migrations live in `migrations_dir`.
    pub async fn new(service: &str, migrations: EmbeddedMigrations, migrations_dir: &Path) -> Self {
        let template = template_name(service, migrations_dir);
        let mut admin = admin_connection().await;
        ensure_template(&mut admin, &template, migrations).await;
        let name = format!("t_{}_{}", service, uuid::Uuid::new_v4().simple());
        let mut attempts = 0;
        loop {
            let created = sql_query(format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .execute(&mut admin)
            .await;
            match created {
                Ok(_) => break,
                // Another test may still be disconnecting from the template.
                Err(e) if attempts < 50 && e.to_string().contains("being accessed") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("creating test database {name}: {e}"),
            }
        }
        Self {
            url: format!("{}/{name}", server_url()),
            name,
        }
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's `host:port`, to put a [`crate::TcpProxy`] in front of.
    pub fn server_addr(&self) -> String {
        let (_, host_port, _) = crate::bus::split_url(&self.url);
        if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        }
    }

    /// A configuration for this database reached at `addr` instead (a fault proxy).
    pub fn config_via(&self, addr: std::net::SocketAddr) -> DatabaseConfig {
        let (prefix, _, rest) = crate::bus::split_url(&self.url);
        DatabaseConfig {
            url: format!("{prefix}{addr}{rest}").into(),
            ..self.config()
        }
    }

    /// A configuration pointing at this database (already migrated).
    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self.url.clone().into(),
            run_migrations: false,
            max_connections: 8,
            ..DatabaseConfig::default()
        }
    }

    /// A pool on this database.
    pub fn db(&self) -> Db {
        Db::connect(&self.config()).unwrap_or_else(|e| panic!("test pool: {e:?}"))
    }
}

/// The number `sql` selects as its bigint column `n` (`SELECT count(*) AS n FROM ...`), read on
/// `conn`.
pub async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::cleanup::run_bounded("test database", async move {
            if let Ok(mut admin) =
                AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await
            {
                let _ = sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

async fn admin_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{}/postgres", server_url()))
        .await
        .unwrap_or_else(|e| panic!("cannot reach Postgres at {}: {e}", server_url()))
}

/// Named after the migrations it holds: the kit's and the service's.
fn template_name(service: &str, dir: &Path) -> String {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    collect_files(Path::new(df_runtime::KIT_MIGRATIONS_DIR), &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).unwrap_or_default());
    }
    let digest = hex::encode(hasher.finalize());
    format!("tmpl_{service}_{}", &digest[..16])
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

async fn database_exists(admin: &mut AsyncPgConnection, name: &str) -> bool {
    sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Exists>(admin)
        .await
        .map(|r| r.exists)
        .unwrap_or(false)
}

async fn ensure_template(
    admin: &mut AsyncPgConnection,
    template: &str,
    migrations: EmbeddedMigrations,
) {
    if database_exists(admin, template).await {
        return;
    }
    let lock_key = i64::from_str_radix(&template[template.len() - 15..], 16).unwrap_or(1);
    sql_query(format!("SELECT pg_advisory_lock({lock_key})"))
        .execute(admin)
        .await
        .unwrap_or_else(|e| panic!("template lock: {e}"));
    if !database_exists(admin, template).await {
        let building = format!("{template}_build_{}", uuid::Uuid::new_v4().simple());
        sql_query(format!("CREATE DATABASE \"{building}\""))
            .execute(admin)
            .await
            .unwrap_or_else(|e| panic!("creating template: {e}"));
        let config = DatabaseConfig {
            url: format!("{}/{building}", server_url()).into(),
            max_connections: 1,
            ..DatabaseConfig::default()
        };
        let db = Db::connect(&config).unwrap_or_else(|e| panic!("template pool: {e:?}"));
        db.run_migrations(migrations)
            .await
            .unwrap_or_else(|e| panic!("template migrations: {e:?}"));
        drop(db);
        // Renaming makes the finished template appear atomically.
        sql_query(format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .execute(admin)
        .await
        .unwrap_or_else(|e| panic!("publishing template: {e}"));
    }
    sql_query(format!("SELECT pg_advisory_unlock({lock_key})"))
        .execute(admin)
        .await
        .unwrap_or_else(|e| panic!("template unlock: {e}"));
}

/// An empty database owned by a role of its own, with a second, application role, as in
/// production: migrations run as the owner, the service as the application role. The database
/// and both roles are dropped when this is dropped.
pub struct RoleSeparatedDb {
    name: String,
    owner: String,
    app: String,
}

impl RoleSeparatedDb {
    /// Creates the two roles (trust authentication, as on the test server) and the database.
    pub async fn new(service: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let this = Self {
            name: format!("t_{service}_roles_{id}"),
            owner: format!("t_owner_{id}"),
            app: format!("t_app_{id}"),
        };
        let mut admin = admin_connection().await;
        for statement in [
            format!("CREATE ROLE \"{}\" LOGIN", this.owner),
            format!("CREATE ROLE \"{}\" LOGIN", this.app),
            format!("CREATE DATABASE \"{}\" OWNER \"{}\"", this.name, this.owner),
        ] {
            sql_query(&statement)
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        this
    }

    /// The application role's name.
    pub fn app_role(&self) -> &str {
        &self.app
    }

    fn url_as(&self, role: &str) -> String {
        let server = server_url();
        let (prefix, host_port, _) = crate::bus::split_url(&server);
        let scheme = prefix.split("://").next().unwrap_or("postgres");
        format!("{scheme}://{role}@{host_port}/{}", self.name)
    }

    /// The owner's URL (migrations).
    pub fn owner_url(&self) -> String {
        self.url_as(&self.owner)
    }

    /// The application role's URL (the service).
    pub fn app_url(&self) -> String {
        self.url_as(&self.app)
    }

    /// The service's configuration: it connects as the application role, migrates through the
    /// owner's URL and grants the application role its rights.
    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self.app_url().into(),
            migration_url: Some(self.owner_url().into()),
            app_role: Some(self.app.clone()),
            run_migrations: false,
            max_connections: 8,
            ..DatabaseConfig::default()
        }
    }
}

impl Drop for RoleSeparatedDb {
    fn drop(&mut self) {
        let (name, owner, app) = (self.name.clone(), self.owner.clone(), self.app.clone());
        crate::cleanup::run_bounded("role-separated test database", async move {
            if let Ok(mut admin) =
                AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await
            {
                for statement in [
                    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    format!("DROP ROLE IF EXISTS \"{app}\""),
                    format!("DROP ROLE IF EXISTS \"{owner}\""),
                ] {
                    let _ = sql_query(statement).execute(&mut admin).await;
                }
            }
        });
    }
}
