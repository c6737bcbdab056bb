#!/usr/bin/env python3
"""Summarises bench/peers/run.sh's raw lines: min / median / max per side, ratio of medians,
digest checks, what differs between the sides, and the issue's goals. Standard library only."""
import statistics
import sys

NOTES = {
    "w1": "W1 capture in order, batches of 32, checksums verified on both sides",
    "w2": "one UDP datagram repeated, batches of 32",
    "w3": "40,000 new UDP connections into a 10,000-entry table, in order, batches of 32",
    "w4": "50,000 unreplied UDP connections looked up in one shuffled order, 10 passes, batches of 32",
    "lookup1m": "1,000,000 replied UDP connections (1/4 IPv6); 1,048,576 packets of random "
                "connections, either direction, 3 passes, batches of 32",
    "new": "first fill: SYNs of 1,000,000 distinct flows into an empty table (fresh memory), "
           "batches of 32",
}
DIFFERS = {
    "ovs": "OVS: conntrack_execute() alone is timed (flow extraction and metadata reset before "
           "the clock; ctrack's figure includes link/IP/L4 parsing); each batch is split by "
           "EtherType (one dl_type per call); clock read per batch; OVS checks L3/L4 checksums "
           "and TCP sequence windows like ctrack, has no early drop (a full table refuses); its "
           "timeouts are set to 1 h because its clean thread expires on the real clock (nothing "
           "expires while timing on either side)",
    "dpdk": "rte_hash: lookup structure only (rte_hash_lookup_bulk; two rte_hash_add_key per "
            "miss); keys extracted before the clock; no parsing, checksum, state or timeout",
}


def fields(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def spread(vals):
    return min(vals), statistics.median(vals), max(vals)


def main(path):
    rows = {}
    order = []
    for raw in open(path):
        parts = raw.split(None, 2)
        if len(parts) < 3:
            continue
        w, side, rest = parts
        if w not in rows:
            rows[w] = {}
            order.append(w)
        rows[w].setdefault(side, []).append(fields(rest))
    med = {}
    print()
    print(f"{'workload':<11} {'side':<7} {'runs':>4} {'min':>8} {'median':>8} {'max':>8} "
          f"{'B/conn':>7} {'peer/ctrack':>11}  digest")
    for w in order:
        if w not in NOTES:
            continue
        sides = rows[w]
        ct = sides.get("ctrack", [])
        ct_med = statistics.median(f["ns_per_packet"] for f in ct) if ct else None
        ct_digest = {f.get("digest") for f in ct}
        for side in [s for s in sides if s != "ctrack"] + ["ctrack"]:
            runs = [f for f in sides.get(side, []) if "ns_per_packet" in f]
            if not runs:
                print(f"{w:<11} {side:<7} no result")
                continue
            lo, mid, hi = spread([f["ns_per_packet"] for f in runs])
            bpc = statistics.median(f.get("bytes_per_conn", 0) for f in runs)
            med[(w, side)] = mid
            med[(w, side, "bpc")] = bpc
            if side == "ctrack":
                med[(w, side, "rss")] = statistics.median(f.get("rss_bytes_per_conn", 0) for f in runs)
            ratio = f"{mid / ct_med:11.2f}" if side != "ctrack" and ct_med else " " * 11
            dig = {f.get("digest") for f in runs}
            ok = "same" if dig == ct_digest and len(dig) == 1 else f"DIFFERS {dig} vs {ct_digest}"
            print(f"{w:<11} {side:<7} {len(runs):>4} {lo:8.1f} {mid:8.1f} {hi:8.1f} {bpc:7.0f} "
                  f"{ratio}  {ok}")
        vs = "; ".join(f"{s}: new {int(statistics.median(f.get('new', 0) for f in r))} "
                       f"est {int(statistics.median(f.get('est', 0) for f in r))} "
                       f"inv {int(statistics.median(f.get('inv', 0) for f in r))}"
                       for s, r in sides.items() if s != "ctrack")
        print(f"{'':<11} ({NOTES[w]}; peer verdicts per run: {vs})")
    print("\nns per packet (min / median / max over the processes); B/conn: ctrack "
          "memory_bytes() / entries, peers resident growth / connections")
    for p, text in DIFFERS.items():
        print(f"  {text}")
    print()
    extra = {}
    for w in ("new-steady", "w1_--threads_2", "flood"):
        runs = rows.get(w, {}).get("ctrack", [])
        runs = [f for f in runs if "ns_per_packet" in f]
        if not runs:
            continue
        lo, mid, hi = spread([f["ns_per_packet"] for f in runs])
        if w == "new-steady":
            extra[w] = mid
            print(f"new-steady  ctrack {len(runs)} runs: {lo:.1f} / {mid:.1f} / {hi:.1f} ns per new "
                  f"connection (table of 1,000,000 SYN_SENT entries; GC and reaping included), "
                  f"{statistics.median(f.get('bytes_per_conn', 0) for f in runs):.0f} B/conn")
        elif w == "w1_--threads_2":
            s = spread([f["speedup"] for f in runs])
            one = statistics.median(f["single_ns"] for f in runs)
            split = statistics.median(f["split_ns"] for f in runs)
            extra[w] = s[1]
            print(f"w1 x2       ctrack {len(runs)} runs: speed-up {s[0]:.2f} / {s[1]:.2f} / "
                  f"{s[2]:.2f} (two threads {mid:.1f} ns/packet of W1 with the split included, "
                  f"one thread {one:.1f}; the split alone {split:.1f} ns/packet)")
        else:
            r = spread([f["est_ratio"] for f in runs])
            extra[w] = r[1]
            g = lambda k: statistics.median(f[k] for f in runs)
            print(f"flood       ctrack {len(runs)} runs: established throughput under the flood "
                  f"{100 * r[0]:.0f} / {100 * r[1]:.0f} / {100 * r[2]:.0f} % of unloaded "
                  f"({g('est_unloaded_ns'):.1f} ns alone, {g('est_loaded_ns'):.1f} in the mix); "
                  f"attack SYN {g('syn_ns'):.1f} ns; whole mix {g('mix_ns'):.1f} ns/packet")
    print("\ngoals (this run):")

    def goal(name, have, ok):
        print(f"  {'met ' if ok else 'MISS'} {name}: {have}")

    if ("w1", "ovs") in med and ("w1", "ctrack") in med:
        r = med[("w1", "ovs")] / med[("w1", "ctrack")]
        goal("W1 >= 10x OVS", f"{r:.2f}x", r >= 10)
    if ("lookup1m", "dpdk") in med:
        r = med[("lookup1m", "dpdk")] / med[("lookup1m", "ctrack")]
        goal("lookup1m >= rte_hash_lookup_bulk", f"{r:.2f}x rte_hash's speed", r >= 1)
    if "new-steady" in extra:
        goal("new connection <= 60 ns steady", f"{extra['new-steady']:.1f} ns", extra["new-steady"] <= 60)
    if ("new", "ctrack") in med:
        goal("new connection <= 100 ns first fill", f"{med[('new', 'ctrack')]:.1f} ns",
             med[("new", "ctrack")] <= 100)
    for w in ("w1", "lookup1m"):
        if (w, "ctrack", "bpc") in med:
            b = med[(w, "ctrack", "bpc")]
            goal(f"<= 96 B/conn ({w})", f"{b:.0f} B (resident growth {med[(w, 'ctrack', 'rss')]:.0f})",
                 b <= 96)
    if "w1_--threads_2" in extra:
        goal("two cores >= 1.9x on W1", f"{extra['w1_--threads_2']:.2f}x", extra["w1_--threads_2"] >= 1.9)
    if "flood" in extra:
        goal("established under SYN flood >= 90 % of unloaded", f"{100 * extra['flood']:.0f} %",
             extra["flood"] >= 0.9)


if __name__ == "__main__":
    main(sys.argv[1])
