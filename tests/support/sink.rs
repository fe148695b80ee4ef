//! A notification sink on loopback: records every request (headers, body) and answers each with
//! the next status of a script, then with a default. Can be bound to a port chosen before it
//! starts, to play an endpoint that is down and comes up later.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the sink received JSON")
    }
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<(u16, String)>>,
    default: Mutex<(u16, String)>,
    received: Mutex<Vec<Received>>,
    stop: AtomicBool,
}

pub struct Sink {
    pub port: u16,
    state: Arc<State>,
}

impl Sink {
    /// Starts on a free port, answering `default` (status, body) once `script` is used up.
    pub fn start(script: &[(u16, &str)], default: (u16, &str)) -> Sink {
        Sink::start_on(crate::common::free_port(), script, default)
    }

    pub fn start_on(port: u16, script: &[(u16, &str)], default: (u16, &str)) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the sink");
        let state = Arc::new(State::default());
        *state.script.lock().unwrap() = script.iter().map(|(c, b)| (*c, b.to_string())).collect();
        *state.default.lock().unwrap() = (default.0, default.1.to_string());
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
        Sink { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (within `within`), returns them all.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the sink got {} request(s), expected {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops accepting (the port is closed once the accept loop sees the next connection).
    pub fn stop(&self) {
        self.state.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(conn: TcpStream, s: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    s.received.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    let (code, text) = s
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| s.default.lock().unwrap().clone());
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}
