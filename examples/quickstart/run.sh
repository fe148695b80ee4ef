#!/usr/bin/env bash
# The quickstart: start dockhand on the example manifests, send it the ACR push webhook a registry
# would send for myregistry.azurecr.io/team/app:1.4.0, and show what it did: one delivery that
# refreshed app-v1 (its ^1.0.0 accepts 1.4.0) and explained why app-v2 (^2.0.0) was not refreshed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

cargo build --quiet --release --bin dockhand
bin="$root/target/release/dockhand"
data="$(mktemp -d)"
port="${PORT:-18080}"
admin_port="${ADMIN_PORT:-18081}"
server="http://127.0.0.1:$admin_port"

"$bin" serve --config "$here/manifests" --data-dir "$data" \
  --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" \
  --base-url "http://127.0.0.1:$port" 2>"$data/dockhand.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== Receiver URLs (register these with ACR / Harbor)"
"$bin" receivers --config "$here/manifests" --base-url "http://127.0.0.1:$port"
url="$("$bin" receivers --config "$here/manifests" --base-url "http://127.0.0.1:$port" -o json |
  python3 -c 'import json,sys; print([r["url"] for r in json.load(sys.stdin) if r["type"]=="azure"][0])')"

echo
echo "== POST an ACR push of myregistry.azurecr.io/team/app:1.4.0"
curl -sS -X POST "$url" -H 'Content-Type: application/json' \
  -H 'User-Agent: AzureContainerRegistry/1.0' --data-binary "@$here/acr-push.json"
echo
sleep 0.5

echo
echo "== dockhand deliveries"
"$bin" deliveries --server "$server"
echo
echo "== dockhand warehouses"
"$bin" warehouses --server "$server"
