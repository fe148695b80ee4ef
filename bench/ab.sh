#!/usr/bin/env bash
# A/B ingest comparison of two dockhand binaries on this machine, alternating A and B so that
# machine noise falls on both alike (BENCHMARKS.md: "compare ratios in one run").
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Each round starts each binary on a fresh data dir with the bench configuration (1,000
# Warehouses, rate limits and de-duplication off, as bench/run.sh's ingest), warms it up for 5 s,
# then measures wrk at BENCH_CONNS (32) connections for BENCH_SECONDS (10). Prints one line per
# run (label, requests/s, server CPU µs per request) and the medians with the ratios B/A; on a
# busy machine the CPU per request is the steadier of the two. BENCH_SERVE_ARGS_A and
# BENCH_SERVE_ARGS_B add arguments to A's and B's `serve` (say `--keep-payloads=false`, to
# measure a flag on one binary given as both A and B). Needs wrk and the release build of
# dockhand-bench (cargo build --release -p dockhand-bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
a="$1" b="$2" rounds="${3:-3}"
target="${CARGO_TARGET_DIR:-$root/target}"
seconds="${BENCH_SECONDS:-10}" conns="${BENCH_CONNS:-32}" port="${BENCH_PORT_BASE:-18400}"
gen="$target/release/dockhand-bench"
command -v wrk >/dev/null || { echo "bench/ab.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$gen" ] || { echo "build it first: cargo build --release -p dockhand-bench" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# Reconciles fail fast against a port where nothing listens, as in bench/run.sh's ingest. wrk's
# script names the same registry in its payloads, so that each delivery matches its Warehouse
# (without it every delivery was unmatched: no refresh, no pending row).
export BENCH_REGISTRY="127.0.0.1:$((port + 9))"
"$gen" gen --warehouses 1000 --out "$work/cfg" >/dev/null

run() { # label binary extra-serve-args
  local data="$work/data-$RANDOM"
  # shellcheck disable=SC2086 # the extra arguments are split on spaces on purpose
  "$2" serve $3 --config "$work/cfg/manifests" --data-dir "$data" \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --base-url "http://127.0.0.1:$port" \
    --rate-limit-receiver 0 --rate-limit-client 0 --dedup-window 0s 2>"$work/log" &
  pid=$!
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do sleep 0.05; done
  BENCH_TARGETS="$work/cfg/targets.tsv" wrk -t1 -c"$conns" -d5s -s bench/acr_push.lua \
    "http://127.0.0.1:$port/" >/dev/null
  local rps cpu0 cpu1 json
  cpu0="$(cpu_ticks "$pid")"
  json="$(BENCH_TARGETS="$work/cfg/targets.tsv" wrk -t1 -c"$conns" -d"${seconds}s" \
    -s bench/acr_push.lua "http://127.0.0.1:$port/" | grep '^{')"
  cpu1="$(cpu_ticks "$pid")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  rm -rf "$data"
  # Requests per second, and the server's CPU time (user + system, with the processes it
  # started, such as git) per request in µs: the second is what a loaded machine disturbs least.
  echo "$json" | python3 -c "
import json, os, sys
d = json.load(sys.stdin)
ticks = $cpu1 - $cpu0
us = ticks / os.sysconf('SC_CLK_TCK') * 1e6 / max(d['requests'], 1)
print('$1', round(d['rps']), round(us, 1))"
}

cpu_ticks() { # pid: utime + stime in clock ticks, its waited-for children's (git) included
  awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"
}

results="$work/results"
for i in $(seq "$rounds"); do
  run A "$a" "${BENCH_SERVE_ARGS_A:-}" | tee -a "$results"
  run B "$b" "${BENCH_SERVE_ARGS_B:-}" | tee -a "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    k, rps, cpu = line.split()
    runs.setdefault(k, []).append((float(rps), float(cpu)))
ma = statistics.median(r[0] for r in runs["A"]); mb = statistics.median(r[0] for r in runs["B"])
ca = statistics.median(r[1] for r in runs["A"]); cb = statistics.median(r[1] for r in runs["B"])
print(f"median A {ma:.0f} req/s, B {mb:.0f} req/s, B/A = {mb / ma:.2f}")
print(f"median CPU per request: A {ca:.1f} us, B {cb:.1f} us, B/A = {cb / ca:.2f}")
PY
