"""Renders bench/run.sh's results (one JSON object per line: {"case", "data"}) as the Markdown
tables BENCHMARKS.md shows, with every target checked against numbers from the same run."""

import argparse
import json
import platform


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return model, mem_kb / 1024 / 1024


def verdict(ok):
    return "met" if ok else "**MISSED**"


def ms(us):
    return f"{us / 1000:.2f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--cores", type=int)
    ap.add_argument("--conns", type=int)
    ap.add_argument("--seconds", type=float)
    a = ap.parse_args()
    r = {}
    with open(a.results) as f:
        for line in f:
            o = json.loads(line)
            r[o["case"]] = o["data"]

    model, mem = machine()
    out = []
    w = out.append
    w(f"Machine: {a.cores} cores ({model}), {mem:.1f} GiB memory, {platform.system()} "
      f"{platform.release()}; load generator and servers share these cores.")
    w("")

    dh, bare, flask = r.get("ingest-dockhand"), r.get("ingest-bare"), r.get("ingest-flask")
    durable = r.get("ingest-durable")
    if dh and bare and flask:
        w(f"### Ingest (wrk, 1 thread, {a.conns} connections, {a.seconds:g} s, ACR push payloads)")
        w("")
        w("| server | requests/s | p50 | p99 | p99.9 | non-2xx / socket errors |")
        w("|---|---:|---:|---:|---:|---:|")
        rows = [("dockhand (1,000 Warehouses, durable SQLite log)", dh),
                ("bare hyper (read body, 200)", bare)]
        if durable:
            rows.append(("durable ceiling (read body, append, group fdatasync, 200)", durable))
        rows.append((f"Flask sample 2, gunicorn {a.cores} workers", flask))
        for name, d in rows:
            w(f"| {name} | {d['rps']:,.0f} | {ms(d['p50Us'])} | {ms(d['p99Us'])} | "
              f"{ms(d['p999Us'])} | {d['non2xx']} / {d['socketErrors']} |")
        w("")
        rb, rf = dh["rps"] / bare["rps"], dh["rps"] / flask["rps"]
        w("| ratio (same run) | value | target | |")
        w("|---|---:|---:|---|")
        if durable:
            rd = dh["rps"] / durable["rps"]
            w(f"| dockhand / durable ceiling | {rd:.2f} | ≥ 0.70 | {verdict(rd >= 0.7)} |")
        w(f"| dockhand / bare hyper | {rb:.2f} | ≥ 0.50 | {verdict(rb >= 0.5)} |")
        w(f"| dockhand / Flask | {rf:.1f}× | ≥ 10× | {verdict(rf >= 10)} |")
        d80 = r.get("ingest-dockhand-80")
        if d80:
            w(f"| dockhand p99 at 80% of peak ({d80['targetRate']:,.0f} req/s offered, "
              f"{d80['achievedRps']:,.0f} achieved, open loop; p50 {ms(d80['p50Us'])}, "
              f"p99.9 {ms(d80['p999Us'])}, errors {d80['errors']}) | {ms(d80['p99Us'])} | "
              f"< 10 ms | {verdict(d80['p99Us'] < 10_000)} |")
        w("")

    lat = r.get("latency")
    if lat:
        w(f"### Push to reconcile start ({lat['pushes']:,} pushes at {lat['rate']:g}/s "
          "to distinct Warehouses)")
        w("")
        w("| reconciled | p50 | p99 | max | target p99 < 10 ms |")
        w("|---:|---:|---:|---:|---|")
        w(f"| {lat['reconciled']:,} / {lat['pushes']:,} | {lat['p50Ms']:.1f} ms | "
          f"{lat['p99Ms']:.1f} ms | {lat['maxMs']:.1f} ms | "
          f"{verdict(lat['p99Ms'] < 10 and lat['reconciled'] == lat['pushes'])} |")
        w("")

    sizes = sorted(int(k.split("-")[1]) for k in r if k.startswith("lookup-"))
    if sizes:
        w("### Scale (3 subscriptions per Warehouse, 100 Warehouses per project)")
        w("")
        w("| Warehouses | load (core) | index build | serve ready | serve RSS | "
          "ns/event (match) | ns/event (no subscriber) | ns/event (100 candidates) | "
          "heap bytes/subscription (config + index) | index bytes/subscription |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            l, s = r[f"lookup-{n}"], r.get(f"serve-{n}", {})
            rss = f"{s['rssBytes'] / 2**20:.0f} MiB" if s else "-"
            ready = f"{s['readyMs'] / 1000:.2f} s" if s else "-"
            w(f"| {n:,} | {l['loadMs']:.0f} ms | {l['indexBuildMs']:.0f} ms | {ready} | {rss} | "
              f"{l['nsPerEvent']:,.0f} | {l['nsPerEventMiss']:,.0f} | "
              f"{l['nsPerEventFanout']:,.0f} | {l['bytesPerSubscription']:.0f} | "
              f"{l['indexBytesPerSubscription']:.0f} |")
        w("")
        lo, hi = r[f"lookup-{sizes[0]}"], r[f"lookup-{sizes[-1]}"]
        flat = hi["nsPerEvent"] / lo["nsPerEvent"]
        w("| scale target | value | target | |")
        w("|---|---:|---:|---|")
        w(f"| per-event match cost, {sizes[-1]:,} vs {sizes[0]:,} Warehouses | {flat:.2f}× | "
          f"flat (≤ 1.5×) | {verdict(flat <= 1.5)} |")
        w(f"| lookup+match at {sizes[-1]:,} Warehouses | {hi['nsPerEvent']:,.0f} ns | "
          f"< 2,000 ns | {verdict(hi['nsPerEvent'] < 2000)} |")
        w(f"| memory per subscription at {sizes[-1]:,} (config + index) | "
          f"{hi['bytesPerSubscription']:.0f} B | < 500 B | "
          f"{verdict(hi['bytesPerSubscription'] < 500)} |")
        s = r.get(f"serve-{sizes[-1]}")
        if s:
            w(f"| dockhand serve RSS at {sizes[-1]:,} Warehouses | "
              f"{s['rssBytes'] / 2**20:.0f} MiB | < 300 MB | "
              f"{verdict(s['rssBytes'] < 300e6)} |")
        w("")

    st = r.get("storm")
    if st:
        w(f"### Storm ({st['pushes']:,} pushes of one tag to one repository in "
          f"{st['sentInSeconds']:.2f} s; {st['subscribedWarehouses']} subscribed Warehouses)")
        w("")
        w("| answered 200 | deliveries recorded | reconciles per Warehouse (min–max) | "
          "reconciles total | targets |")
        w("|---:|---:|---:|---:|---|")
        ok = st["reconcilesMax"] is not None and st["reconcilesMax"] <= 2 \
            and st["deliveriesRecorded"] == st["pushes"]
        w(f"| {st['answered200']:,} | {st['deliveriesRecorded']:,} | "
          f"{st['reconcilesMin']}–{st['reconcilesMax']} | {st['reconcilesTotal']} | "
          f"≤ 2 per Warehouse, all recorded: {verdict(ok)} |")
        w("")
        w("Registry calls: a webhook's reconcile discovers the subscription the push named (here "
          "1 of 3) from the local Distribution registry, plus, on a Warehouse's first reconcile, "
          "the other two; so registry calls ≤ reconciles × subscriptions (here ≤ "
          f"{st['reconcilesTotal'] * 3}) and, after the first, about one per reconcile.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
