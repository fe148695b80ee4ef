#!/usr/bin/env bash
# Ingest with the PostgreSQL store (issue 14): the same wrk load as bench/run.sh's ingest (ACR
# push payloads, BENCH_CONNS connections, 1,000 Warehouses, rate limits and de-duplication off)
# against, in one run:
#   0. bench/bare-hyper, answering without storing anything (the ceiling),
#   1. dockhand on its embedded SQLite store (the default),
#   2. one dockhand replica on PostgreSQL,
#   3. two replicas on the same PostgreSQL database, each given half the connections by its own
#      wrk (requests/s summed),
# (with BENCH_BASELINE=/path/to/another/dockhand: 2 and 3 for both binaries, alternating, two
# rounds each, each round on a fresh database), then push-to-reconcile latency with two
# replicas (1,000 pushes at 100/s to replica A; the reconcile may run on either). PostgreSQL runs durably (fsync on, synchronous_commit on) from a
# cluster made here with initdb as a non-root system user. Prints one Markdown table.
#
#   bench/postgres.sh        (needs wrk, Debian's postgresql, and the release build:
#                             cargo build --release -p dockhand -p dockhand-bench)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release"
seconds="${BENCH_SECONDS:-10}" conns="${BENCH_CONNS:-32}" port="${BENCH_PORT_BASE:-18500}"
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
[ -x "$pgbin/initdb" ] || { echo "bench/postgres.sh needs Debian's postgresql" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench/postgres.sh needs wrk" >&2; exit 1; }
[ -x "$bin/dockhand" ] && [ -x "$bin/dockhand-bench" ] && [ -x "$bin/bare-hyper" ] ||
  { echo "build first: cargo build --release -p dockhand -p dockhand-bench -p bare-hyper" >&2; exit 1; }

work="$(mktemp -d)"
chmod 755 "$work"
pids=()
pg_user=dockhand-test
id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home "$pg_user"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u "$pg_user" -- "$pgbin/pg_ctl" -D "$work/pg" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/pg" && chown "$pg_user" "$work/pg"
runuser -u "$pg_user" -- "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
pgport=$((port + 9))
runuser -u "$pg_user" -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
db="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"

# The registry host every subscription and push names (nothing listens there: reconciles fail
# fast, as in bench/run.sh's ingest); the wrk script and the latency tool read it too.
export BENCH_REGISTRY="127.0.0.1:$((port + 8))"
"$bin/dockhand-bench" gen --warehouses 1000 --out "$work/cfg" >/dev/null

dh="$bin/dockhand"
wait_ready() { until curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; do sleep 0.05; done; }
start() { # name listen-port admin-port [extra args...]
  local name=$1 p=$2 a=$3; shift 3
  "$dh" serve --config "$work/cfg/manifests" --data-dir "$work/data-$name" \
    --listen "127.0.0.1:$p" --admin-listen "127.0.0.1:$a" --base-url "http://127.0.0.1:$p" \
    --rate-limit-receiver 0 --rate-limit-client 0 --dedup-window 0s --reconcile-on-start false \
    "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  wait_ready "$p"
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
load() { # port connections -> the wrk JSON line
  BENCH_TARGETS="$work/cfg/targets.tsv" wrk -t1 -c"$2" -d"${seconds}s" -s bench/acr_push.lua \
    "http://127.0.0.1:$1/" | grep '^{'
}
warm() { BENCH_TARGETS="$work/cfg/targets.tsv" wrk -t1 -c"$2" -d3s -s bench/acr_push.lua "http://127.0.0.1:$1/" >/dev/null; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "== bare hyper (the ceiling: answers without storing anything)" >&2
"$bin/bare-hyper" "127.0.0.1:$((port + 5))" & pids+=($!)
until curl -fsS -o /dev/null "http://127.0.0.1:$((port + 5))/" 2>/dev/null; do sleep 0.05; done
warm $((port + 5)) "$conns"
bare="$(load $((port + 5)) "$conns")"; stop_all

echo "== SQLite" >&2
start sqlite "$port" $((port + 1)); warm "$port" "$conns"
sqlite="$(load "$port" "$conns")"; stop_all

# pg_round LABEL BINARY DATABASE: one replica, then two, with BINARY on a fresh DATABASE;
# prints {"label":..,"one":WRK,"a":WRK,"b":WRK}.
pg_round() {
  local label=$1 db_url
  dh=$2
  "$pgbin/psql" "$db" -qc "CREATE DATABASE $3" >/dev/null
  db_url="postgres://postgres@127.0.0.1:$pgport/$3?sslmode=disable"
  echo "== PostgreSQL ($label), one replica" >&2
  start pg1 "$port" $((port + 1)) --database-url "$db_url"; warm "$port" "$conns"
  local one; one="$(load "$port" "$conns")"; stop_all
  echo "== PostgreSQL ($label), two replicas" >&2
  start pga "$port" $((port + 1)) --database-url "$db_url"
  start pgb $((port + 2)) $((port + 3)) --database-url "$db_url"
  warm "$port" $((conns / 2)); warm $((port + 2)) $((conns / 2))
  load "$port" $((conns / 2)) >"$work/a.json" & la=$!
  load $((port + 2)) $((conns / 2)) >"$work/b.json" & lb=$!
  wait "$la" "$lb"
  stop_all
  printf '{"label":"%s","one":%s,"a":%s,"b":%s}\n' "$label" "$one" "$(cat "$work/a.json")" "$(cat "$work/b.json")"
}
rounds="$work/rounds.jsonl"
: >"$rounds"
if [ -n "${BENCH_BASELINE:-}" ]; then
  # A/B: baseline and this build alternate, two rounds each, every round on a fresh database.
  for r in 1 2; do
    pg_round baseline "$BENCH_BASELINE" "base$r" >>"$rounds"
    pg_round this "$bin/dockhand" "this$r" >>"$rounds"
  done
else
  pg_round this "$bin/dockhand" this1 >>"$rounds"
fi
dh="$bin/dockhand"

echo "== push-to-reconcile, two replicas (a fresh database)" >&2
stop_all
"$pgbin/psql" "$db" -qc "CREATE DATABASE latency" >/dev/null
fresh="postgres://postgres@127.0.0.1:$pgport/latency?sslmode=disable"
start lata "$port" $((port + 1)) --database-url "$fresh"
start latb $((port + 2)) $((port + 3)) --database-url "$fresh"
latency="$("$bin/dockhand-bench" latency --addr "127.0.0.1:$port" --admin "127.0.0.1:$((port + 1))" \
  --targets "$work/cfg/targets.tsv" --count 1000 --rate 100)"
stop_all

python3 - "$bare" "$sqlite" "$latency" "$rounds" <<'PY'
import json, sys
bare, s, lat = (json.loads(x) for x in sys.argv[1:4])
rounds = [json.loads(l) for l in open(sys.argv[4])]
print("| store | req/s | p99 | vs SQLite |")
print("|---|---|---|---|")
print(f"| bare hyper (no store: the ceiling) | {bare['rps']:.0f} | {bare['p99Us']/1000:.1f} ms | {bare['rps']/s['rps']:.2f} |")
print(f"| SQLite (embedded) | {s['rps']:.0f} | {s['p99Us']/1000:.1f} ms | 1.00 |")
for r in rounds:
    one, a, b = r["one"], r["a"], r["b"]
    two = a["rps"] + b["rps"]
    tag = "" if len(rounds) == 1 else f" ({r['label']})"
    print(f"| PostgreSQL, 1 replica{tag} | {one['rps']:.0f} | {one['p99Us']/1000:.1f} ms | {one['rps']/s['rps']:.2f} |")
    print(f"| PostgreSQL, 2 replicas{tag} | {two:.0f} | {max(a['p99Us'], b['p99Us'])/1000:.1f} ms | {two/s['rps']:.2f} |")
if len(rounds) > 1:
    mean = lambda label, f: sum(f(r) for r in rounds if r["label"] == label) / sum(1 for r in rounds if r["label"] == label)
    one = lambda r: r["one"]["rps"]
    two = lambda r: r["a"]["rps"] + r["b"]["rps"]
    print()
    print(f"this / baseline (mean of rounds): 1 replica {mean('this', one)/mean('baseline', one):.2f}x, "
          f"2 replicas {mean('this', two)/mean('baseline', two):.2f}x")
print()
print("push-to-reconcile with 2 replicas:", json.dumps(lat))
PY
