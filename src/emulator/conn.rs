//! The emulator's TCP side: a listener that sets `TCP_NODELAY` on every accepted connection
//! (without it a keep-alive client waits ~40 ms per request on delayed ACKs), and a
//! stream wrapper through which a request's handler can break its own connection (`Drop`,
//! `LoseResponse`) or slow it to a trickle.
//!
//! Breaking happens below HTTP: once a connection is marked, its next read or write fails, so
//! hyper abandons it and the client sees a connection closed with no response, exactly as when
//! a network path dies.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::lock::lock;

const NORMAL: u8 = 0;
const KILLED: u8 = 1;
const TRICKLE: u8 = 2;

/// How long a trickling connection waits between bytes of the body.
const TRICKLE_INTERVAL: Duration = Duration::from_secs(1);

/// The control handle of one connection, shared between the stream and the request handlers.
#[derive(Debug, Default)]
pub(crate) struct ConnCtl {
    mode: AtomicU8,
    /// The task blocked in a trickle wait, woken when the connection is killed.
    waker: Mutex<Option<Waker>>,
}

impl ConnCtl {
    /// Breaks the connection: nothing more is read or written on it.
    pub fn kill(&self) {
        self.mode.store(KILLED, Ordering::SeqCst);
        let waker = lock(&self.waker).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// From the end of the next response's headers on, writes one byte per second.
    pub fn trickle(&self) {
        let _ = self
            .mode
            .compare_exchange(NORMAL, TRICKLE, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn mode(&self) -> u8 {
        self.mode.load(Ordering::SeqCst)
    }
}

/// What a handler sees of its connection (axum `ConnectInfo`).
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle(pub Arc<ConnCtl>);

impl Connected<IncomingStream<'_, ControlledListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, ControlledListener>) -> Self {
        ConnHandle(Arc::clone(&stream.io().ctl))
    }
}

/// Every live connection, so that shutdown can break the ones still busy (a trickle would
/// otherwise hold a graceful shutdown for minutes).
pub(crate) type ConnRegistry = Arc<Mutex<Vec<Weak<ConnCtl>>>>;

/// Kills every connection still open.
pub(crate) fn kill_all(registry: &ConnRegistry) {
    let conns = std::mem::take(&mut *lock(registry));
    for conn in conns.iter().filter_map(Weak::upgrade) {
        conn.kill();
    }
}

/// A TCP listener whose connections have `TCP_NODELAY` and a [`ConnCtl`].
#[derive(Debug)]
pub(crate) struct ControlledListener {
    inner: TcpListener,
    registry: ConnRegistry,
}

impl ControlledListener {
    pub fn new(inner: TcpListener, registry: ConnRegistry) -> Self {
        ControlledListener { inner, registry }
    }
}

impl Listener for ControlledListener {
    type Io = ControlledStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Best effort: a socket that refuses NODELAY still works, only slower.
                    let _ = stream.set_nodelay(true);
                    let ctl = Arc::new(ConnCtl::default());
                    let mut registry = lock(&self.registry);
                    registry.retain(|conn| conn.strong_count() > 0);
                    registry.push(Arc::downgrade(&ctl));
                    drop(registry);
                    let io = ControlledStream {
                        inner: stream,
                        ctl,
                        headers_done: false,
                        sleep: None,
                    };
                    return (io, addr);
                }
                // Per-connection errors (reset before accept) do not stop the listener; others
                // (out of file descriptors) get a pause, as axum's own listener does.
                Err(err) if is_connection_error(&err) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream that obeys its [`ConnCtl`].
#[derive(Debug)]
pub(crate) struct ControlledStream {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
    /// In trickle mode: whether the response's headers went out already.
    headers_done: bool,
    sleep: Option<Pin<Box<Sleep>>>,
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection broken by the emulator",
    )
}

impl AsyncRead for ControlledStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ctl.mode() == KILLED {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ControlledStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.ctl.mode() {
            KILLED => Poll::Ready(Err(broken())),
            TRICKLE => self.poll_trickle(cx, buf),
            _ => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctl.mode() == KILLED {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl ControlledStream {
    /// Writes the headers at once (so the client sees a prompt 200), then one body byte per
    /// [`TRICKLE_INTERVAL`].
    fn poll_trickle(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if !self.headers_done {
            let found = buf.windows(4).position(|w| w == b"\r\n\r\n");
            let end = found.map_or(buf.len(), |i| i + 4);
            let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[..end]))?;
            if found.is_some() && written == end {
                self.headers_done = true;
            }
            return Poll::Ready(Ok(written));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(TRICKLE_INTERVAL)));
        if sleep.as_mut().poll(cx).is_pending() {
            *lock(&self.ctl.waker) = Some(cx.waker().clone());
            // A kill between the mode check and storing the waker must not be missed.
            if self.ctl.mode() == KILLED {
                return Poll::Ready(Err(broken()));
            }
            return Poll::Pending;
        }
        self.sleep = None;
        Pin::new(&mut self.inner).poll_write(cx, &buf[..1])
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    async fn pair() -> (ControlledStream, TcpStream, ConnRegistry) {
        let registry = ConnRegistry::default();
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = ControlledListener::new(inner, Arc::clone(&registry));
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await;
        (server, client, registry)
    }

    #[tokio::test]
    async fn accepted_connections_have_nodelay() {
        let (server, _client, registry) = pair().await;
        assert!(
            server.inner.nodelay().unwrap(),
            "TCP_NODELAY must be set: without it a keep-alive client waits on delayed ACKs"
        );
        assert_eq!(registry.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_killed_connection_fails_both_ways_and_the_peer_sees_it_close() {
        let (mut server, mut client, registry) = pair().await;
        kill_all(&registry);
        assert!(server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.is_err());
        assert!(server.read(&mut [0; 8]).await.is_err());
        drop(server);
        let mut seen = Vec::new();
        let read = client.read_to_end(&mut seen).await;
        assert!(
            read.is_err() || seen.is_empty(),
            "nothing was written: {seen:?}"
        );
    }

    #[tokio::test]
    async fn a_trickle_sends_headers_then_one_byte_per_interval() {
        let (mut server, mut client, _registry) = pair().await;
        server.ctl.trickle();
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody";
        let written = server.write(response).await.unwrap();
        assert_eq!(written, response.len() - 4, "the headers go out at once");
        let started = tokio::time::Instant::now();
        assert_eq!(server.write(b"body").await.unwrap(), 1);
        assert!(started.elapsed() >= TRICKLE_INTERVAL);
        let mut head = vec![0; written + 1];
        client.read_exact(&mut head).await.unwrap();
        assert!(head.ends_with(b"\r\n\r\nb"));
    }
}
