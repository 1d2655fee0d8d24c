//! A real TCP proxy on loopback for fault injection between a client and a
//! server (here: the Redis backend and `redis-server`). It forwards bytes
//! both ways unchanged until told to [swallow the next
//! reply](TcpProxy::swallow_next_reply): then the next bytes the server
//! sends on any proxied connection are dropped and that connection is
//! closed on both sides, which is exactly "the server executed the command
//! but the client never heard back". Include it with
//! `#[path = "support/tcp_proxy.rs"] mod tcp_proxy;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A running proxy; dropping it closes the listener and every connection.
pub(crate) struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    swallow: AtomicBool,
    swallowed: AtomicUsize,
    accepted: AtomicUsize,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept(listener, upstream, Arc::clone(&state)));
        Self { addr, state, task }
    }

    /// The proxy's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://<proxy address>/`
    pub(crate) fn redis_url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Drops the next reply the server sends and closes that connection.
    pub(crate) fn swallow_next_reply(&self) {
        self.state.swallow.store(true, Ordering::SeqCst);
    }

    /// How many replies were swallowed so far.
    pub(crate) fn swallowed(&self) -> usize {
        self.state.swallowed.load(Ordering::SeqCst)
    }

    /// How many client connections the proxy accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Dropping the accept task drops its `JoinSet`, which aborts every
        // connection task.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        state.accepted.fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(&state);
        connections.spawn(async move {
            if let Ok(server) = TcpStream::connect(upstream).await {
                forward(client, server, &state).await;
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
}

/// Pumps both directions until either side closes, or a reply is swallowed.
async fn forward(mut client: TcpStream, mut server: TcpStream, state: &State) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upstream = tokio::io::copy(&mut client_read, &mut server_write);
    let downstream = async {
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if state.swallow.swap(false, Ordering::SeqCst) {
                state.swallowed.fetch_add(1, Ordering::SeqCst);
                return; // both sockets close when `forward` returns
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        () = downstream => {}
    }
}
