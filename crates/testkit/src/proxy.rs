//! A small TCP proxy for fault tests. A service is pointed at the proxy instead of the real
//! server; the test then cuts, stalls, resets or restores the link without touching the shared
//! server other tests use.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::AbortHandle,
};

const PASS: u8 = 0;
const REFUSE: u8 = 1;
const STALL: u8 = 2;

struct State {
    mode: AtomicU8,
    accepted: AtomicU64,
    connections: Mutex<Vec<AbortHandle>>,
    changed: Notify,
}

/// A proxy listening on an ephemeral loopback port.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl TcpProxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy addr: {e}"));
        let state = Arc::new(State {
            mode: AtomicU8::new(PASS),
            accepted: AtomicU64::new(0),
            connections: Mutex::new(Vec::new()),
            changed: Notify::new(),
        });
        let accept_state = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accept_state.accepted.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&accept_state);
                let task = tokio::spawn(serve(client, upstream, Arc::clone(&state)));
                if let Ok(mut connections) = accept_state.connections.lock() {
                    connections.retain(|c| !c.is_finished());
                    connections.push(task.abort_handle());
                }
            }
        })
        .abort_handle();
        Self {
            addr,
            state,
            accept,
        }
    }

    /// Starts a proxy in front of `host:port` given as text (`127.0.0.1:6379`).
    pub async fn in_front_of(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .parse()
            .unwrap_or_else(|e| panic!("upstream {upstream}: {e}"));
        Self::start(upstream).await
    }

    /// The address to give the service.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections clients have opened through the proxy so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Drops every live connection and refuses new ones (they are closed at once): the server
    /// looks down.
    pub fn cut(&self) {
        self.state.mode.store(REFUSE, Ordering::SeqCst);
        self.drop_connections();
    }

    /// Keeps connections open but forwards nothing: the server looks hung.
    pub fn stall(&self) {
        self.state.mode.store(STALL, Ordering::SeqCst);
        self.drop_connections();
    }

    /// Drops every live connection once but keeps accepting new ones (a connection reset).
    pub fn reset_connections(&self) {
        self.drop_connections();
    }

    /// Forwards normally again.
    pub fn restore(&self) {
        self.state.mode.store(PASS, Ordering::SeqCst);
        self.state.changed.notify_waiters();
    }

    fn drop_connections(&self) {
        if let Ok(mut connections) = self.state.connections.lock() {
            for connection in connections.drain(..) {
                connection.abort();
            }
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.drop_connections();
    }
}

/// Waits while the link is stalled; false when it is cut.
async fn passing(state: &State) -> bool {
    loop {
        // Registered before the mode is read, so a `restore` in between still wakes it.
        let restored = state.changed.notified();
        tokio::pin!(restored);
        restored.as_mut().enable();
        match state.mode.load(Ordering::SeqCst) {
            PASS => return true,
            STALL => restored.await,
            _ => return false,
        }
    }
}

async fn serve(client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    if !passing(&state).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, Arc::clone(&state));
    let down = pump(server_read, client_write, state);
    tokio::select! {
        () = up => {},
        () = down => {},
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !passing(&state).await || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
