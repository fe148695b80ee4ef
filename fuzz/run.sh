#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: fuzz/run.sh [seconds-per-target] (default 20).
# Installs cargo-fuzz when missing, seeds the corpus (fuzz/seed.sh), builds all targets once,
# then runs them one after the other; stops at the first crash, which libFuzzer writes to
# fuzz/artifacts/<target>/ (reproduce with `cargo fuzz run <target> <file>`).
#
# Works on a stable toolchain: RUSTC_BOOTSTRAP=1 lets stable rustc accept the -Z flags that
# cargo-fuzz passes (-Zsanitizer=address among them).
#   FUZZ_TARGET_DIR  target directory (default fuzz/target, or $CARGO_TARGET_DIR/fuzz when set)
#   FUZZ_SANITIZER   address (default) or none: about half the build time, at the cost of not
#                    catching memory errors in unsafe dependency code (unsafe-libyaml);
#                    scripts/test uses none for its short run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
default_dir=$PWD/target
[ -n "${CARGO_TARGET_DIR:-}" ] && default_dir=$CARGO_TARGET_DIR/fuzz
target_dir=${FUZZ_TARGET_DIR:-$default_dir}
sanitizer=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
./seed.sh

targets=$(cargo fuzz list)
cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in $targets; do
  echo "== fuzz $t for ${seconds}s"
  # -timeout: one input taking over 10 s is a bug too (a regex or YAML blow-up).
  status=0
  cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t failed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "all fuzz targets ran ${seconds}s without a crash"
