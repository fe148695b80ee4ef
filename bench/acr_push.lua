-- wrk script for bench/run.sh: POSTs ACR push webhooks (the shape of tests/fixtures/acr-push.json),
-- one per Warehouse of the generated configuration in turn, each to its project's receiver path.
-- BENCH_TARGETS names targets.tsv (written by `dockhand-bench gen`); BENCH_PATH, when set,
-- replaces every path (the bare server and the Flask handler have one endpoint).
-- done() prints one JSON line with requests/s and p50/p99/p99.9 (wrk's own --latency output has
-- no p99.9).

local targets = os.getenv("BENCH_TARGETS")
local override = os.getenv("BENCH_PATH")
local registry = os.getenv("BENCH_REGISTRY") or "localhost:18320"
if override == "" then override = nil end
local reqs = {}
local n = 0

local body_format = [[{
  "id": "cb8c3971-9adc-488b-bdd8-%012x",
  "timestamp": "2017-11-17T16:52:01.343145347Z",
  "action": "push",
  "target": {
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "size": 524,
    "digest": "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d",
    "length": 524,
    "repository": "%s",
    "tag": "%s"
  },
  "request": {
    "id": "3cbb6949-7549-4fa1-86cd-a6d5451dffc7",
    "host": "%s",
    "method": "PUT",
    "useragent": "docker/17.09.0-ce go/go1.8.3 git-commit/afdb6d4 kernel/4.10.0-27-generic os/linux arch/amd64 UpstreamClient(Docker-Client/17.09.0-ce \\(linux\\))"
  }
}]]

function init(args)
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "AzureContainerRegistry/1.0",
  }
  for line in io.lines(targets) do
    local path, repo, tag = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)")
    if path then
      local body = string.format(body_format, #reqs, repo, tag, registry)
      reqs[#reqs + 1] = wrk.format("POST", override or path, headers, body)
    end
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50Us":%d,"p99Us":%d,"p999Us":%d,"maxUs":%d,' ..
    '"non2xx":%d,"socketErrors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
