#!/usr/bin/env bash
# dockhand's benchmarks (issue 8; BENCHMARKS.md explains every number). Builds the release
# binaries, then, on loopback only and each bounded in time:
#   1. ingest: wrk at fixed concurrency against dockhand (1,000 Warehouses, durable store), a bare
#      hyper server, the durable ceiling (hyper + append + group fdatasync) and the hand-written
#      Flask handler under gunicorn; then dockhand open-loop at 80% of its own peak;
#   2. push-to-reconcile latency over 1,000 pushes to distinct Warehouses;
#   3. scale: load time, memory and per-event lookup+match at 1,000 / 10,000 / 100,000 Warehouses;
#   4. storm: 1,000 pushes to one repository in one second, 100 subscribed Warehouses.
# Prints one Markdown table (also left in $BENCH_OUT, default target/bench/results.md).
#
# Knobs (environment): BENCH_SECONDS (10) per load run, BENCH_CONNS (32) wrk connections,
# BENCH_SCALE ("1000 10000 100000"), BENCH_PORT_BASE (18300), CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
seconds="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNS:-32}"
scale="${BENCH_SCALE:-1000 10000 100000}"
base="${BENCH_PORT_BASE:-18300}"
out="${BENCH_OUT:-$target/bench/results.md}"
cores="$(nproc)"

say() { echo "== $*" >&2; }

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    say "installing wrk (Debian package)"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    echo "bench/run.sh needs wrk: sudo apt-get install wrk" >&2
    exit 1
  fi
fi

say "building release binaries"
cargo build --quiet --release -p dockhand -p bare-hyper -p durable-ceiling -p dockhand-bench
bin="$target/release"

venv="$target/bench/venv"
if [ ! -x "$venv/bin/gunicorn" ]; then
  say "installing Flask and gunicorn into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check flask gunicorn
fi

work="$(mktemp -d)"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; kill "${registry_pid:-}" 2>/dev/null; rm -rf "$work"' EXIT
results="$work/results.jsonl"
: >"$results"
record() { printf '{"case":"%s","data":%s}\n' "$1" "$2" >>"$results"; }

wait_http() { # url, timeout seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $1" >&2; return 1; }
    sleep 0.05
  done
}

# Reconciles discover from a real registry: a CNCF Distribution registry on loopback, holding no
# repositories, so every tag listing is a quick 404 recorded as the Warehouse's error (and the git
# subscriptions point at it too, a quick failure as well). Every subscription and push of the
# generated configuration names this host.
if [ ! -x /usr/bin/docker-registry ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y docker-registry >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y docker-registry >/dev/null; }
  else
    echo "bench/run.sh needs docker-registry: sudo apt-get install docker-registry" >&2
    exit 1
  fi
fi
export BENCH_REGISTRY="localhost:$((base + 20))"
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/registry" "$((base + 20))" >"$work/registry.yml"
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
wait_http "http://$BENCH_REGISTRY/v2/" 30

# start_dockhand CONFIG_DIR PORT ADMIN_PORT: starts dockhand on a fresh data dir; sets $dh_pid.
# Rate limits and de-duplication are off: the load generator replays a fixed set of payloads from
# one address far above the default limits, which would measure the 429 path instead.
start_dockhand() {
  local data
  data="$(mktemp -d -p "$work")"
  "$bin/dockhand" serve --config "$1/manifests" --data-dir "$data" \
    --listen "127.0.0.1:$2" --admin-listen "127.0.0.1:$3" --base-url "http://127.0.0.1:$2" \
    --rate-limit-receiver 0 --rate-limit-client 0 --dedup-window 0s --reconcile-on-start false \
    2>"$data/dockhand.log" &
  dh_pid=$!
  pids+=("$dh_pid")
}

# wrk_run NAME URL [PATH]: a short warm-up, then the measured run.
wrk_run() {
  local name=$1 url=$2
  BENCH_TARGETS="$cfg1k/targets.tsv" BENCH_PATH="${3:-}" \
    wrk -t1 -c"$conns" -d5s -s bench/acr_push.lua "$url/" >/dev/null
  say "ingest: $name (${seconds}s, $conns connections)"
  local line
  line="$(BENCH_TARGETS="$cfg1k/targets.tsv" BENCH_PATH="${3:-}" \
    wrk -t1 -c"$conns" -d"${seconds}s" -s bench/acr_push.lua "$url/" | grep '^{')"
  record "ingest-$name" "$line"
}

say "generating configurations"
for n in $scale 1000; do
  [ -d "$work/cfg-$n" ] || "$bin/dockhand-bench" gen --warehouses "$n" --out "$work/cfg-$n" >/dev/null
done
cfg1k="$work/cfg-1000"
# The ingest configuration names a registry port where nothing listens: reconciles still run
# (and fail fast, then back off), but no registry process competes with dockhand for this
# machine's two cores, as a remote registry would not.
dead_registry="127.0.0.1:$((base + 21))"
[ -d "$work/cfg-ingest" ] ||
  BENCH_REGISTRY="$dead_registry" "$bin/dockhand-bench" gen --warehouses 1000 --out "$work/cfg-ingest" >/dev/null
cfg_ingest="$work/cfg-ingest"

# 1. Ingest.
p_dh=$base a_dh=$((base + 1)) p_bare=$((base + 2)) p_flask=$((base + 3)) p_durable=$((base + 10))
start_dockhand "$cfg_ingest" "$p_dh" "$a_dh"
"$bin/bare-hyper" "127.0.0.1:$p_bare" & pids+=($!)
# The durable ceiling appends to a file in the same temporary directory as dockhand's store.
"$bin/durable-ceiling" "127.0.0.1:$p_durable" "$work/durable-ceiling.log" & pids+=($!)
"$venv/bin/gunicorn" --workers "$cores" --bind "127.0.0.1:$p_flask" --chdir bench \
  --log-level warning flask_handler:app 2>"$work/flask.log" & pids+=($!)
wait_http "http://127.0.0.1:$p_dh/readyz" 60
wait_http "http://127.0.0.1:$p_bare/" 30
until curl -fsS -o /dev/null -X POST -d '{}' "http://127.0.0.1:$p_durable/" 2>/dev/null; do sleep 0.1; done
until curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$p_flask/webhook" 2>/dev/null; do sleep 0.1; done

BENCH_REGISTRY="$dead_registry" wrk_run dockhand "http://127.0.0.1:$p_dh"
wrk_run bare "http://127.0.0.1:$p_bare" /
wrk_run durable "http://127.0.0.1:$p_durable" /
wrk_run flask "http://127.0.0.1:$p_flask" /webhook
peak="$(python3 -c 'import json,sys; print([json.loads(l)["data"]["rps"] for l in open(sys.argv[1]) if "ingest-dockhand" in l][0])' "$results")"
rate="$(python3 -c "print(round($peak * 0.8))")"
say "ingest: dockhand open loop at $rate req/s (80% of its peak), ${seconds}s"
record ingest-dockhand-80 "$(BENCH_REGISTRY="$dead_registry" "$bin/dockhand-bench" rate --addr "127.0.0.1:$p_dh" \
  --targets "$cfg_ingest/targets.tsv" --rate "$rate" --seconds "$seconds" --conns "$conns")"
stop_all

# 2. Push-to-reconcile latency (fresh store).
say "push-to-reconcile: 1,000 pushes to distinct Warehouses at 100/s"
start_dockhand "$cfg1k" "$((base + 4))" "$((base + 5))"
wait_http "http://127.0.0.1:$((base + 4))/readyz" 60
record latency "$("$bin/dockhand-bench" latency --addr "127.0.0.1:$((base + 4))" \
  --admin "127.0.0.1:$((base + 5))" --targets "$cfg1k/targets.tsv" --count 1000 --rate 100)"
stop_all

# 4. Storm (fresh store).
say "storm: 1,000 pushes to p0000/base (100 subscribed Warehouses) in 1s"
start_dockhand "$cfg1k" "$((base + 6))" "$((base + 7))"
wait_http "http://127.0.0.1:$((base + 6))/readyz" 60
record storm "$("$bin/dockhand-bench" storm --addr "127.0.0.1:$((base + 6))" \
  --admin "127.0.0.1:$((base + 7))" --targets "$cfg1k/targets.tsv" --project p0000 \
  --count 1000 --seconds 1 --settle 5)"
stop_all

# 3. Scale.
for n in $scale; do
  say "scale: $n Warehouses (lookup+match in process)"
  record "lookup-$n" "$("$bin/dockhand-bench" lookup --config "$work/cfg-$n" --millis 1000)"
  say "scale: $n Warehouses (dockhand serve: time to ready, RSS)"
  t0=$(date +%s%N)
  start_dockhand "$work/cfg-$n" "$((base + 8))" "$((base + 9))"
  wait_http "http://127.0.0.1:$((base + 8))/readyz" 300
  t1=$(date +%s%N)
  # Let the interval scheduler see every Warehouse once (its per-Warehouse state is part of the
  # resident cost), then read VmRSS.
  sleep 3
  rss=$(awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$dh_pid/status")
  record "serve-$n" "{\"warehouses\":$n,\"readyMs\":$(((t1 - t0) / 1000000)),\"rssBytes\":$rss}"
  stop_all
done

mkdir -p "$(dirname "$out")"
python3 bench/report.py "$results" --cores "$cores" --conns "$conns" --seconds "$seconds" | tee "$out"
cp "$results" "${out%.md}.jsonl"
