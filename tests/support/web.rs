//! A scriptable HTTP/1.1 server on loopback: each path answers what the test set last (status,
//! headers, body, or a silence that outlasts the client's timeout). Enough to play a chart
//! repository or a registry that misbehaves in ways a real one will not on demand.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Reply {
    /// Status, headers, body.
    Send(u16, Vec<(String, String)>, Vec<u8>),
    /// Declares `Content-Length: n` and sends nothing.
    Declare(u16, u64),
    /// Keeps the connection open without answering, for this long.
    Hang(Duration),
    /// The inner reply when the request's `Authorization` is exactly this; otherwise 401 with
    /// this `WWW-Authenticate` challenge.
    Auth {
        authorization: String,
        challenge: String,
        then: Box<Reply>,
    },
}

pub fn json(status: u16, body: &str) -> Reply {
    Reply::Send(
        status,
        vec![("Content-Type".into(), "application/json".into())],
        body.as_bytes().to_vec(),
    )
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Reply>>,
    hits: AtomicUsize,
    stop: AtomicBool,
}

pub struct Web {
    pub port: u16,
    state: Arc<State>,
}

impl Web {
    pub fn start() -> Web {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State::default());
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Web { port, state }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers `reply` for `path` (without query) from now on.
    pub fn route(&self, path: &str, reply: Reply) {
        self.state
            .routes
            .lock()
            .expect("routes")
            .insert(path.to_string(), reply);
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::Relaxed)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, state: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        let mut authorization = String::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("authorization") {
                    authorization = v.trim().to_string();
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        state.hits.fetch_add(1, Ordering::Relaxed);
        let path = target.split('?').next().unwrap_or("/").to_string();
        let reply = state.routes.lock().ok().and_then(|r| r.get(&path).cloned());
        let mut reply = reply.unwrap_or_else(|| json(404, r#"{"errors":[{"code":"NOT_FOUND"}]}"#));
        while let Reply::Auth {
            authorization: want,
            challenge,
            then,
        } = reply
        {
            reply = if want == authorization {
                *then
            } else {
                Reply::Send(
                    401,
                    vec![("WWW-Authenticate".into(), challenge)],
                    b"{}".to_vec(),
                )
            };
        }
        match reply {
            Reply::Send(status, headers, body) => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if out.write_all(head.as_bytes()).is_err() || out.write_all(&body).is_err() {
                    return;
                }
            }
            Reply::Declare(status, n) => {
                let _ = out.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: {n}\r\nContent-Type: application/json\r\n\r\n").as_bytes());
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Auth { .. } => return,
        }
    }
}
