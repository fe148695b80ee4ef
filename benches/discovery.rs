//! Discovery cost for a repository with 10,000 tags, SemVer selection: the CPU time dockhand's
//! discovery spends (tag list pages parsed, tags filtered and ordered, the best 20 resolved to
//! digests), measured on the discovering thread only, so the registry's side (a small server
//! thread in this process, answering pre-rendered pages) is not counted.
//!
//! `cargo bench --bench discovery` — prints one line per measurement; BENCHMARKS.md keeps them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockhand::discovery::{image, Discovery, Settings};
use dockhand_core::config::{ImageSelectionStrategy, ImageSubscription};
use dockhand_core::matching::semver::Constraint;

const TAGS: usize = 10_000;
const PAGE: usize = 1_000;
const RUNS: usize = 15;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn tags() -> Vec<String> {
    (0..TAGS)
        .map(|i| format!("v{}.{}.{}", i / 1000, (i / 10) % 100, i % 10))
        .collect()
}

/// Pre-rendered responses by request target: the tag list in pages joined by `Link`, and one
/// manifest for every tag.
fn responses(tags: &[String]) -> HashMap<String, Vec<u8>> {
    let mut map = HashMap::new();
    let base = "/v2/team/app/tags/list";
    for (i, chunk) in tags.chunks(PAGE).enumerate() {
        let target = if i == 0 {
            format!("{base}?n={PAGE}")
        } else {
            format!("{base}?n={PAGE}&last={}", tags[i * PAGE - 1])
        };
        let body = serde_json::json!({"name": "team/app", "tags": chunk}).to_string();
        let link = if (i + 1) * PAGE < tags.len() {
            format!(
                "Link: <{base}?n={PAGE}&last={}>; rel=\"next\"\r\n",
                tags[(i + 1) * PAGE - 1]
            )
        } else {
            String::new()
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{link}\r\n{body}",
            body.len()
        );
        map.insert(target, resp.into_bytes());
    }
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:00","size":1},"layers":[]}"#;
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: sha256:0123\r\nContent-Length: {}\r\n\r\n{manifest}",
        manifest.len()
    );
    map.insert("manifest".into(), resp.into_bytes());
    map
}

fn serve(listener: TcpListener, responses: Arc<HashMap<String, Vec<u8>>>) {
    for conn in listener.incoming().flatten() {
        let responses = responses.clone();
        std::thread::spawn(move || connection(conn, &responses));
    }
}

fn connection(conn: TcpStream, responses: &HashMap<String, Vec<u8>>) {
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let key = if target.contains("/manifests/") {
            "manifest".to_string()
        } else {
            target
        };
        let resp = responses
            .get(&key)
            .map(Vec::as_slice)
            .unwrap_or(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        if out.write_all(resp).is_err() {
            return;
        }
    }
}

fn subscription(repo_url: String) -> ImageSubscription {
    ImageSubscription {
        constraint: Some("^5.0.0".into()),
        semver: Some(Constraint::parse("^5.0.0").expect("constraint")),
        ..ImageSubscription::new(repo_url, ImageSelectionStrategy::SemVer)
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tags = tags();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let responses = Arc::new(responses(&tags));
    std::thread::spawn(move || serve(listener, responses));
    let sub = subscription(format!("127.0.0.1:{port}/team/app"));

    // Selection alone (pure): filter by the constraint, order by version.
    let mut selection = Vec::new();
    for _ in 0..RUNS {
        let cpu = thread_cpu();
        let chosen = image::candidates(&sub, &tags);
        selection.push(thread_cpu() - cpu);
        assert_eq!(chosen.first().copied(), Some("v5.99.9"));
    }

    // Whole discovery over loopback HTTP on a current-thread runtime, so its CPU is this thread's.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Discovery::new(Settings::new(dir.path().to_path_buf())).expect("discovery");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut cpu_times = Vec::new();
    let mut wall_times = Vec::new();
    for _ in 0..RUNS {
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let images = rt
            .block_on(image::discover(&d, &sub, None))
            .expect("discover");
        cpu_times.push(thread_cpu() - cpu);
        wall_times.push(wall.elapsed());
        assert_eq!(images.len(), 20);
        assert_eq!(images[0].tag, "v5.99.9");
    }
    println!(
        "discovery/semver-select 10000 tags: median {:.2} ms CPU ({RUNS} runs)",
        median(selection).as_secs_f64() * 1e3
    );
    println!(
        "discovery/image 10000 tags, 10 pages, 20 digests: median {:.2} ms CPU on the discovering thread, {:.2} ms wall ({RUNS} runs)",
        median(cpu_times).as_secs_f64() * 1e3,
        median(wall_times).as_secs_f64() * 1e3
    );
}
