#!/bin/bash
# Replays every TCP sequence case of tests/proto/tcp_test.cc through the running kernel's
# conntrack (/work/shared/oracle/kernel-ct, needs root) and compares the kernel's verdict, state,
# status and timeout with the values the test expects.
#
# Usage: scripts/oracle_check_tcp.sh [TEST_BINARY] [CASE_FILTER]
#   TEST_BINARY defaults to build/tests/ctrack_tests; CASE_FILTER is a gtest name pattern
#   (default: every case). Timeouts may read one second less in the kernel (jiffies, floor), and
#   one more second less in --timing real cases.
set -euo pipefail
BIN=${1:-$(dirname "$0")/../build/tests/ctrack_tests}
FILTER=${2:-*}
ORACLE=${KERNEL_CT:-/work/shared/oracle/kernel-ct}
OUT=$(mktemp -d /tmp/oracle_tcp.XXXXXX)
echo "cases in $OUT"

CTRACK_TCP_ORACLE_DIR=$OUT "$BIN" --gtest_filter="Tcp/TcpSequenceTest.MatchesKernel/$FILTER" \
  >"$OUT/gtest.log" 2>&1 || echo "note: ctrack_tests reported failures (see $OUT/gtest.log)"

for pcap in "$OUT"/*.pcap; do
  name=$(basename "$pcap" .pcap)
  # shellcheck disable=SC2046
  "$ORACLE" $(cat "$OUT/$name.args") --out "$OUT/$name.kct" "$pcap" >"$OUT/$name.kct.log" 2>&1 ||
    echo "$name: kernel-ct failed (see $OUT/$name.kct.log)"
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
bad = 0
for f in sorted(os.listdir(out)):
    if not f.endswith('.expect.tsv'):
        continue
    name = f[:-len('.expect.tsv')]
    kct = os.path.join(out, name + '.kct')
    real = '--timing real' in open(os.path.join(out, name + '.args')).read()
    slack = 2 if real else 1
    rows = [l.rstrip('\n').split('\t') for l in open(os.path.join(out, f))]
    try:
        pk = [json.loads(l) for l in open(os.path.join(kct, 'packets.jsonl'))]
        table = [json.loads(l) for l in open(os.path.join(kct, 'table.jsonl'))]
    except OSError as e:
        print(f'{name}: no kernel output ({e})'); bad += 1; continue
    errs = []
    def tmatch(want, got):
        return want == -1 or (got is not None and want - slack <= got <= want)
    for r in rows:
        if r[0] in ('F', 'E'):
            continue
        i, verdict, state, status, timeout = int(r[0]), r[1], r[2], r[3], int(r[4])
        k = pk[i]
        if k['verdict'] != verdict:
            errs.append(f'#{i}: verdict {k["verdict"]} want {verdict}')
        if k.get('state') is None:  # invalid or entry gone: the kernel reports no entry
            continue
        kst = ','.join(k.get('status') or [])
        if k['state'] != state or kst != status:
            errs.append(f'#{i}: {k["state"]} {kst} want {state} {status}')
        if not tmatch(timeout, k.get('timeout')):
            errs.append(f'#{i}: timeout {k.get("timeout")} want {timeout}')
    finals = [r for r in rows if r[0] == 'E']
    if any(r[0] == 'F' for r in rows):
        if len(table) != len(finals):
            errs.append(f'table: {len(table)} entries want {len(finals)}')
        else:
            got = sorted((t['state'], ','.join(t['status']), t['timeout']) for t in table)
            want = sorted((r[2], r[3], int(r[4])) for r in finals)
            for g, w in zip(got, want):
                if g[:2] != w[:2] or not tmatch(w[2], g[2]):
                    errs.append(f'table: {g} want {w}')
    print(f'{name}: ' + ('ok' if not errs else 'MISMATCH\n  ' + '\n  '.join(errs)))
    bad += bool(errs)
print(f'{bad} case(s) differ from the kernel')
sys.exit(1 if bad else 0)
PY
