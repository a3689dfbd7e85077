//! The runtime every gRPC service runs in: what [`Runtime::start`] connects and starts before a
//! service wires its domain, and what [`Runtime::serve`] serves and drains after.
//!
//! A service's `serve()` is then only its domain: build its parts from [`Runtime::db`],
//! [`Runtime::cache`], [`Runtime::relay`] and [`Runtime::clock`], register its consumers
//! ([`Runtime::consume`]) and jobs ([`Runtime::jobs`]), and hand its gRPC service to
//! [`Runtime::serve`].

use std::sync::Arc;

use df_common::{
    Error,
    auth::TokenSigner,
    cache::Cache,
    clock::Clock,
    grpc::GrpcService,
    lifecycle::{Readiness, serve_admin},
};
use diesel_migrations::EmbeddedMigrations;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    ServiceBase,
    bus::{Bus, Consumer, EventHandler, OutboxRelay, RelayHandle, Typed, spawn_consumer},
    db::{Db, PostgresReadiness},
    jobs::{FirstRun, JobRunner, Jobs},
};

/// How long a consumer's inbox remembers an event: far longer than any redelivery, or a replay
/// from a dead-letter queue an operator might do.
pub const INBOX_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// How often the inbox is pruned.
const INBOX_PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3_600);

/// The sockets a service serves on, bound by the caller (tests bind port 0 and read the
/// addresses first).
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(base: &ServiceBase) -> Result<Self, Error> {
        Ok(Self {
            grpc: TcpListener::bind(base.grpc.listen)
                .await
                .map_err(Error::internal)?,
            admin: TcpListener::bind(base.admin.listen)
                .await
                .map_err(Error::internal)?,
        })
    }
}

/// A service's connected infrastructure and background work.
pub struct Runtime {
    service: &'static str,
    base: ServiceBase,
    db: Db,
    cache: Cache,
    bus: Bus,
    relay: RelayHandle,
    clock: Clock,
    jobs: JobRunner,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Connects the database (migrating it first when `database.run_migrations` is on: the
    /// kit's tables, then `migrations`), the cache and the bus; starts the outbox relay; and
    /// schedules the pruning of the bus inbox. Nothing runs jobs or serves before
    /// [`Runtime::serve`].
    pub async fn start(
        service: &'static str,
        base: &ServiceBase,
        migrations: EmbeddedMigrations,
        clock: Clock,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let db = Db::connect(&base.database)?;
        if base.database.run_migrations {
            db.run_migrations(migrations).await?;
        }
        let cache = Cache::connect(&base.redis)?;
        let bus = Bus::connect(&base.bus, service);
        let (relay, relay_task) =
            OutboxRelay::spawn(db.clone(), bus.clone(), &base.bus, shutdown.clone());
        let mut jobs = JobRunner::new(db.clone(), clock.clone(), service);
        jobs.every(
            "bus.inbox_prune",
            INBOX_PRUNE_INTERVAL,
            FirstRun::Now,
            prune_inbox(db.clone(), clock.clone()),
        );
        Ok(Self {
            service,
            base: base.clone(),
            db,
            cache,
            bus,
            relay,
            clock,
            jobs,
            shutdown,
            tasks: vec![relay_task],
        })
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The cache, under the service's key prefix.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Wakes the outbox relay after a commit that wrote events.
    pub fn relay(&self) -> &RelayHandle {
        &self.relay
    }

    /// The service's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Fires when the service is to stop; background work of the service's own ends with it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Where the service registers its queued jobs and schedules.
    pub fn jobs(&mut self) -> &mut JobRunner {
        &mut self.jobs
    }

    /// The handle that wakes the job runner after a commit that queued a job.
    pub fn job_waker(&self) -> Jobs {
        self.jobs.handle()
    }

    /// Starts `consumer` on its event type's queue (stopped and drained by [`Runtime::serve`]).
    pub fn consume(&mut self, consumer: impl Consumer) {
        self.handle_events(Typed::new(consumer));
    }

    /// Starts a raw handler of envelopes (several routing keys or patterns).
    pub fn handle_events(&mut self, handler: impl EventHandler) {
        let consumer = spawn_consumer(
            self.db.clone(),
            self.bus.clone(),
            Arc::new(handler),
            &self.base.bus,
            self.shutdown.clone(),
        );
        let service = self.service;
        self.tasks.push(tokio::spawn(async move {
            match consumer.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(service, code = error.code(), cause = ?error.cause(), "consumer stopped");
                }
                Err(error) => tracing::error!(service, %error, "consumer panicked"),
            }
        }));
    }

    /// Keeps `task` (which must end once [`Runtime::shutdown`] fires) to be awaited by the drain.
    pub fn keep(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Serves `grpc` (behind internal authentication, with per-method metrics) and the admin
    /// listener, runs the jobs, until shutdown; then waits for calls in flight, the job round in
    /// progress, the consumers, the relay and every kept task to finish.
    pub async fn serve(self, listeners: Listeners, grpc: impl GrpcService) -> Result<(), Error> {
        let Self {
            service,
            base,
            db,
            jobs,
            shutdown,
            mut tasks,
            ..
        } = self;
        let signer = Arc::new(TokenSigner::from_config(&base.internal_auth, service)?);
        tasks.push(jobs.spawn(shutdown.clone()));
        let readiness = Readiness::new().with_postgres(&db);
        let admin = tokio::spawn(serve_admin(listeners.admin, readiness, shutdown.clone()));
        tracing::info!(service, "serving");
        let served = df_common::grpc::serve_authenticated(
            service,
            &base.grpc,
            listeners.grpc,
            grpc,
            signer,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        for task in tasks {
            let _ = task.await;
        }
        let _ = admin.await;
        tracing::info!(service, "stopped");
        served
    }
}

/// The schedule that forgets inbox entries older than [`INBOX_RETENTION`].
fn prune_inbox(
    db: Db,
    clock: Clock,
) -> impl Fn() -> futures::future::BoxFuture<'static, Result<(), Error>> + Send + Sync + 'static {
    move || {
        let (db, clock) = (db.clone(), clock.clone());
        Box::pin(async move {
            let mut conn = db.conn().await?;
            let pruned = crate::bus::inbox::prune(&mut conn, clock.now() - INBOX_RETENTION).await?;
            tracing::debug!(pruned, "bus inbox pruned");
            Ok(())
        })
    }
}
