//! Issue 17 item 3: what a delivery costs on disk. A huge field is stored truncated with a
//! visible marker (never refused), and `--max-store-bytes` bounds the data directory by deleting
//! the oldest deliveries.

use crate::common::*;

fn setup(extra: &[&str]) -> (tempfile::TempDir, Server, String) {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start(&[dir.path()], extra);
    let path = s.receiver_path("azure-wh-receiver");
    (dir, s, path)
}

/// Bytes of the store's files in the data directory (the database and its WAL).
fn store_bytes(s: &Server) -> u64 {
    ["dockhand.db", "dockhand.db-wal", "dockhand.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(s.data.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

const MIB: usize = 1024 * 1024;

#[test]
fn a_2_mib_tag_or_repository_costs_kilobytes_on_disk_and_is_shown_truncated() {
    // What the record caps bound; a kept payload is bounded by --max-body-bytes instead (the
    // store contract checks it counts in the budget), so none is kept here.
    let (_d, s, path) = setup(&["--max-body-bytes", "8388608", "--keep-payloads=false"]);
    // A first delivery, so the database has its tables and the WAL its first pages.
    let (status, _) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("warm-up", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(status, 200);
    let before = store_bytes(&s);

    // A tag the subscription rejects (so it is also in the explanation) ...
    let tag = format!("9{}", "x".repeat(2 * MIB));
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("big-tag", "myregistry.azurecr.io", "app", &tag),
    );
    assert_eq!(status, 200, "{body}");
    // ... and a repository nobody subscribes to.
    let repo = format!("app{}", "y".repeat(2 * MIB));
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("big-repo", "myregistry.azurecr.io", &repo, "1.0.0"),
    );
    assert_eq!(status, 200, "{body}");

    let grown = store_bytes(&s).saturating_sub(before);
    // Before the field caps: 7.6 MB for the tag and 11.3 MB for the repository.
    assert!(
        grown < 512 * 1024,
        "two deliveries with 2 MiB fields grew the store by {grown} bytes"
    );

    let list = s.deliveries();
    let by_id = |id: &str| {
        list.iter()
            .find(|d| d["providerId"] == id)
            .unwrap_or_else(|| panic!("no delivery {id} in {list:?}"))
            .clone()
    };
    let big_tag = by_id("big-tag");
    assert_eq!(big_tag["outcome"], "unmatched", "{big_tag}");
    let q = big_tag["qualifiers"][0].as_str().unwrap();
    assert!(q.starts_with("9xxx"), "{q:.40}");
    assert!(
        q.ends_with(" bytes]") && q.contains("…[truncated "),
        "{q:.80}"
    );
    assert!(q.len() < 8192, "qualifier of {} bytes", q.len());
    let explanation = big_tag["explanation"].as_array().unwrap();
    assert_eq!(explanation.len(), 1, "{big_tag:.2000}");
    let line = explanation[0].as_str().unwrap();
    assert!(
        line.starts_with("kargo-demo/app subscription 0:") && line.contains("…[truncated "),
        "{line:.200}"
    );

    let big_repo = by_id("big-repo");
    let r = big_repo["repositories"][0].as_str().unwrap();
    assert!(r.contains("…[truncated ") && r.len() < 8192, "{r:.80}");
    assert_eq!(big_repo["detail"][0]["repoURL"], r, "{big_repo:.2000}");
    still_serving(&s, &path);
}

#[test]
fn max_store_bytes_deletes_the_oldest_deliveries_and_keeps_pending_refreshes() {
    let budget: u64 = 2 * MIB as u64;
    // Record sizes only: a kept payload (bounded by --max-body-bytes, counted in the budget as
    // the store contract checks) would let fewer of these 130 KB requests fit.
    let (_d, s, path) = setup(&[
        "--keep-payloads=false",
        "--max-store-bytes",
        &budget.to_string(),
        "--rate-limit-receiver",
        "0",
        "--rate-limit-client",
        "0",
        "--refresh-cooldown",
        "1h",
    ]);
    // A pending refresh: the Warehouse's discovery fails (no registry), its state stays.
    still_serving(&s, &path);
    // Each delivery carries about 6 KiB after capping (repository and tag at the cap).
    let tag = format!("9{}", "t".repeat(64 * 1024));
    for n in 0..600 {
        let repo = format!("r{n}-{}", "u".repeat(64 * 1024));
        let (status, body) = s.post(
            &path,
            &[ACR_UA],
            &acr_push(&format!("fill-{n}"), "myregistry.azurecr.io", &repo, &tag),
        );
        assert_eq!(status, 200, "delivery {n}: {body}");
    }
    let size = store_bytes(&s);
    // The database within its budget, plus a WAL kept to its size limit.
    assert!(
        size < budget + 4 * MIB as u64 + 512 * 1024,
        "store is {size} bytes with a budget of {budget}"
    );
    let list = s.deliveries();
    let ids: Vec<&str> = list
        .iter()
        .filter_map(|d| d["providerId"].as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"fill-599"), "newest first");
    assert!(
        !ids.contains(&"fill-0"),
        "the oldest deliveries are deleted"
    );
    assert!(ids.len() > 50, "only {} deliveries kept", ids.len());
    // The Warehouse the first delivery refreshed is still known to the store.
    let w = s.warehouse("kargo-demo", "app");
    assert!(w["refreshCount"].as_u64().unwrap_or(0) >= 1, "{w}");
    still_serving(&s, &path);
}

/// A normal push is still answered 200.
fn still_serving(s: &Server, path: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let id = format!("ok-{}", N.fetch_add(1, Ordering::Relaxed));
    let (status, body) = s.post(
        path,
        &[ACR_UA],
        &acr_push(&id, "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
}
