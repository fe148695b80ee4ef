#!/usr/bin/env bash
# A long run (issue 18): steady webhooks at half of dockhand's peak for DURATION, with discovery
# against a local registry, to see whether anything grows that should not.
#
#   bench/soak.sh DURATION [PEAK]      e.g. bench/soak.sh 30m   (DURATION: 90s, 30m, 1h)
#
# 1,000 Warehouses (dockhand-bench gen), a CNCF Distribution registry on loopback
# (/usr/bin/docker-registry, Debian's docker-registry, as bench/run.sh): every push refreshes a
# Warehouse, whose reconcile lists its tags there (an empty registry: a quick 404, recorded). PEAK
# (req/s) is measured first with a 10 s wrk run against the same server unless given. Then, once a
# minute, an open-loop minute at PEAK/2 (`dockhand-bench rate`, latency counted from when each
# request was due) followed by one sample of: RSS, open file descriptors (/proc/PID/fd), the data
# directory's bytes, that minute's p99, deliveries recorded and reconciles run (from /metrics).
# Prints a per-minute Markdown table and a verdict: each quantity's mean over the last 10 minutes
# against the first 10 after a 2-minute warm-up (halves of what is left when the run is shorter).
#
# Knobs (environment): SOAK_CONNS (32) connections, SOAK_PORT_BASE (18700), SOAK_DATABASE_URL
# (run on that PostgreSQL database instead of SQLite; the store size is then the database's,
# pg_database_size, read with psql), SOAK_ARGS (extra `dockhand serve` arguments),
# CARGO_TARGET_DIR, SOAK_BIN (the dockhand binary; default the release build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ $# -ge 1 ] || { echo "usage: bench/soak.sh DURATION [PEAK_REQ_PER_S]" >&2; exit 2; }
duration="$1" peak="${2:-}"
case "$duration" in
  *h) minutes=$((${duration%h} * 60)) ;;
  *m) minutes=${duration%m} ;;
  *s) minutes=$(((${duration%s} + 59) / 60)) ;;
  *) minutes=$duration ;;
esac
[ "$minutes" -ge 1 ] || { echo "DURATION must be at least a minute" >&2; exit 2; }
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release"
dockhand="${SOAK_BIN:-$bin/dockhand}"
conns="${SOAK_CONNS:-32}" base="${SOAK_PORT_BASE:-18700}"
for need in "$dockhand" "$bin/dockhand-bench"; do
  [ -x "$need" ] || { echo "build first: cargo build --release -p dockhand -p dockhand-bench" >&2; exit 1; }
done
[ -x /usr/bin/docker-registry ] || { echo "bench/soak.sh needs docker-registry: apt-get install docker-registry" >&2; exit 1; }
[ -n "$peak" ] || command -v wrk >/dev/null || { echo "bench/soak.sh needs wrk (or PEAK as an argument)" >&2; exit 1; }

say() { echo "== $*" >&2; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
wait_http() { until curl -fsS -o /dev/null "$1" 2>/dev/null; do sleep 0.05; done; }

export BENCH_REGISTRY="127.0.0.1:$((base + 20))"
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n' \
  "$work/registry" "$BENCH_REGISTRY" >"$work/registry.yml"
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_http "http://$BENCH_REGISTRY/v2/"

"$bin/dockhand-bench" gen --warehouses 1000 --out "$work/cfg" >/dev/null
port=$base admin=$((base + 1)) data="$work/data"
# Rate limits and de-duplication off, as in bench/run.sh: one client replays a fixed set of
# payloads far above the default limits. Start-up catch-up off so minute 1 is the load alone.
# shellcheck disable=SC2086
"$dockhand" serve --config "$work/cfg/manifests" --data-dir "$data" \
  --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --base-url "http://127.0.0.1:$port" \
  --rate-limit-receiver 0 --rate-limit-client 0 --dedup-window 0s --reconcile-on-start false \
  ${SOAK_DATABASE_URL:+--database-url "$SOAK_DATABASE_URL"} ${SOAK_ARGS:-} 2>"$work/dockhand.log" &
pid=$!
pids+=("$pid")
wait_http "http://127.0.0.1:$port/readyz"

if [ -z "$peak" ]; then
  say "peak: wrk, $conns connections, 3 s warm-up + 10 s"
  wrk_run() {
    BENCH_TARGETS="$work/cfg/targets.tsv" wrk -t1 -c"$conns" -d"$1" -s bench/acr_push.lua \
      "http://127.0.0.1:$port/"
  }
  wrk_run 3s >/dev/null
  peak="$(wrk_run 10s | grep '^{' | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))')"
fi
rate=$((peak / 2))
say "soak: $minutes minute(s) at $rate req/s (half of $peak)"

metric_sum() { # metric name prefix -> the sum of its samples
  curl -fsS "http://127.0.0.1:$admin/metrics" |
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d\n", s }'
}
samples="$work/samples.tsv"
# Minute 0: what the peak run left, so the first minute's increments are its own.
printf '0\t0\t0\t0\t%s\t%s\t{}\n' "$(metric_sum dockhand_deliveries_total)" \
  "$(metric_sum dockhand_reconcile_duration_seconds_count)" >"$samples"
for minute in $(seq 1 "$minutes"); do
  line="$("$bin/dockhand-bench" rate --addr "127.0.0.1:$port" --targets "$work/cfg/targets.tsv" \
    --rate "$rate" --seconds 60 --conns "$conns")"
  rss=$(awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$pid/status")
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
  if [ -n "${SOAK_DATABASE_URL:-}" ]; then
    store=$(psql "$SOAK_DATABASE_URL" -Atqc "SELECT pg_database_size(current_database())")
  else
    store=$(du -sb "$data" | cut -f1)
  fi
  deliveries=$(metric_sum dockhand_deliveries_total)
  reconciles=$(metric_sum dockhand_reconcile_duration_seconds_count)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$minute" "$rss" "$fds" "$store" "$deliveries" "$reconciles" "$line" >>"$samples"
  say "minute $minute: rss=$rss fds=$fds store=$store deliveries=$deliveries reconciles=$reconciles $line"
done

python3 - "$samples" "$rate" "$peak" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    m, rss, fds, store, dl, rc, js = line.rstrip("\n").split("\t", 6)
    if m == "0":
        base_d, base_r = int(dl), int(rc)
        continue
    r = json.loads(js)
    rows.append(dict(minute=int(m), rss=int(rss), fds=int(fds), store=int(store),
                     deliveries=int(dl), reconciles=int(rc), p99=r["p99Us"] / 1000,
                     ok=r["ok"], errors=r["errors"], rps=r["achievedRps"]))
print(f"Load: {sys.argv[2]} req/s open loop (half of a {sys.argv[3]} req/s peak), 1,000 Warehouses.")
print()
print("| minute | RSS MiB | fds | store MiB | p99 ms | req/s | errors | deliveries | reconciles |")
print("|---|---|---|---|---|---|---|---|---|")
prev_d, prev_r = base_d, base_r
for r in rows:
    print(f"| {r['minute']} | {r['rss']/2**20:.1f} | {r['fds']} | {r['store']/2**20:.1f} | {r['p99']:.1f} "
          f"| {r['rps']:.0f} | {r['errors']} | +{r['deliveries']-prev_d} | +{r['reconciles']-prev_r} |")
    prev_d, prev_r = r["deliveries"], r["reconciles"]
warm = 2 if len(rows) > 4 else 0
rest = rows[warm:]
span = min(10, max(1, len(rest) // 2))
first, last = rest[:span], rest[-span:]
mean = lambda xs, k: sum(x[k] for x in xs) / len(xs)
print()
print(f"Verdict (mean of minutes {last[0]['minute']}-{last[-1]['minute']} against "
      f"{first[0]['minute']}-{first[-1]['minute']}):")
# Growth allowed before a quantity counts as growing: memory, fds and store must stay within
# 10% (fds: or 4 descriptors); p99 on a shared machine is noisy, so only doubling counts.
limits = [("RSS", "rss", 1.10, 0), ("open fds", "fds", 1.10, 4), ("store size", "store", 1.10, 0),
          ("p99", "p99", 2.0, 0)]
growing = []
for name, k, ratio, slack in limits:
    a, b = mean(first, k), mean(last, k)
    grew = b > a * ratio + slack
    if grew:
        growing.append(name)
    print(f"- {name}: {a:.4g} -> {b:.4g} ({b / a if a else float('nan'):.2f}x): {'GROWING' if grew else 'flat'}")
print()
print("verdict:", "growing: " + ", ".join(growing) if growing else "flat")
PY
