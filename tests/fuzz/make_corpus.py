#!/usr/bin/env python3
"""Builds the fuzz seed corpus from the project's own generated captures.

usage: make_corpus.py CTRACK_BINARY OUT_DIR   (OUT_DIR is normally tests/fuzz/corpus)

For every `ctrack gen` scenario (small sizes) it writes:
  pcap/   the first records of the capture as pcap (LE/BE, us/ns), pcapng, raw-IP and SLL variants
  parse/  single frames: one link-type selector byte, then the frame
  track/  packet sequences in FuzzTrack's record format ([len:2][flags][time step][frame])
  set/    NAME=VALUE lines for every sysctl of include/ctrack/config.h
pcap/crafted-* are not written here: they are the hand-made captures of tests/unit/capture_test.cc
(several pcapng interfaces and sections, SPB/OPB, snaplen 0, cut records), copied from a run with
CTRACK_CAPTURE_CASES_DIR set.
The output is deterministic; keep it small (the whole corpus stays well under 2 MB).
"""
import hashlib
import os
import re
import struct
import subprocess
import sys
import tempfile

SCENARIOS = ["web", "synflood", "udpflood", "dns", "portscan", "flaky"]
RECORDS_PER_PCAP = 40
FRAMES_PER_SCENARIO = 40
TRACK_LEN = 60


def read_pcap(path):
    data = open(path, "rb").read()
    magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    off, recs = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
        recs.append((sec, frac, data[off + 16:off + 16 + caplen], wirelen))
        off += 16 + caplen
    return magic, snaplen, linktype, recs


def pcap_bytes(recs, linktype, big=False, ns=False, snaplen=262144):
    e = ">" if big else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B23C4D if ns else 0xA1B2C3D4, 2, 4, 0, 0, snaplen,
                       linktype)]
    for sec, frac, frame, wirelen in recs:
        out.append(struct.pack(e + "IIII", sec, frac, len(frame), wirelen) + frame)
    return b"".join(out)


def pcapng_bytes(recs, linktype, usec=True):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", linktype, 0, 262144))
    out = [shb, idb]
    for sec, frac, frame, wirelen in recs:
        ts = sec * 1000000 + frac if usec else 0
        out.append(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                                        wirelen) + frame))
    return b"".join(out)


def put(out_dir, sub, data, seen):
    h = hashlib.sha1(data).hexdigest()[:16]
    if h in seen:
        return
    seen.add(h)
    d = os.path.join(out_dir, sub)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "seed-" + h), "wb").write(data)


def main():
    ctrack, out_dir = sys.argv[1], sys.argv[2]
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        for sc in SCENARIOS:
            p = os.path.join(tmp, sc + ".pcap")
            subprocess.run([ctrack, "gen", sc, "-o", p, "--conns", "20", "--duration", "2",
                            "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
            _, _, lt, recs = read_pcap(p)
            head = recs[:RECORDS_PER_PCAP]
            put(out_dir, "pcap", pcap_bytes(head, lt), seen)
            put(out_dir, "pcap", pcap_bytes(head[:10], lt, big=True), seen)
            put(out_dir, "pcap", pcap_bytes([(s, f * 1000, fr, w) for s, f, fr, w in head[:10]],
                                            lt, ns=True), seen)
            put(out_dir, "pcap", pcapng_bytes(head[:10], lt), seen)
            # Raw IP (LINKTYPE_RAW 101) and Linux cooked SLL (113): re-framed Ethernet records.
            raw = [(s, f, fr[14:], w - 14) for s, f, fr, w in head[:10]]
            put(out_dir, "pcap", pcap_bytes(raw, 101), seen)
            sll = [(s, f, b"\0\0\0\1\0\6" + fr[6:12] + b"\0\0" + fr[12:14] + fr[14:], w + 2)
                   for s, f, fr, w in head[:10]]
            put(out_dir, "pcap", pcap_bytes(sll, 113), seen)
            # A snaplen-cut copy: records shorter than on the wire.
            cut = [(s, f, fr[:54], w) for s, f, fr, w in head[:10]]
            put(out_dir, "pcap", pcap_bytes(cut, lt, snaplen=54), seen)

            step = max(1, len(recs) // FRAMES_PER_SCENARIO)
            for _, _, fr, _ in recs[::step][:FRAMES_PER_SCENARIO]:
                put(out_dir, "parse", b"\0" + fr, seen)

            for start in range(0, min(len(recs), 3 * TRACK_LEN), TRACK_LEN):
                seq = recs[start:start + TRACK_LEN]
                buf = [b"\1"]
                prev = seq[0][0] * 10**6 + seq[0][1] if seq else 0
                for sec, frac, fr, _ in seq:
                    t = sec * 10**6 + frac
                    quarters = min(255, max(0, (t - prev) // 250000))
                    prev = t
                    buf.append(struct.pack(">HBB", len(fr), 0, quarters) + fr)
                put(out_dir, "track", b"".join(buf), seen)

    cfg = open(os.path.join(os.path.dirname(__file__), "../../include/ctrack/config.h")).read()
    for name, default in re.findall(r"X\((\w+), (\w+),", cfg):
        for prefix in ("", "net.netfilter."):
            put(out_dir, "set", ("%s%s=%s" % (prefix, name, default)).encode(), seen)
    for line in ["nf_conntrack_max=-1", "nf_conntrack_max=4294967296", "nf_conntrack_max=0x10",
                 "nf_conntrack_buckets=0", "nf_conntrack_udp_timeout= 30", "=1", "bogus=1",
                 "nf_conntrack_tcp_loose=", "hash_seed=4294967295"]:
        put(out_dir, "set", line.encode(), seen)


if __name__ == "__main__":
    main()
