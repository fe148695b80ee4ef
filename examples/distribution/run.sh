#!/usr/bin/env bash
# The CNCF Distribution example, end to end on this machine, with no webhook written by hand:
#  1. compute the receiver URL (`dockhand receivers`) and start dockhand on the manifests;
#  2. start a CNCF Distribution registry on localhost:15001 whose config.yml has a
#     notifications endpoint at that URL, sending the Secret's auth-header;
#  3. push image localhost:15001/team/app:1.4.0 into the registry (plain registry HTTP API);
#  4. the registry notifies dockhand by itself; show the deliveries (the manifest push refreshed
#     Warehouse app, blob uploads and discovery's pulls were ignored), the Warehouse, and the
#     Freight recorded after discovering 1.4.0 and its digest.
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
port="${PORT:-18090}"
admin_port="${ADMIN_PORT:-18091}"
registry="localhost:15001"
server="http://127.0.0.1:$admin_port"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== Receiver URL (what the registry's config.yml names)"
"$bin" receivers --config "$here/manifests" --base-url "http://127.0.0.1:$port"
url="$("$bin" receivers --config "$here/manifests" --base-url "http://127.0.0.1:$port" -o json |
  python3 -c 'import json,sys; print([r["url"] for r in json.load(sys.stdin) if r["type"]=="distribution"][0])')"

"$bin" serve --config "$here/manifests" --data-dir "$work/data" \
  --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" \
  --base-url "http://127.0.0.1:$port" 2>"$work/dockhand.log" &
pids+=($!)

cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:15001}
notifications:
  endpoints:
    - name: dockhand
      url: $url
      headers:
        Authorization: [Bearer distribution-example-token]
      timeout: 2s
      threshold: 5
      backoff: 1s
YAML
echo
echo "== Registry notifications section"
sed -n '/^notifications:/,$p' "$work/registry.yml"
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 &&
    curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done

# push_blob FILE: uploads FILE as a blob of team/app; prints its digest.
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

echo
echo "== Push $registry/team/app:1.4.0 into the registry (nothing is sent to dockhand by hand)"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"created":"2026-11-26T12:00:00Z"}' >"$work/config.json"
config_digest="$(push_blob "$work/config.json")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}' \
  "$config_digest" "$(wc -c <"$work/config.json")" >"$work/manifest.json"
curl -fsS -X PUT --data-binary "@$work/manifest.json" \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  "http://$registry/v2/team/app/manifests/1.4.0" >/dev/null
echo "pushed, manifest sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"

# The registry notifies asynchronously, then discovery runs; give them a moment.
for _ in $(seq 1 100); do
  [ "$("$bin" freight kargo-demo/app --server "$server" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" != 0 ] && break
  sleep 0.1
done

echo
echo "== dockhand deliveries (sent by the registry)"
"$bin" deliveries --server "$server"
echo
echo "== dockhand warehouses"
"$bin" warehouses --server "$server"
echo
echo "== dockhand freight kargo-demo/app"
"$bin" freight kargo-demo/app --server "$server"
