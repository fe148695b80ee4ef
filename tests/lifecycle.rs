//! The service's lifecycle, end to end on the real binary: the reload watcher keeps working with
//! symlink loops in the configuration folder, and SIGTERM always ends the process within
//! `--shutdown-timeout` plus one second.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[cfg(unix)]
#[test]
fn symlink_loops_in_the_config_folder_neither_stop_reload_nor_shutdown() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("sub/keep.txt", "")]);
    // Two loops: a link to the folder itself and one from a subfolder back to it. A walker
    // without a loop guard goes down both and multiplies (a, a/b, b/a, ...) until paths are
    // too long, over and over.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/back")).unwrap();

    let mut s = Server::start(&[dir.path()], &["--shutdown-timeout", "2s"]);
    assert!(s
        .admin_get("/api/v1/warehouses")
        .as_array()
        .unwrap()
        .is_empty());

    // A changed YAML is still picked up by the watcher.
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    std::fs::write(dir.path().join("w.yaml"), &wh).unwrap();
    s.wait_for("reload", |s| {
        s.admin_get("/api/v1/warehouses").as_array().unwrap().len() == 1
    });

    let asked = Instant::now();
    s.signal("TERM");
    let status = s.wait_exit();
    let took = asked.elapsed();
    assert!(
        took <= Duration::from_secs(3),
        "SIGTERM took {took:?} (limit: --shutdown-timeout 2s + 1 s)\n{}",
        s.logs()
    );
    assert!(status.success(), "{status}");
}

/// A request still in flight does not hold the exit past `--shutdown-timeout` (plus one second):
/// here a body that never finishes arriving, under a longer `--request-timeout`.
#[cfg(unix)]
#[test]
fn sigterm_exits_within_the_shutdown_timeout_with_a_request_in_flight() {
    use std::io::Write;

    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let mut s = Server::start(
        &[dir.path()],
        &["--shutdown-timeout", "1s", "--request-timeout", "30s"],
    );
    let path = s.receiver_path("azure-wh-receiver");
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        stalled,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\":"
    )
    .unwrap();
    stalled.flush().unwrap();
    // Let the server start reading the body.
    std::thread::sleep(Duration::from_millis(300));

    let asked = Instant::now();
    s.signal("TERM");
    let status = s.wait_exit();
    let took = asked.elapsed();
    assert!(
        took <= Duration::from_secs(2),
        "SIGTERM took {took:?} (limit: --shutdown-timeout 1s + 1 s)\n{}",
        s.logs()
    );
    assert!(status.success(), "{status}");
    assert!(
        s.logs().contains("shutdown timeout reached"),
        "the drain should have hit its bound: {}",
        s.logs()
    );
    drop(stalled);
}
