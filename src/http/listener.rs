//! The accept loop of both listeners: the connection table (a cap per listener and per client,
//! see `connections`), HTTP/1 with a header size limit, the header-read and idle timeouts,
//! optional TLS, and graceful shutdown (stop accepting, let requests in flight finish).
//!
//! Each connection is its own task, so a slow client holds a socket and a little memory, never a
//! worker thread. Connections are accepted as fast as they come and admitted or closed by the
//! table, so one client filling the listener cannot keep others waiting in the kernel backlog.
//!
//! The two timeouts (enforced by `Timed`, under TLS when there is TLS):
//! - header read: from the first byte of a request head to its end; a trickled head is cut off
//!   however steadily it trickles;
//! - idle: no traffic while no request head is arriving (a new connection that has sent
//!   nothing, a keep-alive connection between requests) or while a request is served.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::connections::{Activity, Bounds, Phase, Table};
use super::tls::TlsConfig;

/// How long a connection closed to make room may take to finish what it is writing.
const SHED_GRACE: Duration = Duration::from_millis(500);

/// Connection limits of one listener.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections per listener; the last eighth is kept for clients holding none.
    pub max_connections: usize,
    /// Open connections per client (IPv4 address or IPv6 /64).
    pub max_connections_per_client: usize,
    /// Time allowed from the first byte of a request head to its end.
    pub header_read_timeout: Duration,
    /// A connection with no traffic this long, and no request head arriving, is closed.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), counted on the bytes received.
    pub max_header_bytes: usize,
    pub tls_handshake_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` turns true, then waits for the connections in
/// flight to finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<TlsConfig>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let table = Table::new(Bounds {
        max_connections: limits.max_connections,
        max_per_client: limits.max_connections_per_client,
    });
    let tasks = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Some(slot) = table.admit(peer.ip()) else {
            // Full, and every connection that could give way is serving a request: closing
            // at once costs the client a retry; queueing would let the full client decide
            // when anyone else is served.
            tracing::debug!(%peer, "connection refused: no room");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let limits = limits.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let activity = slot.activity.clone();
            let io = Timed::new(stream, activity.clone(), &limits);
            match tls {
                None => serve_connection(io, peer, router, &limits, activity, shutdown).await,
                Some(tls) => {
                    let acceptor = tls.acceptor();
                    let handshake =
                        tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(io));
                    let shaken = tokio::select! {
                        r = handshake => Some(r),
                        _ = activity.shed() => None,
                    };
                    match shaken {
                        Some(Ok(Ok(stream))) => {
                            // The handshake's bytes were no request head.
                            activity.now_idle();
                            serve_connection(stream, peer, router, &limits, activity, shutdown)
                                .await
                        }
                        Some(Ok(Err(e))) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                        }
                        Some(Err(_)) => tracing::debug!(%peer, "TLS handshake timed out"),
                        None => tracing::debug!(%peer, "closed during TLS handshake to make room"),
                    }
                }
            }
            drop(slot);
        });
    }
    tasks.close();
    tasks.wait().await;
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: &Limits,
    activity: Arc<Activity>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        in_service.request_started();
        let answered = Answered(in_service.clone());
        let response = router.clone().oneshot(req);
        async move {
            let r = response.await;
            drop(answered);
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Both timeouts are `Timed`'s: hyper's header timer starts when it waits for a head,
        // which on a keep-alive connection is the idle time between requests.
        .header_read_timeout(None)
        // Counted on the head as parsed, however many bytes one read brought in.
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        _ = activity.shed() => {
            tracing::debug!(%peer, "connection closed to make room for another");
            conn.as_mut().graceful_shutdown();
            // A request that started meanwhile is finished; anything else (a head still
            // arriving, a new connection that never spoke) gets only a moment.
            if activity.phase() == Phase::Busy {
                let _ = conn.await;
            } else {
                let _ = tokio::time::timeout(SHED_GRACE, conn).await;
            }
        }
    }
}

/// Marks the connection idle when the service has answered (or was dropped).
struct Answered(Arc<Activity>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.now_idle();
    }
}

/// A stream that fails a read with `TimedOut` when the connection's current phase has run out
/// of time: a request head not complete `header_read_timeout` after its first byte, or no
/// traffic for `idle_timeout` otherwise. Reads report arriving bytes to the `Activity`.
pub struct Timed<S> {
    inner: S,
    activity: Arc<Activity>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    last_traffic: Instant,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Timed<S> {
    pub fn new(inner: S, activity: Arc<Activity>, limits: &Limits) -> Self {
        let now = Instant::now();
        Timed {
            inner,
            activity,
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            last_traffic: now,
            deadline: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
        }
    }

    /// The deadline of the current phase, and what running out of it means.
    fn current_deadline(&self) -> (Instant, &'static str) {
        match self.activity.phase() {
            Phase::Head => (
                Instant::from_std(self.activity.since()) + self.header_read_timeout,
                "request head not received within --header-read-timeout",
            ),
            // Traffic while serving is the answer being written; a request that started
            // after the last traffic restarts the count.
            Phase::Busy | Phase::Idle => (
                self.last_traffic
                    .max(Instant::from_std(self.activity.since()))
                    + self.idle_timeout,
                "connection idle for longer than --idle-timeout",
            ),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.last_traffic = Instant::now();
                    self.activity.bytes_arrived();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let (deadline, why) = self.current_deadline();
                if self.deadline.deadline() != deadline {
                    self.deadline.as_mut().reset(deadline);
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.last_traffic = Instant::now();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
