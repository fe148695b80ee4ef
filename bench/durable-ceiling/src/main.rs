//! The durable ceiling of the ingest benchmark: the least a webhook endpoint can do on this
//! machine and still make every 2xx durable. Accept, read the whole body, hand it to one writer
//! thread over a channel, and answer 200 only after the writer appended it to a file and
//! `fdatasync`ed it. The writer group-commits: it takes every body waiting, appends them with one
//! write, syncs once and then answers each request on its own oneshot channel — the same round
//! trip dockhand's store writer makes, with no parsing, no index and no SQL.
//!
//! Usage: `durable-ceiling 127.0.0.1:PORT [FILE]` (FILE defaults to `durable-ceiling.log` in the
//! system's temporary directory; it is truncated at start and whenever it reaches 64 MiB).

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One body waiting to be made durable, and where to say it is.
type Job = (Bytes, oneshot::Sender<std::io::Result<()>>);

/// Bodies the writer appends in one batch at most, as dockhand's store writer.
const MAX_BATCH: usize = 512;

/// The file is started over when it reaches this size, so a long run does not fill the disk
/// (dockhand's store is bounded too); a truncation every few seconds is noise beside a sync per
/// batch.
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// Appends every waiting body with one write, syncs once, then answers each.
fn writer(mut file: std::fs::File, rx: mpsc::Receiver<Job>) {
    let mut written: u64 = 0;
    let mut buf = Vec::with_capacity(1 << 20);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        buf.clear();
        for (body, _) in &batch {
            // Length-prefixed records, so the file could be read back.
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(body);
        }
        if written + buf.len() as u64 > MAX_FILE {
            // Opened with append: the next write lands at the new end.
            if file.set_len(0).is_ok() {
                written = 0;
            }
        }
        written += buf.len() as u64;
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}

async fn answer(
    req: Request<Incoming>,
    tx: mpsc::SyncSender<Job>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST, "{\"error\":\"read\"}")),
    };
    let len = body.len();
    let (reply, done) = oneshot::channel();
    if tx.try_send((body, reply)).is_err() {
        return Ok(status(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"error\":\"busy\"}",
        ));
    }
    match done.await {
        Ok(Ok(())) => Ok(status(StatusCode::OK, &format!("{{\"stored\":{len}}}"))),
        _ => Ok(status(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"error\":\"not stored\"}",
        )),
    }
}

fn status(code: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:18091".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("durable-ceiling.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.set_len(0)?;
    // Bounded as dockhand's write queue: a full queue answers 503 instead of growing.
    let (tx, rx) = mpsc::sync_channel::<Job>(16_384);
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || writer(file, rx))?;
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |req| answer(req, tx.clone())),
                )
                .await;
        });
    }
}
