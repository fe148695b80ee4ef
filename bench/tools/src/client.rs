//! A minimal keep-alive HTTP/1 client on hyper: the load generators need one connection per
//! worker and nothing else (no pool, no redirects, no TLS), so the client costs little CPU on a
//! machine it shares with the server under test.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Conn {
    addr: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn connect(addr: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            addr: addr.to_string(),
            sender,
        })
    }

    /// POSTs an ACR webhook (the headers ACR sends) and returns status and body.
    pub async fn post_acr(&mut self, path: &str, body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        let req = Request::post(path)
            .header(hyper::header::HOST, &self.addr)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "AzureContainerRegistry/1.0")
            .body(Full::new(body))?;
        self.send(req).await
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        let req = Request::get(path)
            .header(hyper::header::HOST, &self.addr)
            .body(Full::new(Bytes::new()))?;
        self.send(req).await
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// GETs a JSON document from the admin API on a fresh connection.
pub async fn get_json(addr: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let mut c = Conn::connect(addr).await?;
    let (status, body) = c.get(path).await?;
    anyhow::ensure!(status == 200, "GET {path}: status {status}");
    Ok(serde_json::from_slice(&body)?)
}
