#!/usr/bin/env python3
"""Live-table benchmark (not a timed test): fills a private network namespace's conntrack table
with N filler entries (default 250,000) and times, in the same run, three readers of it:

  raw      `ctrack status --raw-dump`: a ctnetlink dump that only counts the messages (the
           kernel's floor)
  conntrack `conntrack -L > /dev/null`
  status   `ctrack status` (dump plus every breakdown, stale detectors, rules, kernel log)

each --repeat times (median reported), with the peak RSS of each child (wait4's ru_maxrss).
Needs root. The namespace is removed at the end; the host's table and sysctls are untouched.

  sudo python3 scripts/bench-status.py [--entries 250000] [--repeat 5] [--build build/release]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    # Peak RSS from GNU time (%M, KB) when installed: wait4's ru_maxrss of a child forked from
    # Python would include the Python process's own high-water mark before exec.
    tf = "/tmp/bench-status-%d.rss" % os.getpid()
    use_time = os.path.exists("/usr/bin/time")
    full = (["/usr/bin/time", "-f", "%M", "-o", tf] if use_time else []) + cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("bench-status: %s failed" % " ".join(cmd))
    rss = float("nan")
    if use_time:
        with open(tf) as f:
            rss = int(f.read().split()[-1]) / 1024.0
        os.unlink(tf)
    return dt, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=250000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build", default="build/release")
    a = ap.parse_args()
    ctrack = os.path.join(a.build, "ctrack")
    fill = os.path.join(a.build, "tests", "ctrack_ct_fill")
    for f in (ctrack, fill):
        if not os.path.exists(f):
            sys.exit("bench-status: %s not built (cmake --build %s --target ctrack_cli ctrack_ct_fill)"
                     % (f, a.build))
    if os.geteuid() != 0:
        sys.exit("bench-status: needs root (network namespace, ctnetlink)")
    ns = "ctrack-bench-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        t0 = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", ns, fill, str(a.entries)], check=True,
                       stdout=subprocess.DEVNULL)
        print("filled %d entries in %.1f s" % (a.entries, time.perf_counter() - t0))
        cmds = {
            "raw ctnetlink dump (count only)": [ctrack, "status", "--netns", ns, "--raw-dump"],
            "conntrack -L > /dev/null": ["ip", "netns", "exec", ns, "conntrack", "-L"],
            "ctrack status": [ctrack, "status", "--netns", ns],
        }
        res = {k: [] for k in cmds}
        for _ in range(a.repeat):
            for k, c in cmds.items():  # interleaved: the same load for each
                res[k].append(run(c))
        raw = statistics.median(t for t, _ in res["raw ctnetlink dump (count only)"])
        print("%-34s %9s %9s %9s %11s" % ("", "median s", "min s", "x raw", "peak RSS MB"))
        for k, v in res.items():
            ts = [t for t, _ in v]
            m = statistics.median(ts)
            print("%-34s %9.3f %9.3f %9.2f %11.1f" % (k, m, min(ts), m / raw, max(r for _, r in v)))
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    main()
