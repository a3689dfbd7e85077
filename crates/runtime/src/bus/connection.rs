//! One AMQP connection per process, kept up by a background task.
//!
//! [`Bus::connect`] never fails on a broker that is down: a supervisor task connects in the
//! background, retries with capped, jittered exponential back-off, and after every (re)connect
//! declares the exchanges and every consumer queue registered so far before anyone is handed
//! the new connection. It notices a lost connection from lapin's error events, from the
//! connection status, or from a user whose broker operation timed out (a hung link that the
//! socket has not reported yet), and then starts over.
//!
//! We reconnect ourselves rather than using lapin's automatic recovery so that there is one
//! place deciding when a link is dead, and one back-off policy.

use crate::backoff;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use lapin::{Channel, Connection, ConnectionProperties, Event, uri::AMQPUri};
use tokio::sync::{Notify, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    timed_out,
    topology::{self, QueueSpec},
    unavailable,
};
use df_common::{error::Error, secret::Secret};

use crate::config::BusConfig;

/// First reconnect delay; doubled per failed attempt up to `bus.reconnect_max_ms`.
const RECONNECT_BASE: Duration = Duration::from_millis(100);
/// Heartbeat asked of the broker unless the URL sets one, so that a silent peer is noticed in
/// seconds rather than the broker's default minute.
const HEARTBEAT_SECS: u16 = 10;
/// How often the supervisor looks at the connection status besides listening for errors.
const STATUS_CHECK: Duration = Duration::from_millis(500);

/// The bus handle every service keeps; cheap to clone. When the last clone is dropped the
/// background task stops and the connection is closed.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
    _stop: Arc<DropGuard>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("service", &self.shared.service)
            .field("namespace", &self.shared.namespace)
            .field("connected", &self.shared.state.borrow().is_some())
            .finish_non_exhaustive()
    }
}

struct Shared {
    url: Secret<String>,
    service: &'static str,
    namespace: String,
    op_timeout: Duration,
    reconnect_max: Duration,
    /// The live connection, `None` while (re)connecting.
    state: watch::Sender<Option<Link>>,
    /// Consumer queues to declare again after every reconnect.
    queues: Mutex<Vec<QueueSpec>>,
    /// Raised by users whose operation on the current connection timed out.
    suspect: Notify,
}

#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    generation: u64,
}

/// Why a connection was given up.
enum Ended {
    Stopped,
    Lost(String),
}

impl Bus {
    /// Starts connecting to `config.url` in the background and returns at once; a broker that is
    /// down only delays delivery. `service` names the connection in the broker's management UI
    /// and is the first part of this service's queue names.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub fn connect(config: &BusConfig, service: &'static str) -> Self {
        let (state, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            url: config.url.clone(),
            service,
            namespace: config.namespace.clone(),
            op_timeout: Duration::from_millis(config.publish_timeout_ms),
            reconnect_max: Duration::from_millis(config.reconnect_max_ms),
            state,
            queues: Mutex::new(Vec::new()),
            suspect: Notify::new(),
        });
        let stop = CancellationToken::new();
        tokio::spawn(supervise(Arc::clone(&shared), stop.clone()));
        Self {
            shared,
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// True while a connection to the broker is up (for `/readyz`).
    pub async fn is_connected(&self) -> bool {
        self.shared
            .state
            .borrow()
            .as_ref()
            .is_some_and(|link| link.connection.status().connected())
    }

    /// The service this bus belongs to.
    pub fn service(&self) -> &'static str {
        self.shared.service
    }

    /// The prefix of every exchange and queue name.
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// How long a single broker operation may take (`bus.publish_timeout_ms`).
    pub fn op_timeout(&self) -> Duration {
        self.shared.op_timeout
    }

    /// A new channel on the current connection; `common.bus_unavailable` while disconnected.
    pub async fn channel(&self) -> Result<Channel, Error> {
        self.channel_with_generation()
            .await
            .map(|(channel, _)| channel)
    }

    /// A new channel and the generation of the connection it belongs to, for
    /// [`Bus::report_suspect`].
    pub(crate) async fn channel_with_generation(&self) -> Result<(Channel, u64), Error> {
        let link = self
            .shared
            .state
            .borrow()
            .clone()
            .ok_or_else(|| unavailable("opening a channel", "not connected"))?;
        match tokio::time::timeout(self.shared.op_timeout, link.connection.create_channel()).await {
            Ok(Ok(channel)) => Ok((channel, link.generation)),
            Ok(Err(e)) => Err(unavailable("opening a channel", e)),
            Err(_) => {
                self.report_suspect(link.generation);
                Err(timed_out("opening a channel"))
            }
        }
    }

    /// Waits until connected; the connection's generation, or `None` once `shutdown` fires.
    pub(crate) async fn wait_connected(&self, shutdown: &CancellationToken) -> Option<u64> {
        let mut state = self.shared.state.subscribe();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => None,
            link = state.wait_for(Option::is_some) => {
                link.ok().and_then(|link| link.as_ref().map(|l| l.generation))
            }
        }
    }

    /// Tells the supervisor that an operation on connection `generation` hung, so the link is
    /// probably dead even though the socket has not said so; it is then replaced.
    pub(crate) fn report_suspect(&self, generation: u64) {
        let current = self.shared.state.borrow().as_ref().map(|l| l.generation);
        if current == Some(generation) {
            self.shared.suspect.notify_one();
        }
    }

    /// Declares a consumer's queue on `channel` now and remembers it, so that it is declared
    /// again after every reconnect.
    pub(crate) async fn declare_queue(
        &self,
        channel: &Channel,
        spec: &QueueSpec,
    ) -> Result<(), Error> {
        if let Ok(mut queues) = self.shared.queues.lock()
            && !queues.contains(spec)
        {
            queues.push(spec.clone());
        }
        let declare = async {
            topology::declare_exchanges(channel, &self.shared.namespace).await?;
            topology::declare_queue(channel, &self.shared.namespace, spec).await
        };
        tokio::time::timeout(self.shared.op_timeout, declare)
            .await
            .map_err(|_| timed_out("declaring a queue"))?
    }
}

/// Keeps one connection up until the last [`Bus`] is dropped.
async fn supervise(shared: Arc<Shared>, stop: CancellationToken) {
    let mut failures: u32 = 0;
    let mut generation: u64 = 0;
    loop {
        let opened = tokio::select! {
            () = stop.cancelled() => break,
            opened = open(&shared) => opened,
        };
        match opened {
            Ok(connection) => {
                failures = 0;
                generation += 1;
                let connection = Arc::new(connection);
                let events = connection.events_listener();
                shared.state.send_replace(Some(Link {
                    connection: Arc::clone(&connection),
                    generation,
                }));
                tracing::info!(service = shared.service, generation, "bus connected");
                let ended = watch_link(&shared, &connection, events, &stop).await;
                shared.state.send_replace(None);
                match ended {
                    Ended::Stopped => {
                        let close = connection.close(200, "shutdown".into());
                        let _ = tokio::time::timeout(shared.op_timeout, close).await;
                        break;
                    }
                    Ended::Lost(reason) => {
                        tracing::warn!(
                            service = shared.service,
                            generation,
                            reason,
                            "bus connection lost; reconnecting"
                        );
                    }
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let cause = error.cause().map(|c| format!("{c:#}")).unwrap_or_default();
                tracing::warn!(
                    service = shared.service,
                    attempt = failures,
                    cause,
                    "bus connection failed; retrying"
                );
            }
        }
        let delay = backoff::delay(RECONNECT_BASE, failures, shared.reconnect_max);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    shared.state.send_replace(None);
}

/// Connects and declares the whole topology, within the operation timeout.
async fn open(shared: &Shared) -> Result<Connection, Error> {
    // The parse error may quote the URL, which can hold a password: it is not kept.
    let mut uri: AMQPUri = shared
        .url
        .expose()
        .parse()
        .map_err(|_| unavailable("bus.url", "not a valid AMQP URL (value hidden)"))?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(HEARTBEAT_SECS);
    }
    let properties = ConnectionProperties::default().with_connection_name(shared.service.into());
    let connect = async {
        let connection = Connection::connect_uri(uri, properties)
            .await
            .map_err(|e| unavailable("connecting", e))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| unavailable("opening a channel", e))?;
        topology::declare_exchanges(&channel, &shared.namespace).await?;
        let queues = shared.queues.lock().map(|q| q.clone()).unwrap_or_default();
        for spec in &queues {
            topology::declare_queue(&channel, &shared.namespace, spec).await?;
        }
        let _ = channel.close(200, "declared".into()).await;
        Ok(connection)
    };
    tokio::time::timeout(shared.op_timeout, connect)
        .await
        .map_err(|_| timed_out("connecting"))?
}

/// Waits until the connection is lost or the bus is stopped.
async fn watch_link(
    shared: &Shared,
    connection: &Connection,
    events: impl futures::Stream<Item = Event> + Send,
    stop: &CancellationToken,
) -> Ended {
    let mut events = std::pin::pin!(events);
    let mut status = tokio::time::interval(STATUS_CHECK);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            event = events.next() => match event {
                Some(Event::Error(error)) => return Ended::Lost(error.to_string()),
                None => return Ended::Lost("connection events ended".into()),
                Some(_) => {}
            },
            () = shared.suspect.notified() => {
                return Ended::Lost("a broker operation timed out".into());
            }
            _ = status.tick() => {
                if !connection.status().connected() {
                    return Ended::Lost("connection no longer connected".into());
                }
            }
        }
    }
}
