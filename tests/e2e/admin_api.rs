//! The admin API's JSON shape, end to end: every endpoint of `/api/v1` answered by the real
//! binary, each object checked for exactly its field names and the JSON type of each field. A
//! renamed, added or removed field, or a Rust type leaking through (`{"Ok": ...}`), fails here.

use crate::common::*;
use crate::support::git::Repo;
use serde_json::Value;

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy)]
enum T {
    Str,
    /// A string or `null`.
    OptStr,
    /// A non-negative integer.
    Uint,
    Bool,
    Arr,
    /// An array or `null`.
    OptArr,
    Obj,
    /// An object or `null`.
    OptObj,
    /// A string, or no such field (artifacts leave out what they do not have, as Kargo's).
    OmitStr,
    /// An array, or no such field.
    OmitArr,
}

fn has_type(v: &Value, t: T) -> bool {
    match t {
        T::Str => v.is_string(),
        T::OptStr => v.is_string() || v.is_null(),
        T::Uint => v.is_u64(),
        T::Bool => v.is_boolean(),
        T::Arr => v.is_array(),
        T::OptArr => v.is_array() || v.is_null(),
        T::Obj => v.is_object(),
        T::OptObj => v.is_object() || v.is_null(),
        T::OmitStr => v.is_string(),
        T::OmitArr => v.is_array(),
    }
}

fn may_be_absent(t: T) -> bool {
    matches!(t, T::OmitStr | T::OmitArr)
}

/// `v` is an object with exactly `fields` (those of an `Omit` type may be absent), each of its
/// type.
fn pin(what: &str, v: &Value, fields: &[(&str, T)]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    for k in obj.keys() {
        assert!(
            fields.iter().any(|(f, _)| f == k),
            "{what} has a field {k:?} it should not have: {v}"
        );
    }
    for (k, t) in fields {
        match obj.get(*k) {
            Some(x) => assert!(has_type(x, *t), "{what}.{k} is not {t:?}: {v}"),
            None => assert!(may_be_absent(*t), "{what} lacks its field {k:?}: {v}"),
        }
    }
}

fn items<'a>(what: &str, v: &'a Value) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {v}"))
}

const WAREHOUSE: &[(&str, T)] = &[
    ("project", T::Str),
    ("name", T::Str),
    ("interval", T::Str),
    ("freightCreationPolicy", T::Str),
    ("lastRefreshRequested", T::OptStr),
    ("lastReconcileStarted", T::OptStr),
    ("lastReconciled", T::OptStr),
    ("pending", T::Bool),
    ("refreshCount", T::Uint),
    ("reconcileCount", T::Uint),
    ("lastError", T::OptStr),
];

const ARTIFACTS: &[(&str, T)] = &[
    ("images", T::OmitArr),
    ("charts", T::OmitArr),
    ("commits", T::OmitArr),
];

const COMMIT: &[(&str, T)] = &[
    ("repoURL", T::Str),
    ("id", T::Str),
    ("branch", T::OmitStr),
    ("tag", T::OmitStr),
];

/// An image and a classic chart subscription on a loopback port where nothing listens (their
/// discovery fails), and a git subscription on a `file://` repository (its discovery succeeds
/// and, alone in its Warehouse, records Freight).
fn manifests(git_url: &str) -> String {
    format!(
        "---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: mixed
  namespace: kargo-demo
spec:
  subscriptions:
  - image:
      repoURL: 127.0.0.1:1/team/app
  - chart:
      repoURL: http://127.0.0.1:1/charts
      name: app
  - git:
      repoURL: {git_url}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: gitops
  namespace: kargo-demo
spec:
  subscriptions:
  - git:
      repoURL: {git_url}
"
    )
}

#[test]
fn every_admin_endpoint_has_its_pinned_shape() {
    let repo = Repo::new("app");
    let dir = config_dir(&[
        ("base.yaml", BASE_CONFIG),
        ("warehouses.yaml", &manifests(&repo.file_url())),
    ]);
    let s = Server::start(&[dir.path()], &["--refresh-cooldown", "0s"]);

    // GET /api/v1/receivers
    let receivers = s.admin_get("/api/v1/receivers");
    assert_eq!(items("receivers", &receivers).len(), 2, "{receivers}");
    for r in items("receivers", &receivers) {
        pin(
            "receiver",
            r,
            &[
                ("project", T::Str),
                ("name", T::Str),
                ("type", T::Str),
                ("path", T::Str),
                ("url", T::Str),
            ],
        );
    }

    // POST /api/v1/warehouses/{p}/{w}/refresh, then wait for its reconcile and Freight.
    let r = s
        .http
        .post(s.admin_url("/api/v1/warehouses/kargo-demo/gitops/refresh"))
        .send()
        .expect("refresh");
    assert_eq!(r.status(), 202);
    let refresh: Value = r.json().expect("json");
    pin("refresh answer", &refresh, &[("msg", T::Str)]);
    assert_eq!(refresh["msg"], "refresh of kargo-demo/gitops requested");
    s.wait_for("Freight of gitops", |s| {
        !items("freight", &s.admin_get("/api/v1/freight")).is_empty()
    });

    // Two deliveries: one whose repository normalizes (and refreshes `mixed`), one whose
    // repository does not (`bad..host` is no host name).
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("d1", "127.0.0.1:1", "team/app", "1.2.0"),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("d2", "bad..host", "team/app", "1.2.0"),
    );
    assert_eq!(status, 200, "{body}");
    s.wait_for("the reconcile of mixed", |s| {
        s.warehouse("kargo-demo", "mixed")["reconcileCount"]
            .as_u64()
            .is_some_and(|n| n > 0)
    });

    // GET /api/v1/deliveries
    let deliveries = s.admin_get("/api/v1/deliveries");
    let list = items("deliveries", &deliveries);
    assert_eq!(list.len(), 2, "{deliveries}");
    assert!(
        !deliveries.to_string().contains("\"Ok\"") && !deliveries.to_string().contains("\"Err\""),
        "a Rust Result leaks: {deliveries}"
    );
    for d in list {
        pin(
            "delivery",
            d,
            &[
                ("id", T::Str),
                ("receivedAt", T::Str),
                ("project", T::Str),
                ("receiver", T::Str),
                ("receiverType", T::Str),
                ("source", T::Str),
                ("eventType", T::OptStr),
                ("providerId", T::OptStr),
                ("query", T::OptStr),
                ("status", T::Uint),
                ("outcome", T::Str),
                ("message", T::Str),
                ("repositories", T::Arr),
                ("qualifiers", T::Arr),
                ("refreshed", T::Arr),
                ("explanation", T::Arr),
                ("detail", T::OptArr),
                ("durationMicros", T::Uint),
                // Kargo mode fills it (tests/e2e/kargo.rs pins its items); empty here.
                ("refreshes", T::Arr),
                ("replayOf", T::OptStr),
            ],
        );
        assert_eq!(d["refreshes"], serde_json::json!([]), "{d}");
        for t in items("delivery.detail", &d["detail"]) {
            pin(
                "delivery.detail[]",
                t,
                &[
                    ("repoURL", T::Str),
                    ("key", T::OptStr),
                    ("error", T::OptStr),
                    ("candidates", T::Arr),
                ],
            );
            for c in items("candidates", &t["candidates"]) {
                pin(
                    "delivery.detail[].candidates[]",
                    c,
                    &[
                        ("project", T::Str),
                        ("warehouse", T::Str),
                        ("subscription", T::Uint),
                        ("repoURL", T::Str),
                        ("matched", T::Bool),
                        ("reason", T::OptStr),
                    ],
                );
            }
        }
    }
    // POST /api/v1/explain: exactly a delivery's fields.
    let explained: Value = s
        .http
        .post(s.admin_url("/api/v1/explain"))
        .json(&serde_json::json!({
            "receiver": "kargo-demo/azure-wh-receiver",
            "headers": ["User-Agent: AzureContainerRegistry/1.0.0"],
            "payload": acr_push("d3", "127.0.0.1:1", "team/app", "1.2.0"),
        }))
        .send()
        .expect("explain")
        .json()
        .expect("json");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&explained), keys(&list[0]), "{explained}");

    // GET /api/v1/version
    pin(
        "version",
        &s.admin_get("/api/v1/version"),
        &[("version", T::Str)],
    );

    // Newest first: d2's repository did not normalize, d1's did and matched `mixed`.
    let bad = &list[0]["detail"][0];
    assert_eq!(bad["repoURL"], "bad..host/team/app", "{bad}");
    assert!(bad["key"].is_null(), "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("bad..host")),
        "{bad}"
    );
    let good = &list[1]["detail"][0];
    assert_eq!(good["key"], "127.0.0.1:1/team/app", "{good}");
    assert!(good["error"].is_null(), "{good}");
    assert_eq!(good["candidates"][0]["warehouse"], "mixed", "{good}");
    assert_eq!(good["candidates"][0]["matched"], true, "{good}");

    // GET /api/v1/deliveries/{id}: the object the list has; an unknown id is 404.
    for d in list {
        let id = d["id"].as_str().expect("delivery id");
        assert_eq!(&s.admin_get(&format!("/api/v1/deliveries/{id}")), d);
    }
    let r = s
        .http
        .get(s.admin_url("/api/v1/deliveries/no-such-id"))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().expect("json"),
        serde_json::json!({"error": "no such delivery"})
    );

    // GET /api/v1/warehouses
    let warehouses = s.admin_get("/api/v1/warehouses");
    assert_eq!(items("warehouses", &warehouses).len(), 2, "{warehouses}");
    for w in items("warehouses", &warehouses) {
        pin("warehouse", w, WAREHOUSE);
    }

    // GET /api/v1/warehouses/{project}/{name}
    let detail_fields: Vec<(&str, T)> = WAREHOUSE
        .iter()
        .copied()
        .chain([
            ("origin", T::Obj),
            ("lastDiscovered", T::OptStr),
            ("subscriptions", T::Arr),
        ])
        .collect();
    let discovered = [
        ("discovered", T::OptObj),
        ("discoveredAt", T::OptStr),
        ("error", T::OptStr),
        ("warning", T::OptStr),
    ];
    let w = s.warehouse("kargo-demo", "mixed");
    pin("warehouse detail", &w, &detail_fields);
    pin(
        "warehouse detail.origin",
        &w["origin"],
        &[("file", T::Str), ("document", T::Uint)],
    );
    let subs = items("subscriptions", &w["subscriptions"]);
    assert_eq!(subs.len(), 3, "{w}");
    let image: Vec<(&str, T)> = [
        ("kind", T::Str),
        ("repoURL", T::Str),
        ("imageSelectionStrategy", T::Str),
        ("constraint", T::OptStr),
        ("strictSemvers", T::Bool),
        ("platform", T::OptStr),
        ("discoveryLimit", T::Uint),
    ]
    .into_iter()
    .chain(discovered)
    .collect();
    let chart: Vec<(&str, T)> = [
        ("kind", T::Str),
        ("repoURL", T::Str),
        ("name", T::OptStr),
        ("semverConstraint", T::OptStr),
        ("discoveryLimit", T::Uint),
    ]
    .into_iter()
    .chain(discovered)
    .collect();
    let git: Vec<(&str, T)> = [
        ("kind", T::Str),
        ("repoURL", T::Str),
        ("commitSelectionStrategy", T::Str),
        ("branch", T::OptStr),
        ("semverConstraint", T::OptStr),
        ("discoveryLimit", T::Uint),
    ]
    .into_iter()
    .chain(discovered)
    .collect();
    pin("image subscription", &subs[0], &image);
    pin("chart subscription", &subs[1], &chart);
    pin("git subscription", &subs[2], &git);
    assert_eq!(subs[0]["kind"], "image");
    assert_eq!(subs[0]["imageSelectionStrategy"], "SemVer");
    assert_eq!(subs[1]["kind"], "chart");
    assert_eq!(subs[2]["kind"], "git");
    assert_eq!(subs[2]["commitSelectionStrategy"], "NewestFromBranch");
    assert!(subs[0]["error"].is_string(), "{w}");
    for sub in subs.iter().filter(|s| s["discovered"].is_object()) {
        pin("subscription.discovered", &sub["discovered"], ARTIFACTS);
    }
    let git_found = &subs[2]["discovered"];
    pin("git subscription.discovered", git_found, ARTIFACTS);
    for c in items("commits", &git_found["commits"]) {
        pin("discovered commit", c, COMMIT);
    }

    // GET /api/v1/freight
    let freight = s.admin_get("/api/v1/freight");
    let list = items("freight", &freight);
    assert_eq!(list.len(), 1, "{freight}");
    pin(
        "freight",
        &list[0],
        &[
            ("id", T::Str),
            ("alias", T::Str),
            ("project", T::Str),
            ("warehouse", T::Str),
            ("createdAt", T::Str),
            ("artifacts", T::Obj),
        ],
    );
    pin("freight.artifacts", &list[0]["artifacts"], ARTIFACTS);
    let commits = items("freight commits", &list[0]["artifacts"]["commits"]);
    assert_eq!(commits.len(), 1, "{freight}");
    pin("freight commit", &commits[0], COMMIT);
    assert_eq!(commits[0]["branch"], "main", "{freight}");

    // The error body: unknown Warehouse, unknown path.
    for path in [
        "/api/v1/warehouses/kargo-demo/nope",
        "/api/v1/warehouses/kargo-demo/nope/refresh",
        "/api/v1/nope",
    ] {
        let r = if path.ends_with("/refresh") {
            s.http.post(s.admin_url(path)).send()
        } else {
            s.http.get(s.admin_url(path)).send()
        }
        .expect("request");
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().expect("json");
        pin("error body", &body, &[("error", T::Str)]);
    }

    // The CLI clients read the same types: every table renders.
    let server = s.admin_server();
    for (args, expect) in [
        (vec!["warehouses", "kargo-demo/mixed"], "mixed"),
        (vec!["warehouses"], "gitops"),
        (vec!["deliveries"], "bad..host"),
        (vec!["freight", "kargo-demo/gitops"], "(main)"),
    ] {
        let mut argv = args.clone();
        argv.extend(["--server", &server]);
        let out = dockhand(&argv);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains(expect), "{args:?}: {}", stdout(&out));
    }

    // GET /api/v1/deliveries/{id}/payload: the request kept with d1.
    let d1 = items("deliveries", &deliveries)[1]["id"]
        .as_str()
        .expect("id");
    let kept = s.admin_get(&format!("/api/v1/deliveries/{d1}/payload"));
    pin(
        "payload",
        &kept,
        &[
            ("deliveryId", T::Str),
            ("kept", T::Bool),
            ("headers", T::Arr),
            ("body", T::OptStr),
            ("json", T::OptObj),
            ("bytes", T::Uint),
            ("trimmed", T::OptStr),
            ("notReplayable", T::OptStr),
        ],
    );
    for h in items("payload.headers", &kept["headers"]) {
        pin(
            "payload.headers[]",
            h,
            &[("name", T::Str), ("value", T::Str)],
        );
    }
    // POST /api/v1/deliveries/{id}/replay: exactly a delivery's fields.
    let r = s
        .http
        .post(s.admin_url(&format!("/api/v1/deliveries/{d1}/replay")))
        .send()
        .expect("replay");
    assert_eq!(r.status(), 200);
    let replayed: Value = r.json().expect("json");
    assert_eq!(keys(&replayed), keys(&explained), "{replayed}");
    assert_eq!(replayed["replayOf"], d1);
    // GET /api/v1/artifacts
    let view = s.admin_get("/api/v1/artifacts?repository=127.0.0.1:1/team/app&tag=1.2.0");
    pin(
        "artifacts",
        &view,
        &[
            ("repository", T::Str),
            ("tag", T::OptStr),
            ("replicas", T::Arr),
            ("reports", T::Arr),
        ],
    );
    for r in items("artifacts.replicas", &view["replicas"]) {
        pin(
            "artifacts.replicas[]",
            r,
            &[
                ("replica", T::OptStr),
                ("query", T::OptStr),
                ("firstReportedAt", T::Str),
                ("lastReportedAt", T::Str),
                ("digests", T::Arr),
                ("tags", T::Arr),
                ("deliveries", T::Uint),
            ],
        );
    }
    let reports = items("artifacts.reports", &view["reports"]);
    assert_eq!(reports.len(), 2, "d1 and its replay: {view}");
    for r in reports {
        pin(
            "artifacts.reports[]",
            r,
            &[
                ("deliveryId", T::Str),
                ("receivedAt", T::Str),
                ("project", T::Str),
                ("receiver", T::Str),
                ("query", T::OptStr),
                ("replica", T::OptStr),
                ("tag", T::OptStr),
                ("digest", T::OptStr),
            ],
        );
    }
}
