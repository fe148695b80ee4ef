//! Issue 17 items 4-6: the public listener's connection table, header size limit and timeouts.
//! "Another client" is another loopback address (127.0.0.2, 127.0.0.3, ...): each raw
//! connection binds its source address before connecting.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::common::*;

fn setup(extra: &[&str]) -> (tempfile::TempDir, Server, String) {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start(&[dir.path()], extra);
    let path = s.receiver_path("azure-wh-receiver");
    (dir, s, path)
}

/// A connection to the webhook listener from source address 127.0.0.`last`.
fn connect_from(last: u8, port: u16) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::from(([127, 0, 0, last], 0)).into())
        .expect("bind source address");
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// GET `path` on a kept-alive connection; the status, or None if the server closed it.
fn get(c: &mut TcpStream, path: &str) -> Option<u16> {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    read_response(c)
}

/// Reads one response (head and Content-Length body); its status, or None on EOF or error.
fn read_response(c: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    c.read_exact(&mut body).ok()?;
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok())
}

/// True once the server has closed `c` (EOF or reset), waiting at most `within`; false if the
/// connection is still open then. Never reads past nothing: only for connections with no
/// answer pending.
fn closed_by_server(c: &TcpStream, within: Duration) -> bool {
    c.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 1];
    let closed = match c.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    closed
}

fn http_from(last: u8) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, last]))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Item 4. Before: 40 slow connections from one address filled `--max-connections 16`, and
/// requests from other addresses waited in the backlog until the slow ones timed out.
#[test]
fn one_address_cannot_hold_every_connection() {
    let (_d, s, path) = setup(&[
        "--max-connections",
        "16",
        "--max-connections-per-client",
        "4",
        "--header-read-timeout",
        "30s",
    ]);
    let port = s.port;
    let stop = Arc::new(AtomicBool::new(false));
    // 40 connections from 127.0.0.5 that each send part of a request head and stall; any the
    // server closes is opened again at once.
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let open_one = || {
                let mut c = connect_from(5, port);
                let _ = c.write_all(b"POST /azure/slow HTTP/1.1\r\nHost: slow\r\n");
                c
            };
            let mut conns: Vec<TcpStream> = (0..40).map(|_| open_one()).collect();
            let mut reopened = 0;
            while !stop.load(Ordering::Relaxed) {
                for c in conns.iter_mut() {
                    if closed_by_server(c, Duration::from_millis(1)) {
                        *c = open_one();
                        reopened += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Let the server settle on the last reopened ones, then count what it kept.
            std::thread::sleep(Duration::from_millis(500));
            let kept = conns
                .iter()
                .filter(|c| !closed_by_server(c, Duration::from_millis(50)))
                .count();
            (reopened, kept)
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    let pusher = http_from(2);
    for i in 0..10 {
        let resp = pusher
            .post(s.url(&path))
            .header(ACR_UA.0, ACR_UA.1)
            .header("Content-Type", "application/json")
            .body(acr_push(
                &format!("conn-cap-{i}"),
                "myregistry.azurecr.io",
                "app",
                "1.0.0",
            ))
            .send();
        let status = resp.map(|r| r.status().as_u16());
        assert_eq!(
            status.as_ref().ok(),
            Some(&200),
            "push {i} from another address: {status:?}"
        );
    }
    let health = http_from(3).get(s.url("/healthz")).send();
    let health = health.map(|r| r.status().as_u16());
    assert_eq!(health.as_ref().ok(), Some(&200), "{health:?}");

    stop.store(true, Ordering::Relaxed);
    let (reopened, kept) = attacker.join().unwrap();
    assert!(reopened > 0, "the server closed none of the 40");
    assert!(kept <= 4, "127.0.0.5 kept {kept} connections open");
    assert!(kept >= 1, "127.0.0.5 kept none");
}

/// Item 4. Before: a fifth connection waited in the backlog behind four idle keep-alive ones.
#[test]
fn a_full_listener_closes_the_connection_idle_longest() {
    // Four slots (the harness's readiness probe holds one). Long header-read timeout: idle
    // connections must be closed to make room, not because a timer ran out.
    let (_d, s, _path) = setup(&["--max-connections", "4", "--header-read-timeout", "30s"]);
    let mut held = Vec::new();
    for last in [11, 12, 13, 14] {
        let mut c = connect_from(last, s.port);
        assert_eq!(get(&mut c, "/healthz"), Some(200), "from 127.0.0.{last}");
        held.push(c);
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut newcomer = connect_from(15, s.port);
    assert_eq!(get(&mut newcomer, "/healthz"), Some(200));
    assert!(
        closed_by_server(&held[0], Duration::from_secs(5)),
        "the connection idle longest (127.0.0.11) is closed"
    );
    assert_eq!(get(&mut held[1], "/healthz"), Some(200), "127.0.0.12 kept");
}

/// Item 4. A client over `--max-connections-per-client` makes room among its own idle
/// connections; when all its connections are serving requests, its new one is closed, and
/// other clients are still served.
#[test]
fn a_client_over_its_cap_gives_way_to_itself() {
    let (_d, s, path) = setup(&[
        "--max-connections-per-client",
        "2",
        "--request-timeout",
        "30s",
    ]);
    let mut a = connect_from(21, s.port);
    assert_eq!(get(&mut a, "/healthz"), Some(200));
    std::thread::sleep(Duration::from_millis(20));
    let mut b = connect_from(21, s.port);
    assert_eq!(get(&mut b, "/healthz"), Some(200));
    let mut c = connect_from(21, s.port);
    assert_eq!(get(&mut c, "/healthz"), Some(200));
    assert!(
        closed_by_server(&a, Duration::from_secs(5)),
        "127.0.0.21's oldest idle connection gives way"
    );
    assert_eq!(get(&mut b, "/healthz"), Some(200));

    // Two requests of 127.0.0.22 in progress (bodies not finished): its third connection has
    // nowhere to go.
    let busy: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = connect_from(22, s.port);
            c.write_all(
                format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{")
                    .as_bytes(),
            )
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let third = connect_from(22, s.port);
    assert!(
        closed_by_server(&third, Duration::from_secs(5)),
        "a third connection of 127.0.0.22 is closed"
    );
    for c in &busy {
        assert!(
            !closed_by_server(c, Duration::from_millis(200)),
            "requests in progress are never closed for room"
        );
    }
    let mut other = connect_from(23, s.port);
    assert_eq!(get(&mut other, "/healthz"), Some(200));
}

/// A request head of exactly `len` bytes.
fn head_of(len: usize) -> Vec<u8> {
    let start = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ";
    let end = "\r\n\r\n";
    let fill = len - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(fill)).into_bytes()
}

/// Item 5. Before: a 114 KB head sent in one write was answered 200 with
/// `--max-header-bytes 65536` (only heads that arrived in pieces were counted).
#[test]
fn the_header_limit_counts_the_bytes_received_in_one_write() {
    let (_d, s, path) = setup(&["--max-header-bytes", "65536"]);
    for (len, want) in [(114_000, 431), (65_537, 431), (65_536, 200), (1_000, 200)] {
        let mut c = connect_from(1, s.port);
        c.write_all(&head_of(len)).unwrap();
        assert_eq!(read_response(&mut c), Some(want), "a head of {len} bytes");
    }
    // In pieces, as before.
    let mut c = connect_from(1, s.port);
    for piece in head_of(70_000).chunks(4096) {
        if c.write_all(piece).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_response(&mut c), Some(431));
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("after-431", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(status, 200, "{body}");
}

/// Item 6. Before: a keep-alive connection was closed at `--header-read-timeout` (hyper's
/// header timer runs while it waits for the next request), so `--idle-timeout` never applied.
#[test]
fn idle_connections_live_until_the_idle_timeout() {
    let (_d, s, _path) = setup(&["--header-read-timeout", "1s", "--idle-timeout", "4s"]);
    let mut kept_alive = connect_from(31, s.port);
    let mut silent = connect_from(32, s.port);
    assert_eq!(get(&mut kept_alive, "/healthz"), Some(200));
    // Idle well past the header-read timeout, within the idle timeout.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        get(&mut kept_alive, "/healthz"),
        Some(200),
        "a keep-alive connection idle 2.5 s (header-read timeout 1 s, idle 4 s)"
    );
    assert_eq!(
        get(&mut silent, "/healthz"),
        Some(200),
        "a new connection whose first request comes after 2.5 s"
    );
    // Past the idle timeout: closed by the server.
    assert!(
        closed_by_server(&kept_alive, Duration::from_secs(10)),
        "an idle connection is closed after --idle-timeout"
    );
}

/// Item 6. The header-read timeout runs from a head's first byte to its end, however steadily
/// the head trickles in (each byte is traffic, so the idle timeout never fires).
#[test]
fn a_trickled_request_head_is_cut_off_at_the_header_read_timeout() {
    let (_d, s, _path) = setup(&["--header-read-timeout", "1s", "--idle-timeout", "30s"]);
    let mut c = connect_from(41, s.port);
    let head = head_of(200);
    let started = Instant::now();
    let mut sent = 0;
    let mut closed = false;
    // One byte every 100 ms: the whole head would take 20 s.
    while sent < head.len() {
        if c.write_all(&head[sent..sent + 1]).is_err()
            || closed_by_server(&c, Duration::from_millis(100))
        {
            closed = true;
            break;
        }
        sent += 1;
    }
    assert!(
        closed,
        "the whole head was accepted after {:?}",
        started.elapsed()
    );
    assert!(sent < head.len());
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(
        !String::from_utf8_lossy(&rest).contains(" 200 "),
        "no answer to a head cut off"
    );
}
