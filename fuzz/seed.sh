#!/usr/bin/env bash
# Writes the seed corpus into fuzz/corpus/<target>/ (gitignored): the example payloads of
# tests/fixtures/ in the receiver targets' input layout (see fuzz/src/lib.rs), the example
# manifests, and URLs, constraints and path selectors as users and payloads write them.
# Idempotent; existing corpus entries (what earlier runs found) are kept.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures
manifests=../examples/quickstart/manifests

seed() { # target name, then the content on stdin
  mkdir -p "corpus/$1"
  cat >"corpus/$1/seed-$2"
}

# The receiver target: four leading bytes choose the receiver type, its credentials and the
# request headers (layout in src/lib.rs).
#   byte 0: receiver type, the index in RECEIVER_TYPES (0 azure, 1 harbor, 2 github, 3 gitlab, 4 bitbucket, 5 gitea, 6 generic, 7.. below)
#   byte 1: optional Secret key groups present (azure: 1 = auth-header, 2 = username+password)
#   byte 2: User-Agent (1 ACR, 2 Azure DevOps), aeg-event-type (4 Notification,
#           8 SubscriptionValidation), Authorization (0x10 auth-header, 0x20 right Basic),
#           0x80 OPTIONS
#   byte 3: 1 Content-Type JSON, 2 CloudEvents binary headers, 4/8 WebHook-Request-Origin/-Rate,
#           0x10 a header block follows the four bytes
azure='\x00'
harbor='\x01'
for f in "$fixtures"/acr-*.json "$fixtures"/azure-devops-*.json "$fixtures"/eventgrid-*.json; do
  name=$(basename "$f" .json)
  for prefix in '\x00\x00\x00' '\x01\x11\x01' '\x03\x22\x01' '\x03\x20\x00' '\x01\x14\x01' '\x01\x18\x01'; do
    { printf "$azure$prefix"; cat "$f"; } | seed receiver "azure-$name-$(printf '%s' "$prefix" | tr -d '\\x')"
  done
done
{ printf "$azure"'\x00\x80\x0c'; } | seed receiver azure-options-handshake
{ printf "$azure"'\x01\x00\x11'; printf 'User-Agent: AzureContainerRegistry/2.0\nAuthorization: Bearer fuzz-auth-header-5Jd\n\n'
  cat "$fixtures/acr-push.json"; } | seed receiver azure-header-block-acr-push

for f in "$fixtures"/harbor-*.json; do
  name=$(basename "$f" .json)
  { printf "$harbor"'\x00\x10\x01'; cat "$f"; } | seed receiver "harbor-$name"
done
{ printf "$harbor"'\x00\x10\x03'; cat "$fixtures/harbor-cloudevents-push.json"; } | seed receiver harbor-ce-binary
{ printf "$harbor"'\x00\x00\x10'; printf 'Authorization: Bearer fuzz-auth-header-5Jd\nce-type: harbor.artifact.pushed\nce-id: 1\n\n'
  cat "$fixtures/harbor-push-artifact.json"; } | seed receiver harbor-header-block-ce
{ printf "$harbor"'\x00\x00\x01'; cat "$fixtures/harbor-push-artifact.json"; } | seed receiver harbor-no-auth

# The registry receivers, by their index in RECEIVER_TYPES (update these with the table's order):
# 2 dockerhub, 3 quay, 4 artifactory, 5 distribution, 6 ecr, 7 gar. Byte 1 bit 0 gives
# distribution and ecr their auth-header, byte 2 0x10 sends it. Artifactory's signature cannot be
# forged by the fuzzer; its parser is swept signed by the table test (artifactory/tests.rs).
registry_seed() { # index, fixture glob prefix, name
  local f
  for f in "$fixtures"/$2*.json; do
    { printf "$1"'\x00\x00\x01'; cat "$f"; } | seed receiver "$3-$(basename "$f" .json)"
    { printf "$1"'\x01\x10\x01'; cat "$f"; } | seed receiver "$3-auth-$(basename "$f" .json)"
  done
}
registry_seed '\x07' dockerhub- dockerhub
registry_seed '\x08' quay- quay
registry_seed '\x09' jfrog- artifactory
registry_seed '\x0a' distribution- distribution
registry_seed '\x0b' ecr- ecr
registry_seed '\x0c' gar- gar
{ printf '\x09\x00\x00\x10'; printf 'X-Jfrog-Event-Auth: 00ff\n\n'
  cat "$fixtures/jfrog-docker-pushed.json"; } | seed receiver artifactory-header-block

# URLs as subscriptions and payloads spell them (from the examples and fixtures, and more).
urls=(
  nginx library/nginx docker.io/library/nginx:1.27 index.docker.io/library/nginx
  MyRegistry.azurecr.io/hello-world myregistry.azurecr.io/team/app:v1
  oci://myregistry.azurecr.io/helm/mychart localhost:5000/app https://ghcr.io/org/app
  localhost/harbor/alpine@sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4
  quay.io/mynamespace/repository:1.2.3 'hub.harbor.com/test-webhook/debian:latest'
  https://github.com/org/repo.git git@github.com:org/repo.git ssh://git@github.com:22/org/repo
  git://example.com/repo https://alexander0053@dev.azure.com/alexander0053/alex-test/_git/alex-test
  git@ssh.dev.azure.com:v3/alexander0053/alex-test/alex-test
  'https://v1platformtest.visualstudio.com/DefaultCollection/_git/V1%20Integration'
  http://tfs.corp:8080/tfs/DefaultCollection/Project/_git/Repo 'https://user:pass@host/a/b?token=x'
  helm:charts.example.com/stable#nginx
)
i=0
for u in "${urls[@]}"; do
  i=$((i + 1))
  for t in image_key git_key; do printf '%s' "$u" | seed "$t" "$i"; done
  printf '%s' "$u" | seed chart_key "oci-$i"
  printf '%s\0nginx' "$u" | seed chart_key "named-$i"
done
printf 'https://charts.example.com/stable\0nginx' | seed chart_key classic
# Userinfo variant layout: scheme selector byte, user, NUL, rest.
printf '\x01alice\0github.com/org/repo' | seed git_key userinfo
printf '\x00git\0github.com:org/repo' | seed git_key userinfo-scp
printf '\x05robot\0myregistry.azurecr.io/team/app' | seed image_key userinfo

# Constraints, NUL, a version.
i=0
for c in '^1.0.0' '~1.2' '>=1.0 <2.0 || 3.x' '1.2.x' '!=1.2.3' '>= 1.2.3-rc.1' '*' '=v1.2' \
  '1 - 2' '<=2.0.0-0'; do
  for v in 1.2.3 v1.3.0-rc.1 1.2 01.2.3 '1.2.3+build.007' latest; do
    i=$((i + 1))
    printf '%s\0%s' "$c" "$v" | seed semver "$i"
  done
done

# Path selectors, NUL, a path.
i=0
for s in apps/web 'glob:apps/*/values.yaml' 'glob:**/*.md' 'regex:^charts/.+' ./apps//web/ \
  'glob:[a-z]?/{x,y}'; do
  i=$((i + 1))
  printf '%s\0apps/web/values.yaml' "$s" | seed path_selector "$i"
done

for f in "$manifests"/*.yaml; do seed config_load "$(basename "$f" .yaml)" <"$f"; done
cat "$manifests"/*.yaml | seed config_load all
