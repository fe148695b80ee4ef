#!/usr/bin/env bash
# The quickstart, end to end on this machine:
#  1. start a CNCF Distribution registry on localhost:15000 (standing in for ACR) and dockhand on
#     the example manifests;
#  2. push image localhost:15000/team/app:1.4.0 into the registry (plain registry HTTP API);
#  3. dry-run the ACR push webhook with `dockhand explain`, then send it as the registry would;
#  4. show what happened: the delivery (app-v1 refreshed; why app-v2 was not), the Warehouses, and
#     the Freight app-v1 recorded after discovering 1.4.0 and its digest from the registry;
#  5. point at the dashboard (http://127.0.0.1:18081/ui/) and, in a terminal, keep dockhand
#     running until Enter is pressed.
# Needs Debian's docker-registry (installed with apt-get when run as root), curl and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if [ ! -x /usr/bin/docker-registry ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null
  else
    echo "run.sh needs Debian's docker-registry: sudo apt-get install docker-registry" >&2
    exit 1
  fi
fi

cargo build --quiet --release --bin dockhand
bin="$root/target/release/dockhand"
work="$(mktemp -d)"
port="${PORT:-18080}"
admin_port="${ADMIN_PORT:-18081}"
registry="localhost:15000"
server="http://127.0.0.1:$admin_port"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:15000}
YAML
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)

"$bin" serve --config "$here/manifests" --data-dir "$work/data" \
  --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" \
  --base-url "http://127.0.0.1:$port" 2>"$work/dockhand.log" &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 &&
    curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done

# push_blob FILE: uploads FILE as a blob of team/app (start an upload, then finish it with the
# whole content); prints its digest.
push_blob() {
  local digest location sep
  digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  location="$(curl -fsS -X POST -D - -o /dev/null "http://$registry/v2/team/app/blobs/uploads/" |
    awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
  case "$location" in /*) location="http://$registry$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -fsS -X PUT --data-binary "@$1" -H 'Content-Type: application/octet-stream' \
    "$location${sep}digest=$digest" >/dev/null
  echo "$digest"
}

echo "== Push $registry/team/app:1.4.0 into the local registry"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"created":"2026-11-21T12:00:00Z"}' >"$work/config.json"
config_digest="$(push_blob "$work/config.json")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}' \
  "$config_digest" "$(wc -c <"$work/config.json")" >"$work/manifest.json"
curl -fsS -X PUT --data-binary "@$work/manifest.json" \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  "http://$registry/v2/team/app/manifests/1.4.0" >/dev/null
echo "pushed, manifest sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"

echo
echo "== Receiver URLs (what you would register with ACR / Harbor)"
"$bin" receivers --config "$here/manifests" --base-url "http://127.0.0.1:$port"
url="$("$bin" receivers --config "$here/manifests" --base-url "http://127.0.0.1:$port" -o json |
  python3 -c 'import json,sys; print([r["url"] for r in json.load(sys.stdin) if r["type"]=="azure"][0])')"

echo
echo "== dockhand explain: what this webhook would do, before anything is sent (a dry run)"
"$bin" explain --config "$here/manifests" --receiver kargo-demo/azure-wh-receiver \
  --payload "$here/acr-push.json" -H 'User-Agent: AzureContainerRegistry/1.0'

echo
echo "== POST the ACR push webhook for $registry/team/app:1.4.0"
curl -sS -X POST "$url" -H 'Content-Type: application/json' \
  -H 'User-Agent: AzureContainerRegistry/1.0' --data-binary "@$here/acr-push.json"
echo

# Discovery runs right after the refresh; give it a moment.
for _ in $(seq 1 50); do
  [ "$("$bin" freight kargo-demo/app-v1 --server "$server" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" != 0 ] && break
  sleep 0.1
done

echo
echo "== dockhand deliveries"
"$bin" deliveries --server "$server"
echo
echo "== dockhand warehouses"
"$bin" warehouses --server "$server"
echo
echo "== dockhand freight kargo-demo/app-v1"
"$bin" freight kargo-demo/app-v1 --server "$server"

echo
echo "== Dashboard: http://127.0.0.1:$admin_port/ui/"
echo "   the receivers and their URLs, each delivery and why a Warehouse did or did not refresh,"
echo "   the Warehouses and their Freight"
if [ -t 0 ]; then
  read -r -p "dockhand keeps running for the dashboard; press Enter to stop. " _ || true
fi
