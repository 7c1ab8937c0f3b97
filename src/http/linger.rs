//! The listener the server accepts on: TCP connections whose close lingers
//! while the client is still sending.
//!
//! A request answered before its body was read (a 413 for an oversized
//! upload) leaves the client's data unread. hyper then stops reading, sends
//! the answer and shuts the connection down; but a socket closed with
//! unread input makes the kernel send a reset rather than a FIN, and a
//! client still writing gets EPIPE or ECONNRESET, often before it has read
//! the answer that was already on the wire (Node's HTTP client reports the
//! write error and never shows the 413). So at shutdown these connections
//! half-close (the FIN follows the answer), then read and discard what
//! keeps coming until the client closes or [`LINGER`] passes: the
//! "lingering close" of Apache and nginx. It happens when a handler asked
//! for it ([`Linger::arm`]) or when unread input is waiting at shutdown (a
//! close would reset); any other connection closes at once, as before.

use std::{
    convert::Infallible,
    future::{Future, Ready, ready},
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Extension, Router,
    extract::ConnectInfo,
    middleware::AddExtension,
    serve::{IncomingStream, Listener},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Sleep,
};
use tower::{Layer, Service};

/// How long a closing connection keeps discarding input at most. A client
/// reads the answer within a round trip of it being sent; this only has to
/// outlast the writes it makes before it notices.
pub const LINGER: Duration = Duration::from_secs(2);

/// Bytes discarded per read while lingering.
const SCRATCH: usize = 8 * 1024;

/// A TCP listener whose connections linger on close (see the module docs).
pub struct LingeringListener(TcpListener);

impl LingeringListener {
    /// Wraps a bound listener.
    pub fn new(listener: TcpListener) -> Self {
        Self(listener)
    }
}

impl Listener for LingeringListener {
    type Io = Lingering<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop: it retries, and backs off on errors such
        // as running out of file descriptors.
        let (stream, addr) = <TcpListener as Listener>::accept(&mut self.0).await;
        // Every write is a whole message (a response, or a socket's batch of
        // WebSocket frames flushed at once): Nagle's algorithm would only
        // hold the next one back until the client acknowledges the last.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY");
        }
        (Lingering::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A request extension: asks the connection the request came on to linger
/// when it closes, whether or not input is waiting at that moment.
#[derive(Debug, Clone, Default)]
pub struct Linger(Arc<AtomicBool>);

impl Linger {
    /// Marks the connection: it will drain the client's input before it
    /// closes. For answers sent without reading the whole body.
    pub fn arm(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Arms the linger of the connection `extensions`' request came on (a
    /// request from elsewhere, e.g. a test calling the router, has none).
    pub fn arm_for(extensions: &axum::http::Extensions) {
        if let Some(linger) = extensions.get::<Self>() {
            linger.arm();
        }
    }

    fn armed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Where a connection is in its close.
enum Close {
    /// Not shutting down.
    Open,
    /// Write side shut: is input waiting?
    Probing,
    /// Discarding input until the client closes or the deadline passes.
    Draining(Pin<Box<Sleep>>),
    /// Done: the socket may be dropped.
    Closed,
}

/// A connection whose shutdown lingers (see the module docs).
pub struct Lingering<T> {
    io: T,
    linger: Linger,
    close: Close,
    /// [`LINGER`], shorter in unit tests.
    longest: Duration,
}

impl<T> Lingering<T> {
    /// Wraps an accepted connection.
    pub fn new(io: T) -> Self {
        Self {
            io,
            linger: Linger::default(),
            close: Close::Open,
            longest: LINGER,
        }
    }

    /// The handle requests on this connection carry.
    pub fn linger(&self) -> &Linger {
        &self.linger
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Lingering<T> {
    /// After the FIN: reads and discards until the end of input, an error,
    /// or the deadline; when probing, only while input is already waiting.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; SCRATCH];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    if let Close::Probing = self.close {
                        self.close = Close::Draining(Box::pin(tokio::time::sleep(self.longest)));
                    }
                    // A client sending faster than this reads must not
                    // keep it past the deadline.
                    if let Close::Draining(deadline) = &mut self.close
                        && deadline.as_mut().poll(cx).is_ready()
                    {
                        return Poll::Ready(());
                    }
                }
                // The client closed (or the connection broke): done.
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {
                    return match &mut self.close {
                        Close::Draining(deadline) => deadline.as_mut().poll(cx),
                        // Nothing unread: a close now sends a FIN, not a reset.
                        _ => Poll::Ready(()),
                    };
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Lingering<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.close {
                Close::Open => {
                    std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                    this.close = if this.linger.armed() {
                        Close::Draining(Box::pin(tokio::time::sleep(this.longest)))
                    } else {
                        Close::Probing
                    };
                }
                Close::Probing | Close::Draining(_) => {
                    std::task::ready!(this.poll_drain(cx));
                    this.close = Close::Closed;
                }
                Close::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The per-connection service: the router with the peer's address as
/// `ConnectInfo<SocketAddr>` and the connection's [`Linger`]. (axum's
/// `into_make_service_with_connect_info` provides the address only for its
/// own listener types.)
#[derive(Clone)]
pub struct MakeService(Router);

impl MakeService {
    /// Serves `router` on each connection.
    pub fn new(router: Router) -> Self {
        Self(router)
    }
}

/// What [`MakeService`] makes.
pub type ConnectionService = AddExtension<AddExtension<Router, Linger>, ConnectInfo<SocketAddr>>;

impl Service<IncomingStream<'_, LingeringListener>> for MakeService {
    type Response = ConnectionService;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, LingeringListener>) -> Self::Future {
        let with_linger = Extension(stream.io().linger().clone()).layer(self.0.clone());
        ready(Ok(
            Extension(ConnectInfo(*stream.remote_addr())).layer(with_linger)
        ))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test]
    async fn nothing_unread_closes_at_once() {
        let (server, mut client) = duplex(1024);
        let mut server = Lingering::new(server);
        tokio::time::timeout(Duration::from_millis(100), server.shutdown())
            .await
            .expect("no linger without input")
            .unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn waiting_input_is_drained_until_the_client_closes() {
        let (server, mut client) = duplex(64);
        let mut server = Lingering::new(server);
        client.write_all(b"unread").await.unwrap();
        let shutdown = tokio::spawn(async move { server.shutdown().await });
        // The client sees the end of the answer and can keep writing.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        for _ in 0..100 {
            client.write_all(&[b'x'; 64]).await.unwrap();
        }
        drop(client);
        tokio::time::timeout(Duration::from_millis(500), shutdown)
            .await
            .expect("ends when the client closes")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn an_armed_linger_waits_for_a_quiet_client_until_its_deadline() {
        let (server, _client) = duplex(64);
        let mut server = Lingering::new(server);
        server.longest = Duration::from_millis(200);
        server.linger().arm();
        let started = std::time::Instant::now();
        server.shutdown().await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    #[tokio::test]
    async fn a_client_sending_without_end_is_cut_off_at_the_deadline() {
        let (server, mut client) = duplex(64 * 1024);
        let mut server = Lingering::new(server);
        server.longest = Duration::from_millis(200);
        client.write_all(&[b'x'; 1024]).await.unwrap();
        let writer =
            tokio::spawn(async move { while client.write_all(&[b'x'; 1024]).await.is_ok() {} });
        tokio::time::timeout(Duration::from_secs(2), server.shutdown())
            .await
            .expect("the deadline ends the drain")
            .unwrap();
        drop(server);
        writer.await.unwrap();
    }
}
