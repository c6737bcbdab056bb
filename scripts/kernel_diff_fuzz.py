#!/usr/bin/env python3
"""Randomized differential fuzzer: ctrack versus the running kernel's nf_conntrack.

Each case is a random but plausible packet sequence (1-4 flows of any kind, 5-60 packets,
Ethernet pcap with µs timestamps), written to DIR/case_SEED_I.pcap.  About --ipv6-pct % of the
flows (default 30) are IPv6 (ethertype 0x86DD, documentation prefix 2001:db8::/32: clients
2001:db8::N, servers 2001:db8:0:1::N, routers 2001:db8:0:2::N): TCP and UDP over IPv6 and
ICMPv6 echo / node-information request/reply, with IPv6 pseudo-header checksums; ICMPv6 errors
(destination unreachable, packet too big, time exceeded) quote a flow's packets.  A flow is
either IPv4 or IPv6; a case may mix both.  Both families get the same damage now and then (bad
TCP/UDP/ICMP checksums, cut L4 headers, bad lengths, wrong or cut quoted packets in errors).
Besides TCP/UDP/ICMP (--kinds) there are SCTP associations (INIT / INIT_ACK / COOKIE_ECHO /
COOKIE_ACK, DATA / SACK, HEARTBEAT / HEARTBEAT_ACK, SHUTDOWN / SHUTDOWN_ACK / SHUTDOWN_COMPLETE,
ABORT, restarts and INIT collisions; CRC32c checksums and verification tags mostly right, now and
then wrong; bundled, unknown, cut or badly sized chunks) and GRE flows both ways (version 0 with
optional checksum/key/sequence, PPTP-style version 1 with call ids, sequence and ack numbers;
sometimes a wrong protocol type, version or call id, or a cut header), UDP-Lite flows (partial and
whole checksum coverage, the protocol-17 pseudo header the kernel checks or RFC 3828's 136, zero
or wrong checksums, coverage below 8 or past the end) and flows of protocols without a tracker of
their own (DCCP, ESP, AH, IP-in-IP, OSPF, PIM, L2TP, unassigned numbers; empty payloads too).
About --iph-pct % of the unfragmented packets (default 3) have a damaged or unusual IP header:
IPv4 options (record route, timestamps, router alert, source routes, security, CIPSO, unknown
types, bad lengths and pointers), wrong total/payload lengths, IHL or version, a bad IPv4 header
checksum, MF alone, unusual TOS/traffic class, broadcast/multicast/loopback/unspecified
addresses.  About --frag-pct % of all
datagrams (default 4; any flow, IPv4 and IPv6) are sent as 1-4 IP fragments (in order, reversed,
shuffled, last first, a duplicate, overlapping, a missing last or middle fragment, a tiny first
fragment splitting the L4 header, a non-last fragment not a multiple of 8, an atomic fragment,
DF on fragments, an offset near the 64 KiB limit, and rarely a reused fragment id); the kernel
reassembles them (nf_defrag_ipv4/ipv6) before conntrack.  About --ext6-pct % of the IPv6 packets
(default 6) carry extension headers before the L4 header: hop-by-hop (PadN, Pad1, router alert,
unknown options), routing (type 0 with segments left 0, or a type 4 SRH), destination options,
in combinations, sometimes malformed (bad length, overrunning TLV, discard-action option, hop-by-hop
not first); fragmented IPv6 datagrams keep hop-by-hop/routing headers in the unfragmentable part.
The capture is replayed through the kernel oracle ($CTRACK_SHARED/oracle/kernel-ct, default
../shared next to the repository; --timing fast) and through `ctrack replay` with the kernel's
clock (--times-from verdicts.tsv) and the same settings.
Compared, as tests/parity/parity_test.cc does:
  * per packet: verdict, dir, state, status, entry, fwd (verdicts.tsv columns 1-6);
  * final table, keyed by l3 and the original tuple (IPv6 addresses normalized to the RFC 5952
    spelling on both sides): reply tuple, state, status bits, assured,
    unreplied, zone, mark, TCP window-scale/flags, and the timeout within TIMEOUT_SLACK s.

A differing case is minimized (chunks, then single packets, are dropped while the same
difference persists, re-running both sides), the kernel side of the minimized capture is run
twice more to check it is deterministic, and the result is recorded in DIR/findings.jsonl
(one object per differing case) with the minimized capture DIR/case_SEED_I.min.pcap and both
outputs next to it (.min.kct/, .min.ct.tsv, .min.ct.table.jsonl).

Usage:
  python3 scripts/kernel_diff_fuzz.py --seed N --cases K [--out DIR] [--ctrack build/release/ctrack]
                                      [--oracle PATH] [--keep]
                                      [--only I] [--no-minimize] [--time-limit SECONDS]
                                      [--plain] [--verbose] [--ipv6-pct P]
                                      [--kinds LIST] [--frag-pct N] [--ext6-pct N] [--iph-pct N]

  --seed N        base seed; case I uses random.Random("N:I"), so a case can be regenerated
                  alone with --seed N --only I (and the same --ipv6-pct, --kinds, --frag-pct,
                  --ext6-pct, --iph-pct)
  --cases K       number of cases (case indices 0..K-1)
  --out DIR       output directory (default ./fuzzdiff)
  --keep          keep the files of agreeing cases too (default: only differing ones are kept)
  --only I        run case I only
  --no-minimize   record divergences without minimizing them
  --time-limit S  stop starting new cases after S seconds
  --plain         first case is the fixed sanity sequence (handshake, data, FIN both ways)
  --no-prefix     skip the after-packet checks (below); about twice as fast
  --ipv6-pct P    percentage of the flows that are IPv6 (default 30); 0 gives IPv4-only cases,
                  generated exactly as before IPv6 support was added
  --kinds LIST    flow kinds to draw from (default tcp,udp,icmp,sctp,gre,udplite,generic;
                  relative shares 65:20:15:14:7:8:8)
  --frag-pct N    percentage of the datagrams sent as IP fragments (default 4; 0 = never)
  --ext6-pct N    percentage of the IPv6 packets with extension headers (default 6; 0 = never)
  --iph-pct N     percentage of the unfragmented packets with IP header damage (default 3)
  --max-pct N     percentage of the cases run with nf_conntrack_max 1..flows+1 (default 0)
  --real-pct N    percentage of the cases replayed in real time with timeouts of a few seconds
                  and idle gaps (default 0; each such case takes up to ~10 s)
  --acct-pct N    percentage of the cases with nf_conntrack_acct=1, counters compared (default 15)
  --skip-unavailable  exit 77 when not root or without the oracle (the ctest KernelDiff.* uses it)
                  --kinds tcp,udp,icmp --frag-pct 0 --ext6-pct 0 --iph-pct 0 --acct-pct 0 gives
                  the cases of the version before these were added (same seed, same --ipv6-pct)
  --no-snapshot   use --ctrack in place (by default it is copied to DIR/ctrack.<sha256> at start,
                  since the build tree may be rebuilt while the fuzzer runs)

After-packet checks: for about PREFIX_PCT % of the packets (at most PREFIX_MAX per case, chosen
by a hash of the packet bytes) ctrack also replays the capture up to that packet, and the entry
the packet touched is compared with the kernel's packets.jsonl row: state, status, timeout
(within TIMEOUT_SLACK) and the TCP window-scale/flags (e.g. DATA_UNACKNOWLEDGED, MAXACK_SET).

Prints one line per case (OK / DIFF with the first differing rows); exit status 1 if any case
differed, 2 on harness errors.  Run on one CPU, e.g. `taskset -c 0 python3 ...` (needs root for
the oracle).
"""
import argparse
import hashlib
import ipaddress
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CTRACK = os.path.join(HERE, "..", "build", "release", "ctrack")
DEFAULT_ORACLE = os.path.join(os.environ.get("CTRACK_SHARED", os.path.join(HERE, "..", "..", "shared")),
                              "oracle", "kernel-ct")

MAC_C = bytes.fromhex("020000000001")   # client side, as the oracle's examples
MAC_S = bytes.fromhex("020000000002")   # server side
M32 = 0xFFFFFFFF
TIMEOUT_SLACK = 2                       # seconds, as tests/parity/parity_test.cc
PREFIX_PCT = 20                         # % of packets whose entry is also checked right after them
PREFIX_MAX = 10                         # ... at most this many per case
ROW_FIELDS = ("verdict", "dir", "state", "status", "entry", "fwd")

# TCP flag bits
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


# --------------------------------------------------------------------------- packet bytes

def inet_csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def a4(addr):
    return socket.inet_aton(addr)


def a6(addr):
    return socket.inet_pton(socket.AF_INET6, addr)


def is_v6(addr):
    return ":" in addr


def l4_csum(src, dst, proto, seg, length=None):
    """TCP/UDP/ICMPv6 checksum with the IPv4 or (for IPv6 addresses) the IPv6 pseudo header
    (RFC 8200 8.1: 32-bit upper-layer length, 3 zero bytes, next header); length defaults to
    len(seg)."""
    ln = len(seg) if length is None else length
    if is_v6(src):
        return inet_csum(a6(src) + a6(dst) + struct.pack("!I3xB", ln, proto) + seg)
    return inet_csum(a4(src) + a4(dst) + struct.pack("!BBH", 0, proto, ln) + seg)


def ipv4(src, dst, proto, payload, ident=0, ttl=64, df=True, tos=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident & 0xFFFF,
                      0x4000 if df else 0, ttl, proto, 0, a4(src), a4(dst))
    hdr = hdr[:10] + struct.pack("!H", inet_csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nh, payload, hlim=64, tclass=0, flowlabel=0):
    hdr = struct.pack("!IHBB16s16s", (6 << 28) | ((tclass & 0xFF) << 20) | (flowlabel & 0xFFFFF),
                      len(payload) & 0xFFFF, nh, hlim, a6(src), a6(dst))
    return hdr + payload


def ether(src_mac, dst_mac, ip_packet, pad=False):
    etype = b"\x86\xdd" if ip_packet[0] >> 4 == 6 else b"\x08\x00"
    frame = dst_mac + src_mac + etype + ip_packet
    if pad and len(frame) < 60:          # Ethernet minimum frame: IP tot_len < frame length
        frame += b"\0" * (60 - len(frame))
    return frame


def tcp_opts(items):
    """items: list of (kind, value) -> option bytes padded to 4 with EOL."""
    out = b""
    for kind, val in items:
        if kind == "mss":
            out += struct.pack("!BBH", 2, 4, val)
        elif kind == "ws":
            out += struct.pack("!BBB", 3, 3, val)
        elif kind == "sackok":
            out += b"\x04\x02"
        elif kind == "ts":
            out += struct.pack("!BBII", 8, 10, val[0] & M32, val[1] & M32)
        elif kind == "sack":        # val: list of (left, right)
            out += struct.pack("!BB", 5, 2 + 8 * len(val))
            for left, right in val:
                out += struct.pack("!II", left & M32, right & M32)
        elif kind == "nop":
            out += b"\x01"
        elif kind == "raw":
            out += val
    while len(out) % 4:
        out += b"\0"
    return out[:40]


def tcp_segment(src, dst, sport, dport, seq, ack, flags, win, opts=b"", payload=b"", urg=0,
                bad_csum=False, doff=None, cut=None, reserved=0):
    doff = (20 + len(opts)) // 4 if doff is None else doff
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & M32, ack & M32,
                      ((doff & 0xF) << 4) | (reserved & 0xF), flags & 0xFF, win & 0xFFFF, 0,
                      urg & 0xFFFF) + opts
    seg = hdr + payload
    if cut is not None:
        seg = seg[:cut]
    if len(seg) >= 18:
        c = l4_csum(src, dst, 6, seg)
        if bad_csum:
            c ^= 0x5A5A
        seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return seg


def udp_datagram(src, dst, sport, dport, payload, csum="ok", length=None, cut=None,
                 pseudo_len="udp"):
    """csum: ok | zero | bad.  length: UDP length field (default correct).  pseudo_len:
    'udp' = checksum over the UDP length (RFC 768), 'ip' = over the whole IP payload."""
    ln = 8 + len(payload) if length is None else length
    seg = struct.pack("!HHHH", sport, dport, ln & 0xFFFF, 0) + payload
    if cut is not None:
        seg = seg[:cut]
    if len(seg) >= 8 and csum != "zero":
        if pseudo_len == "udp" and ln <= len(seg):
            c = l4_csum(src, dst, 17, seg[:ln], ln)
        else:
            c = l4_csum(src, dst, 17, seg)
        if c == 0:
            c = 0xFFFF
        if csum == "bad":
            c ^= 0x3C3C
        seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return seg


def icmp_msg(typ, code, rest, payload=b"", bad_csum=False):
    body = struct.pack("!BBH", typ, code, 0) + rest + payload
    c = inet_csum(body)
    if bad_csum:
        c ^= 0x1111
    return body[:2] + struct.pack("!H", c) + body[4:]


def icmp6_msg(src, dst, typ, code, rest, payload=b"", bad_csum=False):
    """ICMPv6 message; unlike ICMPv4 its checksum covers the IPv6 pseudo header."""
    body = struct.pack("!BBH", typ, code, 0) + rest + payload
    c = l4_csum(src, dst, 58, body)
    if bad_csum:
        c ^= 0x1111
    return body[:2] + struct.pack("!H", c) + body[4:]


# --------------------------------------------------------------------------- IPv6 extension headers, fragmentation

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def ext_chain(exts, final_nh):
    """exts: list of (type, body) where body is the header without its first (next header)
    byte -> (first next-header value, chain bytes)."""
    out = b""
    for i, (t, body) in enumerate(exts):
        nxt = exts[i + 1][0] if i + 1 < len(exts) else final_nh
        out += bytes([nxt]) + body
    return (exts[0][0] if exts else final_nh), out


def tlv_opts_body(rng, bad=False):
    """Body (hdr ext len + options) of a hop-by-hop / destination options header: PadN, Pad1,
    router alert, unknown options with the 'skip' action; `bad`: an unknown option whose action
    bits say discard (0x80/0xC0), a TLV overrunning the header, or a wrong length."""
    opts = b""
    for _ in range(rng.randrange(0, 3)):
        k = rng.choice(("padn", "pad1", "ra", "unk"))
        if k == "padn":
            opts += bytes([1, rng.randrange(0, 4)])
            opts += b"\0" * opts[-1]
        elif k == "pad1":
            opts += b"\0"
        elif k == "ra":
            opts += b"\x05\x02\x00\x00"
        else:
            opts += bytes([rng.choice((0x1E, 0x3E, 0x07)), 2, rng.randrange(256), rng.randrange(256)])
    if bad:
        how = rng.choice(("discard", "overrun", "len"))
        if how == "discard":
            opts += bytes([rng.choice((0x80 | 0x1E, 0xC0 | 0x1E, 0x40 | 0x1E)), 2, 0, 0])
        elif how == "overrun":
            opts += bytes([0x1E, 40, 0, 0])
    total = 2 + len(opts)
    pad = (-total) % 8
    if pad == 1:
        opts += b"\0"
    elif pad:
        opts += bytes([1, pad - 2]) + b"\0" * (pad - 2)
    hlen = (2 + len(opts)) // 8 - 1
    if bad and how == "len":
        hlen += rng.choice((1, 3, 30))
    return bytes([hlen & 0xFF]) + opts


def routing_body(rng, bad=False):
    """Routing header: type 0 with segments left 0 (one address), or an SRH (type 4, segments
    left 0, 1-2 segments); `bad`: wrong length."""
    if rng.random() < 0.7:
        n, rtype, extra = 1, 0, b"\0\0\0\0"
    else:
        n, rtype = rng.choice((1, 2)), 4
        extra = bytes([n - 1, 0]) + b"\0\0"          # last entry, flags, tag
    segs = b"".join(a6("2001:db8:0:3::%x" % rng.randrange(1, 100)) for _ in range(n))
    hlen = 2 * n
    if bad:
        hlen = rng.choice((hlen + 1, hlen + 2, 40, 1))
    return bytes([hlen & 0xFF, rtype, 0]) + extra + segs


def gen_exts(rng):
    """A random chain of IPv6 extension headers: hop-by-hop (first), destination options,
    routing; mostly in RFC 8200 order, now and then malformed or out of order."""
    bad = rng.random() < 0.15
    combo = rng.choice(((0,), (60,), (43,), (0, 60), (0, 43), (60, 43), (0, 60, 43), (43, 60),
                        (0, 43, 60), (60, 43, 60)))
    if rng.random() < 0.05:
        combo = rng.choice(((60, 0), (0, 0), (43, 0)))         # hop-by-hop not first
    exts = []
    bad_at = rng.randrange(len(combo)) if bad else -1
    for i, t in enumerate(combo):
        if t == 43:
            exts.append((43, routing_body(rng, bad=i == bad_at)))
        else:
            exts.append((t, tlv_opts_body(rng, bad=i == bad_at)))
    return exts


def ipv4_options(rng):
    """Random IPv4 options, valid or not: No-op/End padding, record route, timestamps, router
    alert, loose and strict source routes, security, CIPSO, stream id, unknown types, bad
    lengths and pointers; padded to a multiple of 4 (at most 40 bytes)."""
    out = b""
    for _ in range(rng.choice((1, 1, 2, 3))):
        k = rng.choice(("nop", "end", "rr", "rr_full", "rr_badptr", "ts", "ts_addr", "ts_full", "ra",
                        "ra_short", "lsrr", "ssrr", "sec", "cipso", "sid", "unknown", "badlen", "zerolen"))
        if k == "nop":
            out += b"\x01"
        elif k == "end":
            out += b"\x00" + rand_data(rng, 0, 3)
        elif k == "rr":
            n = rng.randrange(1, 5)
            out += struct.pack("!BBB", 7, 3 + 4 * n, 4) + b"\0" * (4 * n)
        elif k == "rr_full":
            out += struct.pack("!BBB", 7, 11, 12) + b"\0" * 8
        elif k == "rr_badptr":
            out += struct.pack("!BBB", 7, 11, rng.choice((0, 3, 5, 9))) + b"\0" * 8
        elif k in ("ts", "ts_addr"):
            flag = 0 if k == "ts" else rng.choice((1, 3))
            n = rng.randrange(1, 4) * (1 if flag == 0 else 2)
            out += struct.pack("!BBBB", 68, 4 + 4 * n, 5, flag) + b"\0" * (4 * n)
        elif k == "ts_full":
            out += struct.pack("!BBBB", 68, 8, 9, rng.choice((0x00, 0xF0, 0x10))) + b"\0" * 4
        elif k == "ra":
            out += b"\x94\x04\x00\x00"
        elif k == "ra_short":
            out += b"\x94\x02"
        elif k in ("lsrr", "ssrr"):
            n = rng.randrange(1, 3)
            out += struct.pack("!BBB", 131 if k == "lsrr" else 137, 3 + 4 * n, rng.choice((4, 4, 8, 3))) + \
                b"".join(a4("10.9.%d.%d" % (rng.randrange(256), rng.randrange(1, 255))) for _ in range(n))
        elif k == "sec":
            out += b"\x82\x0b" + b"\0" * 9
        elif k == "cipso":
            out += b"\x86\x0a\x00\x00\x00\x01\x01\x04\x00\x00"
        elif k == "sid":
            out += b"\x88\x04" + rand_data(rng, 2, 2)
        elif k == "unknown":
            t = rng.choice((25, 30, 94, 0x9e, 0xde))
            n = rng.randrange(0, 6)
            out += struct.pack("!BB", t, 2 + n) + rand_data(rng, n, n)
        elif k == "badlen":
            out += struct.pack("!BB", rng.choice((7, 68, 131, 148, 130)), rng.choice((1, 39, 40)))
        else:
            out += struct.pack("!BB", rng.choice((7, 68, 25)), 0)
    while len(out) % 4:
        out += b"\x00" if rng.random() < 0.5 else b"\x01"
    return out[:40]


def damage_ipv4(rng, ip):
    """One change to an IPv4 header (20 bytes, no options yet) -> (description, new packet)."""
    hdr, body = bytearray(ip[:20]), ip[20:]
    k = rng.choices(["opts", "bad_hcsum", "totlen_big", "totlen_small", "ihl_small", "ihl_big",
                     "version", "tos", "mf_only", "src_odd", "dst_odd"],
                    [30, 8, 6, 8, 4, 4, 3, 6, 4, 5, 4])[0]
    fix = True
    if k == "opts":
        o = ipv4_options(rng)
        hdr[0] = 0x40 | (5 + len(o) // 4)
        hdr += o
        struct.pack_into("!H", hdr, 2, len(hdr) + len(body))
    elif k == "bad_hcsum":
        fix = False
    elif k == "totlen_big":
        struct.pack_into("!H", hdr, 2, 20 + len(body) + rng.choice((1, 2, 8, 100)))
    elif k == "totlen_small":
        struct.pack_into("!H", hdr, 2, max(0, 20 + len(body) - rng.choice((1, 2, 4, 8, 20, 30))))
    elif k == "ihl_small":
        hdr[0] = 0x40 | rng.randrange(0, 5)
    elif k == "ihl_big":
        hdr[0] = 0x40 | 15
    elif k == "version":
        hdr[0] = (rng.choice((0, 5, 6, 15)) << 4) | 5
    elif k == "tos":
        hdr[1] = rng.randrange(256)
    elif k == "mf_only":
        struct.pack_into("!H", hdr, 6, 0x2000)
    elif k == "src_odd":
        hdr[12:16] = a4(rng.choice(("0.0.0.0", "255.255.255.255", "224.0.0.5", "127.0.0.1", "10.0.0.255",
                                    "0.1.2.3", "240.0.0.1")))
    else:
        hdr[16:20] = a4(rng.choice(("255.255.255.255", "224.0.0.1", "239.1.2.3", "127.0.0.2", "0.0.0.0",
                                    "10.0.1.255", "240.0.0.1")))
    if fix:
        hdr[10:12] = b"\0\0"
        n = (hdr[0] & 0xF) * 4 if 20 <= (hdr[0] & 0xF) * 4 <= len(hdr) else 20
        struct.pack_into("!H", hdr, 10, inet_csum(bytes(hdr[:n])))
    else:
        hdr[10] ^= 0x5A
    return k, bytes(hdr) + body


def damage_ipv6(rng, ip):
    """One change to an IPv6 header -> (description, new packet)."""
    hdr, body = bytearray(ip[:40]), ip[40:]
    k = rng.choices(["plen_big", "plen_small", "plen_zero", "version", "tclass", "src_odd", "dst_odd"],
                    [6, 8, 5, 3, 6, 6, 5])[0]
    if k == "plen_big":
        struct.pack_into("!H", hdr, 4, len(body) + rng.choice((1, 2, 8, 100)))
    elif k == "plen_small":
        struct.pack_into("!H", hdr, 4, max(0, len(body) - rng.choice((1, 2, 4, 8, 20))))
    elif k == "plen_zero":
        struct.pack_into("!H", hdr, 4, 0)
    elif k == "version":
        hdr[0] = (rng.choice((4, 0, 7, 15)) << 4) | (hdr[0] & 0xF)
    elif k == "tclass":
        hdr[0] = 0x60 | rng.randrange(16)
        hdr[1] = rng.randrange(256)
    elif k == "src_odd":
        hdr[8:24] = a6(rng.choice(("::", "::1", "ff02::1", "fe80::1", "ff0e::5", "::ffff:10.0.0.1")))
    else:
        hdr[24:40] = a6(rng.choice(("::1", "ff01::1", "ff02::1", "ff00::1", "fe80::2", "ff0e::1", "::")))
    return k, bytes(hdr) + body


FRAG_VARIANTS = ["inorder", "reverse", "shuffle", "dup", "overlap", "missing_last", "missing_mid",
                 "tiny_first", "odd_size", "last_first", "atomic", "df", "oversize"]
FRAG_WEIGHTS = [30, 8, 8, 7, 5, 5, 3, 8, 3, 5, 3, 4, 2]


def plan_fragments(rng, body):
    """The variant name and the pieces (start, end, more, data) of the fragmentable part `body`,
    in sending order; None if it is too short to fragment."""
    total = len(body)
    variant = rng.choices(FRAG_VARIANTS, FRAG_WEIGHTS)[0]
    if variant == "atomic":
        return "atomic", [(0, total, False, body)]
    if total < 9:
        return None
    cuts_all = list(range(8, total, 8))
    n = min(rng.choice((2, 2, 3, 4)), len(cuts_all) + 1)
    if variant == "tiny_first":
        cuts = [8] + sorted(rng.sample(cuts_all[1:], min(n - 2, len(cuts_all) - 1))) if n > 1 else []
    else:
        cuts = sorted(rng.sample(cuts_all, n - 1))
    bounds = [0] + cuts + [total]
    pieces = [[bounds[i], bounds[i + 1], i + 1 < len(bounds) - 1] for i in range(len(bounds) - 1)]
    if variant == "odd_size" and len(pieces) >= 2:
        k = rng.randrange(len(pieces) - 1)
        if pieces[k][1] - pieces[k][0] > 1:
            pieces[k][1] -= rng.randrange(1, 8)          # non-last fragment not a multiple of 8 (leaves a hole)
    elif variant == "overlap" and len(pieces) >= 2:
        k = rng.randrange(1, len(pieces))
        pieces[k][0] = max(0, pieces[k][0] - 8 * rng.choice((1, 1, 2)))
    elif variant == "oversize":
        last = pieces[-1]
        base = 65528 - 8 * rng.randrange(0, 4)
        last[0], last[1] = base, base + (last[1] - last[0])   # data kept; offset pushed near the limit
        last.append(True)                                      # marker: relocated
    out = [tuple(p) for p in pieces]
    if variant == "reverse":
        out.reverse()
    elif variant == "shuffle":
        rng.shuffle(out)
    elif variant == "last_first":
        out = out[-1:] + out[:-1]
    elif variant == "dup":
        k = rng.randrange(len(out))
        out.insert(rng.randrange(k + 1, len(out) + 1), out[k])
    elif variant == "missing_last":
        out = out[:-1]
    elif variant == "missing_mid" and len(out) >= 3:
        del out[rng.randrange(1, len(out) - 1)]
    # A relocated piece (4 fields) carries the last bytes of the body at its pushed offset.
    return variant, [(p[0], p[1], p[2], body[p[0]:p[1]] if len(p) == 3 else body[-(p[1] - p[0]):])
                     for p in out]


def fragment_ipv4(rng, ip, df=False):
    """IPv4 fragments of the datagram `ip` (20-byte header) -> (variant, [fragment bytes])."""
    payload = ip[20:]
    plan = plan_fragments(rng, payload)
    if plan is None:
        return None
    variant, pieces = plan
    frags = []
    for start, _end, more, data in pieces:
        fo = (start // 8) & 0x1FFF
        if variant == "atomic":
            fo, more = 0, rng.random() < 0.5             # a whole datagram with MF, or DF+MF
            if more:
                fo |= 0x2000
            if rng.random() < 0.5:
                fo |= 0x4000
        else:
            fo |= 0x2000 if more else 0
            if variant == "df" or (df and rng.random() < 0.3):
                fo |= 0x4000
        hdr = bytearray(ip[:20])
        struct.pack_into("!HHH", hdr, 2, 20 + len(data), struct.unpack_from("!H", ip, 4)[0], fo)
        hdr[10:12] = b"\0\0"
        struct.pack_into("!H", hdr, 10, inet_csum(bytes(hdr)))
        frags.append((bytes(hdr) + data, "off=%d%s%s" % ((fo & 0x1FFF) * 8, ",MF" if fo & 0x2000 else "",
                                                          ",DF" if fo & 0x4000 else "")))
    return variant, frags


def fragment_ipv6(rng, src, dst, exts, proto, l4, ident, hlim, flowlabel):
    """IPv6 fragments (Fragment header, next header 44) of a datagram with extension headers
    `exts` and upper layer `proto`/`l4`: the headers up to the last hop-by-hop/routing one form
    the unfragmentable part -> (variant, [fragment bytes])."""
    idx = max([i for i, (t, _) in enumerate(exts) if t in (0, 43)] or [-1])
    unfrag, fragpart = exts[:idx + 1], exts[idx + 1:]
    fnh, fbytes = ext_chain(fragpart, proto)
    body = fbytes + l4
    plan = plan_fragments(rng, body)
    if plan is None:
        return None
    variant, pieces = plan
    frags = []
    for start, _end, more, data in pieces:
        fo = (start & 0xFFF8) if start < 65536 else 0xFFF8
        fh = struct.pack("!BBHI", fnh, 0, fo | (1 if more else 0), ident & M32)
        first, ubytes = ext_chain(unfrag + [(44, fh[1:])], fnh)
        frags.append((ipv6(src, dst, first, ubytes + data, hlim=hlim, flowlabel=flowlabel),
                      "off=%d%s" % (fo, ",M" if more else "")))
    return variant, frags


def write_pcap(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for p in packets:
            sec, usec = divmod(p.ts_us, 1000000)
            f.write(struct.pack("<IIII", sec, usec, len(p.frame), len(p.frame)) + p.frame)


class Pkt:
    def __init__(self, frame, label, ip_bytes=None):
        self.frame = frame
        self.label = label          # short human description
        self.ip = ip_bytes          # the IP packet (for quoting in ICMP errors; whole datagram for fragments)
        self.ts_us = 0
        self.l4off = None           # offset of the L4 header in ip (after IPv6 extension headers)
        self.parts = None           # for a datagram sent as fragments: the fragment Pkts


# --------------------------------------------------------------------------- flows

class Host:
    def __init__(self, ip, port, mac):
        self.ip, self.port, self.mac = ip, port, mac


class Flow:
    """Common helpers: IP framing for the two sides."""
    proto = None

    def __init__(self, rng, c, s):
        self.rng, self.c, self.s = rng, c, s
        self.v6 = is_v6(c.ip)  # IPv6 flow (both ends IPv6); the IPv4 id doubles as flow label
        self.ident = rng.randrange(1 << 16)
        self.pkts = []
        self.steps = []       # generator of actions, consumed by the interleaver
        self.frag_pct = 0     # % of the datagrams sent as fragments (set by gen_case)
        self.ext_pct = 0      # % of the IPv6 packets with extension headers (set by gen_case)
        self.iph_pct = 0      # % of the whole packets with a damaged or unusual IP header
        self.frag_id6 = None  # IPv6 Fragment header identification (per flow, incremented)
        self.frag_id4 = None  # identification of the last fragmented datagram (for id reuse)

    def ends(self, side):
        return (self.c, self.s) if side == "c" else (self.s, self.c)

    def emit(self, side, l4, label, proto):
        a, b = self.ends(side)
        self.ident += 1
        ttl = self.rng.choice((64, 64, 63, 1, 255))
        r = self.rng
        exts = []
        if self.v6:
            if self.ext_pct and r.random() * 100 < self.ext_pct:
                exts = gen_exts(r)
                label += " ext(%s)" % ",".join(str(t) for t, _ in exts)
            first, chain = ext_chain(exts, proto)
            ip = ipv6(a.ip, b.ip, first, chain + l4, hlim=ttl, flowlabel=self.ident * 7919)
            l4off = 40 + len(chain)
            label = "v6 " + label
        else:
            ip = ipv4(a.ip, b.ip, proto, l4, ident=self.ident, ttl=ttl)
            l4off = 20
        frags = None
        if self.frag_pct and r.random() * 100 < self.frag_pct:
            # identification unique per flow (IPv4: the flow's incrementing id); about 8 % of the
            # fragmented datagrams deliberately reuse the previous fragmented datagram's id
            reuse = self.frag_id4 is not None and r.random() < 0.08
            if self.v6:
                if self.frag_id6 is None:
                    self.frag_id6 = r.randrange(1 << 32)
                if not reuse:
                    self.frag_id6 = (self.frag_id6 + 1) & M32
                frags = fragment_ipv6(r, a.ip, b.ip, exts, proto, l4, self.frag_id6, ttl, self.ident * 7919)
                self.frag_id4 = self.frag_id6
            else:
                if reuse:
                    ip = ipv4(a.ip, b.ip, proto, l4, ident=self.frag_id4, ttl=ttl)
                frags = fragment_ipv4(r, ip, df=True)
                self.frag_id4 = struct.unpack_from("!H", ip, 4)[0]
            if frags and reuse:
                frags = (frags[0] + "+id_reuse", frags[1])
        if not frags and self.iph_pct and r.random() * 100 < self.iph_pct:
            what, ip = (damage_ipv6 if self.v6 else damage_ipv4)(r, ip)
            label += " iph(%s)" % what
        if frags:
            variant, fl = frags
            p = Pkt(None, label + " (as %d fragments, %s)" % (len(fl), variant), ip)
            p.l4off = l4off
            p.parts = []
            for k, (fip, desc) in enumerate(fl):
                q = Pkt(ether(a.mac, b.mac, fip, pad=r.random() < 0.3),
                        "%s [frag %d/%d %s %s]" % (label, k + 1, len(fl), variant, desc), ip)
                q.l4off = l4off
                p.parts.append(q)
                self.pkts.append(q)
        else:
            p = Pkt(ether(a.mac, b.mac, ip, pad=r.random() < 0.5), label, ip)
            p.l4off = l4off
            self.pkts.append(p)
        self.last_side = side
        return p


class TcpEnd:
    def __init__(self, rng):
        # sometimes just below the 2^32 wrap, so that windows straddle it
        self.isn = rng.randrange(1 << 32) if rng.random() < 0.85 else (1 << 32) - rng.randrange(1, 5000)
        self.nxt = self.isn        # next sequence number to send
        self.ackd = None           # last ack value sent (the peer's seq it expects)
        self.wsopt = None          # window scale option sent in SYN (None: absent)
        self.scale = 0             # effective shift once the handshake is complete
        self.win = 65535           # raw window field to advertise
        self.edge = None           # highest ack + window << scale advertised
        self.sackok = False
        self.ts = None
        self.last = None           # last Pkt sent (retransmission)


class TcpFlow(Flow):
    proto = 6

    def __init__(self, rng, c, s, cfg):
        super().__init__(rng, c, s)
        self.cfg = cfg
        self.e = {"c": TcpEnd(rng), "s": TcpEnd(rng)}
        self.phase = "closed"

    # ----- one segment
    def seg(self, side, flags, data=b"", seq=None, ack=None, win=None, opts=None, advance=None,
            label=None, **kw):
        me, peer = self.e[side], self.e["s" if side == "c" else "c"]
        a, b = self.ends(side)
        if seq is None:
            seq = me.nxt
            if advance is None:
                advance = True
        if ack is None:
            ack = peer.nxt if flags & ACK else (self.rng.choice((0, 0, 0, peer.nxt)))
        if win is None:
            win = me.win
        if opts is None:
            items = []
            if me.ts is not None and not (flags & SYN):
                me.ts += self.rng.randrange(1, 50)
                items = [("nop", 0), ("nop", 0), ("ts", (me.ts, peer.ts or 0))]
            opts = tcp_opts(items)
        urg = kw.pop("urg", self.rng.randrange(1, 200) if flags & URG else 0)
        l4 = tcp_segment(a.ip, b.ip, a.port, b.port, seq, ack, flags, win, opts, data, urg=urg, **kw)
        p = self.emit(side, l4, label or "tcp %s %s len=%d" % (side, flag_str(flags), len(data)), 6)
        if advance:
            me.nxt = (seq + len(data) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & M32
        if flags & ACK:
            me.ackd = ack
            shift = 0 if flags & SYN else me.scale
            e = (ack + (win << shift)) & M32
            if me.edge is None or ((e - me.edge) & M32) < (1 << 31):
                me.edge = e
        me.last = p
        return p

    def syn_opts(self, side):
        r, me = self.rng, self.e[side]
        items = []
        if r.random() < 0.85:
            items.append(("mss", r.choice((1460, 536, 1400, 65495, 0))))
        if r.random() < 0.6:
            items.append(("nop", 0))
            me.wsopt = r.choice((0, 1, 2, 7, 7, 8, 13, 14, 14, 15, r.randrange(256)))
            items.append(("ws", me.wsopt))
        else:
            me.wsopt = None
        if r.random() < 0.6:
            items.append(("sackok", 0))
            me.sackok = True
        if r.random() < 0.4:
            me.ts = r.randrange(1 << 32)
            items.append(("ts", (me.ts, 0)))
        if r.random() < 0.05:     # malformed option lengths
            items.append(("raw", r.choice((b"\x03\x02\x07", b"\x03\x00", b"\x08\x01", b"\x03\x04\x05\x00",
                                           b"\x03"))))
        r.shuffle(items)
        return tcp_opts(items)

    def settle_scale(self):
        c, s = self.e["c"], self.e["s"]
        if c.wsopt is not None and s.wsopt is not None:
            c.scale, s.scale = min(c.wsopt, 14), min(s.wsopt, 14)
        else:
            c.scale = s.scale = 0
        for end in (c, s):
            want = self.rng.choice((65535, 29200, 131072, 1 << 20, 4096, 1000))
            end.win = min(0xFFFF, max(1, want >> end.scale))

    # ----- openings
    def open(self):
        r = self.rng
        kind = r.choices(["normal", "syn_retrans", "synack_retrans", "synack_badack", "refused",
                          "simultaneous", "midstream", "syn_only", "challenge", "no_third_ack",
                          "syn_data", "bad_third_ack", "synack_data", "rst_syn_sent"],
                         [30, 6, 4, 6, 4, 5, 8, 3, 5, 4, 2, 4, 2, 3])[0]
        c, s = self.e["c"], self.e["s"]
        if kind == "midstream":
            # first packet an ACK without SYN (nf_conntrack_tcp_loose)
            side = r.choice("ccs")
            c.win = r.choice((502, 65535, 2000))
            s.win = r.choice((502, 65535, 2000))
            self.seg(side, r.choice((ACK, ACK | PSH, ACK | FIN)), data=rand_data(r, 0, 300),
                     label="midstream first")
            self.phase = "est"
            return
        win = r.choice((64240, 65535, 29200, 1024, 0))
        o = self.syn_opts("c")
        data = rand_data(r, 1, 40) if kind == "syn_data" else b""
        syn = self.seg("c", SYN | (r.choice((0, 0, ECE | CWR))), data=data, win=win, opts=o, label="SYN")
        if kind == "syn_only":
            for _ in range(r.randrange(0, 3)):
                self.retrans("c")
            self.phase = "syn_sent"
            return
        if kind == "syn_retrans":
            for _ in range(r.randrange(1, 3)):
                self.retrans("c")
        if kind == "rst_syn_sent":
            # RST from the server in SYN_SENT, with ack matching the SYN or not, seq 0 or not
            ack = r.choice((c.nxt, c.nxt, (c.nxt + 1) & M32, c.isn, 0))
            self.seg("s", RST | ACK if r.random() < 0.7 else RST, seq=r.choice((0, s.isn, r.randrange(1 << 32))),
                     ack=ack, win=0, advance=False, label="RST in SYN_SENT")
            if r.random() < 0.5:
                self.retrans("c")
            self.phase = "syn_sent"
            return
        if kind == "refused":
            if r.random() < 0.7:
                self.seg("s", RST | ACK, seq=0, ack=c.nxt, win=0, label="RST/ACK refused")
            else:
                self.seg("s", RST, seq=r.choice((0, s.isn)), ack=0, win=0, label="RST refused")
            self.phase = "closed"
            return
        if kind == "challenge":
            # server answers the SYN with a (challenge) ACK, client resets with seq = that ack
            cack = r.choice((r.randrange(1 << 32), (c.isn - r.randrange(1, 100000)) & M32))
            self.seg("s", ACK, seq=s.isn + r.randrange(1 << 20), ack=cack, win=r.randrange(65536),
                     advance=False, label="challenge ACK")
            self.seg("c", RST, seq=cack if r.random() < 0.8 else cack + 1, ack=0, win=0,
                     advance=False, label="RST to challenge ACK")
            if r.random() < 0.6:
                c.nxt = c.isn
                self.seg("c", SYN, win=win, opts=o, label="SYN again")
                self.synack()
                self.seg("c", ACK, label="ACK")
                self.phase = "est"
            else:
                self.phase = "closed"
            return
        if kind == "simultaneous":
            so = self.syn_opts("s")
            self.seg("s", SYN, win=r.choice((65535, 29200)), opts=so, label="SYN (simultaneous)")
            self.settle_scale()
            if r.random() < 0.5:
                self.seg("s", SYN | ACK, seq=s.isn, ack=c.nxt, opts=so, advance=False, label="SYN/ACK (s)")
                self.seg("c", SYN | ACK, seq=c.isn, ack=s.nxt, opts=o, advance=False, label="SYN/ACK (c)")
            else:
                self.seg("c", SYN | ACK, seq=c.isn, ack=s.nxt, opts=o, advance=False, label="SYN/ACK (c)")
                self.seg("s", SYN | ACK, seq=s.isn, ack=c.nxt, opts=so, advance=False, label="SYN/ACK (s)")
            if r.random() < 0.7:
                self.seg(r.choice("cs"), ACK, label="ACK")
            self.phase = "est"
            return
        if kind == "synack_badack":
            bad = r.choice(((c.nxt + 1) & M32, (c.nxt - 1) & M32, c.isn, r.randrange(1 << 32), 0))
            so = self.syn_opts("s")
            self.seg("s", SYN | ACK, ack=bad, win=65535, opts=so, advance=False, label="SYN/ACK wrong ack")
            if r.random() < 0.5:
                self.seg("c", RST, seq=bad, ack=0, win=0, advance=False, label="RST to bad SYN/ACK")
        self.synack(data=rand_data(r, 1, 100) if kind == "synack_data" else b"")
        if kind == "synack_retrans":
            for _ in range(r.randrange(1, 3)):
                self.retrans("s")
        if kind == "bad_third_ack":
            d = r.choice((1, -1, 2, 1 << 20, -(1 << 20)))
            self.seg("c", ACK, ack=(s.nxt + d) & M32, label="third ACK with ack %+d" % d)
            if r.random() < 0.5:
                self.seg("c", ACK, label="ACK")
        elif kind != "no_third_ack":
            self.seg("c", ACK, label="ACK")
        self.phase = "est"

    def synack(self, data=b""):
        r = self.rng
        so = self.syn_opts("s")
        flags = SYN | ACK | (ECE if r.random() < 0.1 else 0)
        self.seg("s", flags, data=data, win=r.choice((65160, 65535, 28960, 1024, 0)), opts=so, label="SYN/ACK")
        self.settle_scale()

    def retrans(self, side):
        last = self.e[side].last
        if last is not None:
            for q in last.parts or [last]:      # a fragmented segment: all its fragments again
                p = Pkt(q.frame, "retransmit: " + q.label, q.ip)
                p.l4off = q.l4off
                self.pkts.append(p)

    # ----- established-phase actions
    def act(self):
        r = self.rng
        side = r.choice("cs")
        me, peer = self.e[side], self.e["s" if side == "c" else "c"]
        a = r.choices(
            ["data", "ack", "seq_edge", "seq_far", "seq_old", "ack_old", "ack_future", "zero_win",
             "win_change", "retrans", "keepalive", "urg", "ecn", "bad_csum", "trunc", "bad_flags",
             "syn_in_est", "rst", "fin", "sack", "icmp_err", "reserved", "close_reopen",
             "retrans_burst", "old_synack", "ack_edge"],
            [25, 10, 8, 3, 4, 4, 3, 3, 3, 6, 2, 2, 2, 3, 2, 4, 3, 6, 8, 3, 3, 1, 3, 2, 1, 4])[0]
        if a == "data":
            self.seg(side, ACK | r.choice((PSH, 0)), data=rand_data(r, 1, 1400), label="data")
        elif a == "ack":
            self.seg(side, ACK, label="ack")
        elif a == "seq_edge":
            # around the receiver's window edge (td_maxend) and below the left edge
            base = peer.edge if peer.edge is not None else me.nxt
            if r.random() < 0.7:
                seq = (base + r.choice((-2, -1, 0, 1, 2, 100, -100))) & M32
            else:
                seq = (me.nxt - r.choice((peer.win << peer.scale, 66000, 65999, 66001, 1 << 20))) & M32
            self.seg(side, ACK | PSH, data=rand_data(r, 1, 200), seq=seq, label="data near edge")
        elif a == "seq_far":
            self.seg(side, ACK | PSH, data=rand_data(r, 1, 100),
                     seq=(me.nxt + r.choice((1 << 30, 1 << 31, 3000000, -(1 << 30)))) & M32,
                     label="data far outside")
        elif a == "seq_old":
            self.seg(side, ACK | PSH, data=rand_data(r, 1, 100),
                     seq=(me.nxt - r.randrange(1, 1500)) & M32, label="old data (overlap)")
        elif a == "ack_old":
            self.seg(side, ACK, ack=(peer.nxt - r.choice((1, 1000, 65999, 66000, 66001, 70000,
                                                          1 << 20, 1 << 30))) & M32, label="old ack")
        elif a == "ack_future":
            self.seg(side, ACK, ack=(peer.nxt + r.choice((1, 2, 1000, 1 << 20, 1 << 30))) & M32,
                     label="ack of unsent data")
        elif a == "zero_win":
            self.seg(side, ACK, win=0, label="zero window")
            if r.random() < 0.7:
                self.seg("s" if side == "c" else "c", ACK | PSH, data=rand_data(r, 1, 300),
                         label="data into zero window")
            if r.random() < 0.5:
                self.seg(side, ACK, label="window update")
        elif a == "win_change":
            me.win = r.choice((0, 1, 100, 502, 8192, 65535, r.randrange(65536)))
            self.seg(side, ACK, label="window change")
        elif a == "retrans":
            self.retrans(side)
            if r.random() < 0.3:
                self.retrans(side)
        elif a == "keepalive":
            self.seg(side, ACK, data=r.choice((b"", b"\0")), seq=(me.nxt - 1) & M32, label="keepalive")
        elif a == "urg":
            self.seg(side, ACK | URG | PSH, data=rand_data(r, 1, 50), label="urgent data")
        elif a == "ecn":
            self.seg(side, ACK | r.choice((ECE, CWR, ECE | CWR)), data=rand_data(r, 0, 100), label="ECE/CWR")
        elif a == "bad_csum":
            self.seg(side, ACK | PSH, data=rand_data(r, 1, 200), bad_csum=True, advance=False,
                     seq=me.nxt, label="bad checksum")
        elif a == "trunc":
            how = r.choice(("doff_big", "doff_small", "short"))
            if how == "doff_big":
                self.seg(side, ACK, doff=r.choice((6, 8, 15)), advance=False, seq=me.nxt,
                         label="data offset > length")
            elif how == "doff_small":
                self.seg(side, ACK, doff=r.choice((0, 3, 4)), advance=False, seq=me.nxt,
                         label="data offset < 5")
            else:
                self.seg(side, ACK, cut=r.choice((4, 8, 12, 19)), advance=False, seq=me.nxt,
                         label="tcp header cut")
        elif a == "bad_flags":
            fl = r.choice((SYN | FIN, SYN | RST, 0, 0xFF, FIN, PSH, URG, SYN | FIN | ACK, RST | FIN,
                           RST | ACK | PSH, FIN | PSH | URG, SYN | ACK | RST, r.randrange(256)))
            self.seg(side, fl, data=rand_data(r, 0, 20), advance=False, seq=me.nxt, label="odd flags")
        elif a == "syn_in_est":
            # SYN inside an established connection: challenge ACK, RST, or SYN/ACK (restart)
            cl, sv = self.e["c"], self.e["s"]
            new_isn = r.choice(((cl.nxt + r.randrange(1, 1 << 20)) & M32, r.randrange(1 << 32), cl.nxt))
            self.seg("c", SYN, seq=new_isn, ack=0, win=64240, opts=self.syn_opts("c"), advance=False,
                     label="SYN in established")
            k = r.choice(("challenge", "challenge", "synack", "none"))
            if k == "challenge":
                self.seg("s", ACK, label="challenge ACK")
                if r.random() < 0.7:
                    self.seg("c", RST, seq=sv.ackd if sv.ackd is not None else cl.nxt, ack=0, win=0,
                             advance=False, label="RST after challenge ACK")
                    self.phase = "closed"
            elif k == "synack":
                cl.isn, cl.nxt = new_isn, (new_isn + 1) & M32
                sv.isn = sv.nxt = r.randrange(1 << 32)
                self.seg("s", SYN | ACK, ack=cl.nxt, opts=self.syn_opts("s"), win=65535, label="SYN/ACK to new SYN")
                self.settle_scale()
                if r.random() < 0.8:
                    self.seg("c", ACK, label="ACK")
        elif a == "rst":
            self.rst(side)
        elif a == "fin":
            self.fin(side)
        elif a == "sack":
            if peer.nxt is not None:
                left = (peer.nxt + r.randrange(1, 3000)) & M32
                right = (left + r.choice((1, 100, 1000, 1 << 20, peer.edge and 70000 or 70000))) & M32
                opts = tcp_opts([("nop", 0), ("nop", 0), ("sack", [(left, right)])])
                self.seg(side, ACK, opts=opts, label="ack with SACK")
        elif a == "icmp_err":
            self.pending_icmp = (side, me.last)
        elif a == "reserved":
            self.seg(side, ACK | PSH, data=rand_data(r, 1, 10), reserved=r.randrange(1, 16), label="reserved bits")
        elif a == "close_reopen":
            self.fin_exchange(side)
            self.reopen(r.choice("ccs"))
        elif a == "retrans_burst":      # reaches nf_conntrack_tcp_max_retrans
            if me.last is None or r.random() < 0.5:
                self.seg(side, ACK | PSH, data=rand_data(r, 1, 500), label="data (to be retransmitted)")
            for _ in range(r.randrange(3, 6)):
                self.retrans(side)
        elif a == "old_synack":
            self.seg("s", SYN | ACK, seq=self.e["s"].isn, ack=(self.e["c"].isn + 1) & M32,
                     opts=self.syn_opts("s"), advance=False, label="old SYN/ACK in established")
        elif a == "ack_edge":
            # ack / SACK right at the upper bound (the peer's td_end) and around 66000 below it
            d = r.choice((-1, 0, 1, 2, -66000, -65999, -66001))
            if r.random() < 0.6:
                self.seg(side, ACK, ack=(peer.nxt + d) & M32, label="ack edge %+d" % d)
            else:
                left = (peer.nxt - r.randrange(0, 3000)) & M32
                opts = tcp_opts([("nop", 0), ("nop", 0), ("sack", [(left, (peer.nxt + d) & M32)])])
                self.seg(side, ACK, opts=opts, label="SACK edge %+d" % d)
        return a

    def rst(self, side):
        r = self.rng
        me, peer = self.e[side], self.e["s" if side == "c" else "c"]
        wnd = peer.win << peer.scale
        mode = r.choice(("exact", "exact", "inwin", "outwin", "below", "zero", "train", "acked"))
        if mode == "exact":
            seq = me.nxt
        elif mode == "inwin":
            seq = me.nxt + r.randrange(1, max(2, min(wnd, 1 << 30)))
        elif mode == "outwin":
            seq = me.nxt + wnd + r.choice((1, 2, 1000, 1 << 24))
        elif mode == "below":
            seq = me.nxt - r.choice((1, 10, 1000, 70000))
        elif mode == "zero":
            seq = 0
        elif mode == "acked":
            seq = peer.ackd if peer.ackd is not None else me.nxt
        else:   # data then RST at its end
            self.seg(side, ACK | PSH, data=rand_data(r, 1, 100), label="data before RST")
            seq = me.nxt
        flags = RST | (ACK if r.random() < 0.5 else 0)
        self.seg(side, flags, seq=seq & M32, ack=peer.nxt if flags & ACK else r.choice((0, peer.nxt)),
                 win=0, advance=False, label="RST %s" % mode)
        if r.random() < 0.3:
            self.retrans(side)
        self.phase = "closed"

    def fin(self, side):
        r = self.rng
        other = "s" if side == "c" else "c"
        flags = FIN | ACK if r.random() < 0.9 else FIN      # FIN alone is an invalid combination
        self.seg(side, flags | (PSH if r.random() < 0.2 else 0), data=rand_data(r, 0, 100),
                 advance=bool(flags & ACK), seq=self.e[side].nxt, label="FIN")
        if not flags & ACK:
            self.seg(side, FIN | ACK, label="FIN (again, with ACK)")
        if r.random() < 0.7:
            self.seg(other, ACK, label="ACK of FIN")
        if r.random() < 0.6:
            self.seg(other, FIN | ACK, label="FIN (peer)")
            if r.random() < 0.8:
                self.seg(side, ACK, label="last ACK")
            self.phase = "closed"

    def fin_exchange(self, side):
        other = "s" if side == "c" else "c"
        self.seg(side, FIN | ACK, label="FIN")
        if self.rng.random() < 0.5:
            self.seg(other, FIN | ACK, label="FIN/ACK")
        else:
            self.seg(other, ACK, label="ACK")
            self.seg(other, FIN | ACK, label="FIN")
        self.seg(side, ACK, label="last ACK")
        self.phase = "closed"

    def reopen(self, side="c"):
        """New SYN on the same tuple (TIME_WAIT / CLOSE reopen), usually from the client; from
        the server (reply direction) it cannot reopen the entry."""
        r = self.rng
        c, s = self.e[side], self.e["s" if side == "c" else "c"]
        c.isn = r.choice(((c.nxt + r.randrange(1, 1 << 24)) & M32, (c.nxt - r.randrange(1, 1 << 24)) & M32,
                          r.randrange(1 << 32)))
        c.nxt = c.isn
        s.isn = s.nxt = r.randrange(1 << 32)
        c.edge = s.edge = None
        self.seg(side, SYN, win=64240, opts=self.syn_opts(side), label="SYN (reopen)")
        if side == "c" and r.random() < 0.8:
            self.synack()
            self.seg("c", ACK, label="ACK")
        self.phase = "est"

    def script(self, budget):
        """Yields after each step so flows can be interleaved."""
        self.pending_icmp = None
        self.open()
        yield
        while len(self.pkts) < budget:
            if self.phase == "closed" and self.rng.random() < 0.35:
                self.reopen(self.rng.choice("cccs"))
            elif self.phase == "syn_sent" and self.rng.random() < 0.5:
                self.synack()
                self.seg("c", ACK, label="ACK")
                self.phase = "est"
            else:
                self.act()
            yield


def flag_str(f):
    return "".join(ch for bit, ch in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "A"),
                                      (URG, "U"), (ECE, "E"), (CWR, "C")) if f & bit) or "none"


def rand_data(r, lo, hi):
    n = r.randrange(lo, hi + 1)
    return bytes(r.randrange(256) for _ in range(n)) if n < 64 else bytes([r.randrange(256)]) * n


class UdpFlow(Flow):
    proto = 17

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        two_way = r.random() < 0.6
        while len(self.pkts) < budget:
            side = "c" if (not two_way or r.random() < 0.55) else "s"
            a, b = self.ends(side)
            kind = r.choices(["ok", "bad_csum", "zero_csum", "trunc", "len_big", "len_small",
                              "len_lt8", "icmp_err"], [40, 5, 6, 3, 3, 4, 2, 5])[0]
            pl = rand_data(r, 0, 300)
            if kind == "ok":
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl)
            elif kind == "bad_csum":
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl, csum="bad")
            elif kind == "zero_csum":
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl, csum="zero")
            elif kind == "trunc":
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl, cut=r.randrange(1, 8))
            elif kind == "len_big":
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl, length=8 + len(pl) + r.choice((1, 2, 100)),
                                  csum=r.choice(("ok", "zero")))
            elif kind == "len_small":
                pl = pl or b"xx"
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl, length=8 + r.randrange(len(pl)),
                                  csum=r.choice(("ok", "zero", "ok")), pseudo_len=r.choice(("udp", "ip")))
            elif kind == "len_lt8":
                l4 = udp_datagram(a.ip, b.ip, a.port, b.port, pl, length=r.randrange(8), csum=r.choice(("ok", "zero")))
            else:
                if self.pkts:
                    self.pending_icmp = (self.last_side, self.pkts[-1])
                yield
                continue
            self.emit(side, l4, "udp %s %s len=%d" % (side, kind, len(pl)), 17)
            yield


class IcmpFlow(Flow):
    """ICMP echo (and timestamp) request/reply with matching and non-matching ids."""
    proto = 1

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        ident = r.randrange(1 << 16)
        seq = r.randrange(1 << 16)
        req, rep = r.choice(((8, 0), (8, 0), (8, 0), (13, 14), (15, 16), (17, 18)))
        while len(self.pkts) < budget:
            kind = r.choices(["request", "reply", "reply_wrong_id", "reply_first", "request_new_id",
                              "bad_csum", "odd_type", "request_from_server", "short"],
                             [30, 30, 6, 3, 5, 4, 3, 3, 2])[0]
            if kind == "request":
                seq = (seq + 1) & 0xFFFF  # the sequence number is 16 bits and wraps
                self.emit("c", icmp_msg(req, 0, struct.pack("!HH", ident, seq), rand_data(r, 0, 56)), "echo req", 1)
            elif kind == "reply":
                self.emit("s", icmp_msg(rep, 0, struct.pack("!HH", ident, seq), rand_data(r, 0, 56)), "echo reply", 1)
            elif kind == "reply_wrong_id":
                self.emit("s", icmp_msg(rep, 0, struct.pack("!HH", (ident + r.randrange(1, 1000)) & 0xFFFF, seq)),
                          "echo reply wrong id", 1)
            elif kind == "reply_first":
                self.emit("c", icmp_msg(rep, 0, struct.pack("!HH", r.randrange(1 << 16), 1)), "reply without request", 1)
            elif kind == "request_new_id":
                ident = r.randrange(1 << 16)
                self.emit("c", icmp_msg(req, 0, struct.pack("!HH", ident, seq)), "echo req new id", 1)
            elif kind == "bad_csum":
                self.emit(r.choice("cs"), icmp_msg(r.choice((req, rep)), 0, struct.pack("!HH", ident, seq),
                                                   bad_csum=True), "icmp bad checksum", 1)
            elif kind == "odd_type":
                t = r.choice((9, 10, 42, 5, 255, 8))
                self.emit("c", icmp_msg(t, r.choice((0, 1, 5)), struct.pack("!HH", ident, seq)), "icmp type %d" % t, 1)
            elif kind == "request_from_server":
                self.emit("s", icmp_msg(req, 0, struct.pack("!HH", ident, seq)), "echo req from server", 1)
            else:
                self.emit("c", icmp_msg(req, 0, struct.pack("!HH", ident, seq))[:r.randrange(1, 8)], "icmp short", 1)
            yield


class Icmp6Flow(Flow):
    """ICMPv6 echo (and node information query) request/reply with matching and non-matching
    ids, odd/untracked types (MLD, neighbour discovery), and errors about the flow's own
    requests."""
    proto = 58

    def msg(self, side, typ, code, rest, payload=b"", bad_csum=False):
        a, b = self.ends(side)
        return icmp6_msg(a.ip, b.ip, typ, code, rest, payload, bad_csum=bad_csum)

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        ident = r.randrange(1 << 16)
        seq = r.randrange(1 << 16)
        req, rep = r.choice(((128, 129), (128, 129), (128, 129), (139, 140)))
        while len(self.pkts) < budget:
            kind = r.choices(["request", "reply", "reply_wrong_id", "reply_first", "request_new_id",
                              "bad_csum", "odd_type", "request_from_server", "short", "icmp_err"],
                             [30, 30, 6, 3, 5, 4, 4, 3, 2, 3])[0]
            if kind == "request":
                seq = (seq + 1) & 0xFFFF
                self.emit("c", self.msg("c", req, 0, struct.pack("!HH", ident, seq), rand_data(r, 0, 56)),
                          "echo6 req", 58)
            elif kind == "reply":
                self.emit("s", self.msg("s", rep, 0, struct.pack("!HH", ident, seq), rand_data(r, 0, 56)),
                          "echo6 reply", 58)
            elif kind == "reply_wrong_id":
                self.emit("s", self.msg("s", rep, 0, struct.pack("!HH", (ident + r.randrange(1, 1000)) & 0xFFFF, seq)),
                          "echo6 reply wrong id", 58)
            elif kind == "reply_first":
                self.emit("c", self.msg("c", rep, 0, struct.pack("!HH", r.randrange(1 << 16), 1)),
                          "echo6 reply without request", 58)
            elif kind == "request_new_id":
                ident = r.randrange(1 << 16)
                self.emit("c", self.msg("c", req, 0, struct.pack("!HH", ident, seq)), "echo6 req new id", 58)
            elif kind == "bad_csum":
                side = r.choice("cs")
                self.emit(side, self.msg(side, r.choice((req, rep)), 0, struct.pack("!HH", ident, seq),
                                         bad_csum=True), "icmp6 bad checksum", 58)
            elif kind == "odd_type":
                # errors without a quoted packet, MLD/ND (untracked), node info, unknown types
                t = r.choice((1, 3, 4, 100, 130, 131, 133, 135, 136, 137, 143, 139, 140, 200, 255, 128))
                self.emit("c", self.msg("c", t, r.choice((0, 1, 5)), struct.pack("!HH", ident, seq)),
                          "icmp6 type %d" % t, 58)
            elif kind == "request_from_server":
                self.emit("s", self.msg("s", req, 0, struct.pack("!HH", ident, seq)), "echo6 req from server", 58)
            elif kind == "short":
                self.emit("c", self.msg("c", req, 0, struct.pack("!HH", ident, seq))[:r.randrange(1, 8)],
                          "icmp6 short", 58)
            elif self.pkts:
                self.pending_icmp = (self.last_side, self.pkts[-1])
            yield


def sctp_chunk(typ, flags, value=b"", length=None):
    ln = 4 + len(value) if length is None else length
    ch = struct.pack("!BBH", typ, flags, ln & 0xFFFF) + value
    return ch + b"\0" * ((-len(ch)) % 4)


def sctp_packet(sport, dport, vtag, chunks, bad_csum=False, csum_zero=False):
    """SCTP common header (RFC 9260 3.1) + chunks, with the CRC32c checksum (little-endian on
    the wire, as the kernel's sctp_compute_cksum)."""
    pkt = struct.pack("!HHII", sport, dport, vtag & M32, 0) + b"".join(chunks)
    if csum_zero:
        return pkt
    c = crc32c(pkt)
    if bad_csum:
        c ^= 0x00A5A500
    return pkt[:8] + struct.pack("<I", c) + pkt[12:]


SCTP_DATA, SCTP_INIT, SCTP_INIT_ACK, SCTP_SACK, SCTP_HB, SCTP_HB_ACK, SCTP_ABORT = 0, 1, 2, 3, 4, 5, 6
SCTP_SHUTDOWN, SCTP_SHUTDOWN_ACK, SCTP_ERROR, SCTP_COOKIE_ECHO, SCTP_COOKIE_ACK = 7, 8, 9, 10, 11
SCTP_SHUTDOWN_COMPLETE = 14


class SctpFlow(Flow):
    """SCTP association: INIT / INIT_ACK / COOKIE_ECHO / COOKIE_ACK, DATA / SACK, HEARTBEAT,
    SHUTDOWN sequence, ABORT, restarts; mostly correct verification tags and CRC32c, now and
    then wrong ones, bundled chunks, odd or cut chunks."""
    proto = 132

    def __init__(self, rng, c, s):
        super().__init__(rng, c, s)
        self.tag = {"c": 0, "s": 0}          # each end's own initiate tag (the peer puts it in vtag)
        self.tsn = {"c": rng.randrange(1 << 32), "s": rng.randrange(1 << 32)}
        self.phase = "closed"

    def other(self, side):
        return "s" if side == "c" else "c"

    def send(self, side, chunks, label, vtag=None, bad_csum=False, **kw):
        r = self.rng
        if vtag is None:
            vtag = self.tag[self.other(side)]
        wrong = ""
        if not bad_csum and r.random() < 0.04:
            bad_csum, wrong = True, " BADCSUM"
        if r.random() < 0.04:
            vtag = r.choice((vtag ^ (1 << r.randrange(32)), 0, self.tag[side], r.randrange(1 << 32)))
            wrong += " WRONGVTAG"
        a, b = self.ends(side)
        l4 = sctp_packet(a.port, b.port, vtag, chunks, bad_csum=bad_csum, **kw)
        return self.emit(side, l4, "sctp %s %s%s" % (side, label, wrong), 132)

    def init_chunk(self, side, typ=SCTP_INIT, cookie=b"", keep_tag=False):
        r = self.rng
        if not keep_tag:
            self.tag[side] = r.randrange(1, 1 << 32) if r.random() < 0.97 else 0
        params = b""
        if typ == SCTP_INIT_ACK:
            cookie = cookie or rand_data(r, 8, 40)
            params += struct.pack("!HH", 7, 4 + len(cookie)) + cookie + b"\0" * ((-len(cookie)) % 4)
        if r.random() < 0.3:
            params += struct.pack("!HH", 0x8000, 4)          # ECN capable
        if r.random() < 0.2:
            params += struct.pack("!HH4s", 5, 8, a4("10.9.9.9"))   # IPv4 address parameter
        val = struct.pack("!IIHHI", self.tag[side], r.choice((65535, 106496, 1500, 0)),
                          r.choice((10, 1, 65535)), r.choice((10, 1, 65535)), self.tsn[side]) + params
        return sctp_chunk(typ, 0, val)

    def data_chunk(self, side):
        r = self.rng
        self.tsn[side] = (self.tsn[side] + 1) & M32
        return sctp_chunk(SCTP_DATA, r.choice((3, 3, 1, 2, 7)),
                          struct.pack("!IHHI", self.tsn[side], r.randrange(4), r.randrange(1 << 16), 0)
                          + rand_data(r, 1, 200))

    def sack_chunk(self, side):
        peer = self.other(side)
        return sctp_chunk(SCTP_SACK, 0, struct.pack("!IIHH", self.tsn[peer], 106496, 0, 0))

    def hb_chunk(self, typ=SCTP_HB):
        info = rand_data(self.rng, 4, 40)
        return sctp_chunk(typ, 0, struct.pack("!HH", 1, 4 + len(info)) + info + b"\0" * ((-len(info)) % 4))

    def handshake(self, side="c"):
        r, o = self.rng, self.other(side)
        cookie = rand_data(r, 8, 40)
        kind = r.choices(["normal", "init_retrans", "init_only", "collision", "abort", "no_cookie_ack",
                          "initack_only", "bundled", "init_vtag"], [40, 8, 5, 5, 5, 5, 4, 8, 3])[0]
        init = self.init_chunk(side)
        self.send(side, [init], "INIT", vtag=0 if kind != "init_vtag" else r.randrange(1 << 32))
        if kind == "init_retrans":
            for _ in range(r.randrange(1, 3)):
                if r.random() < 0.3:
                    init = self.init_chunk(side)          # a new INIT (new initiate tag)
                self.send(side, [init], "INIT (retransmit)", vtag=0)
        if kind == "init_only":
            return "cookie_wait"
        if kind == "collision":
            self.send(o, [self.init_chunk(o)], "INIT (collision)", vtag=0)
        if kind == "abort":
            self.send(o, [sctp_chunk(SCTP_ABORT, 1)], "ABORT(T) to INIT", vtag=self.tag[side])
            return "closed"
        # after an INIT collision the INIT_ACK normally repeats the initiate tag of the endpoint's
        # own INIT (RFC 9260 5.2.1), sometimes not
        keep = kind == "collision" and r.random() < 0.75
        self.send(o, [self.init_chunk(o, SCTP_INIT_ACK, cookie, keep_tag=keep)],
                  "INIT_ACK" + (" (same tag as its INIT)" if keep else ""))
        if kind == "initack_only":
            return "cookie_wait"
        chunks = [sctp_chunk(SCTP_COOKIE_ECHO, 0, cookie)]
        if kind == "bundled" or r.random() < 0.2:
            chunks.append(self.data_chunk(side))
        self.send(side, chunks, "COOKIE_ECHO" + (" +DATA" if len(chunks) > 1 else ""))
        if kind == "no_cookie_ack":
            return "cookie_echoed"
        chunks = [sctp_chunk(SCTP_COOKIE_ACK, 0)]
        if len(chunks) > 1 or kind == "bundled" or r.random() < 0.2:
            chunks.append(self.sack_chunk(o))
        self.send(o, chunks, "COOKIE_ACK" + (" +SACK" if len(chunks) > 1 else ""))
        return "est"

    def act(self):
        r = self.rng
        side = r.choice("cs")
        o = self.other(side)
        a = r.choices(["data", "sack", "data_sack", "heartbeat", "shutdown", "abort", "restart", "bad_csum",
                       "wrong_vtag", "unknown_chunk", "bad_len", "cut", "error", "shutdown_bad",
                       "zero_csum", "cookie_echo_again", "many_chunks"],
                      [30, 12, 8, 10, 7, 4, 3, 3, 3, 2, 2, 2, 2, 2, 1, 2, 3])[0]
        if a == "data":
            self.send(side, [self.data_chunk(side)], "DATA")
            if r.random() < 0.7:
                self.send(o, [self.sack_chunk(o)], "SACK")
        elif a == "sack":
            self.send(side, [self.sack_chunk(side)], "SACK")
        elif a == "data_sack":
            self.send(side, [self.sack_chunk(side), self.data_chunk(side)], "SACK+DATA")
        elif a == "heartbeat":
            self.send(side, [self.hb_chunk()], "HEARTBEAT")
            if r.random() < 0.8:
                self.send(o, [self.hb_chunk(SCTP_HB_ACK)], "HEARTBEAT_ACK")
        elif a == "shutdown":
            self.send(side, [sctp_chunk(SCTP_SHUTDOWN, 0, struct.pack("!I", self.tsn[o]))], "SHUTDOWN")
            if r.random() < 0.9:
                self.send(o, [sctp_chunk(SCTP_SHUTDOWN_ACK, 0)], "SHUTDOWN_ACK")
                if r.random() < 0.85:
                    t = r.random() < 0.3
                    self.send(side, [sctp_chunk(SCTP_SHUTDOWN_COMPLETE, 1 if t else 0)],
                              "SHUTDOWN_COMPLETE%s" % ("(T)" if t else ""), vtag=self.tag[side] if t else None)
                    self.phase = "closed"
        elif a == "abort":
            t = r.random() < 0.3
            self.send(side, [sctp_chunk(SCTP_ABORT, 1 if t else 0)], "ABORT%s" % ("(T)" if t else ""),
                      vtag=self.tag[side] if t else None)
            self.phase = "closed"
        elif a == "restart":
            self.phase = self.handshake(r.choice("ccs"))
        elif a == "bad_csum":
            self.send(side, [self.data_chunk(side)], "DATA bad checksum", bad_csum=True)
        elif a == "wrong_vtag":
            self.send(side, [self.data_chunk(side)], "DATA wrong vtag",
                      vtag=r.choice((self.tag[side], 0, r.randrange(1 << 32))))
        elif a == "unknown_chunk":
            t = r.choice((0x40, 0x80, 0xC0, 15, 63, 0x82, 0xC1, 130))
            self.send(side, [sctp_chunk(t, 0, rand_data(r, 0, 12))], "chunk type %d" % t)
        elif a == "bad_len":
            ch = r.choice((SCTP_DATA, SCTP_SACK, SCTP_HB, SCTP_COOKIE_ACK))
            self.send(side, [sctp_chunk(ch, 0, rand_data(r, 4, 20), length=r.choice((0, 1, 3, 200, 2)))],
                      "chunk %d bad length" % ch)
        elif a == "cut":
            l4 = sctp_packet(self.ends(side)[0].port, self.ends(side)[1].port, self.tag[o],
                             [self.data_chunk(side)])
            self.emit(side, l4[:r.choice((4, 8, 11, 12, 14))], "sctp %s cut" % side, 132)
        elif a == "error":
            self.send(side, [sctp_chunk(SCTP_ERROR, 0, struct.pack("!HH", 1, 8) + b"\0\x01\0\0")], "ERROR")
        elif a == "shutdown_bad":
            # SHUTDOWN_ACK / SHUTDOWN_COMPLETE out of order
            ch = r.choice((SCTP_SHUTDOWN_ACK, SCTP_SHUTDOWN_COMPLETE, SCTP_COOKIE_ACK, SCTP_INIT_ACK))
            self.send(side, [sctp_chunk(ch, 0, b"" if ch != SCTP_INIT_ACK else self.init_chunk(side, SCTP_INIT_ACK)[4:])],
                      "chunk %d out of order" % ch)
        elif a == "zero_csum":
            self.send(side, [self.data_chunk(side)], "DATA zero checksum", csum_zero=True)
        elif a == "cookie_echo_again":
            self.send(side, [sctp_chunk(SCTP_COOKIE_ECHO, 0, rand_data(r, 8, 30))], "COOKIE_ECHO again")
            if r.random() < 0.6:
                self.send(o, [sctp_chunk(SCTP_COOKIE_ACK, 0)], "COOKIE_ACK again")
        elif a == "many_chunks":
            kinds = [self.data_chunk(side), self.sack_chunk(side), self.hb_chunk()]
            if r.random() < 0.2:
                kinds.append(sctp_chunk(SCTP_SHUTDOWN, 0, struct.pack("!I", self.tsn[o])))
            if r.random() < 0.1:
                kinds.append(sctp_chunk(SCTP_ABORT, 0))
            if r.random() < 0.1:
                kinds.insert(0, self.init_chunk(side))        # INIT bundled: not allowed
            r.shuffle(kinds)
            self.send(side, kinds[:r.randrange(2, len(kinds) + 1)], "bundle of %d chunks" % len(kinds))
        return a

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        if r.random() < 0.08:
            # midstream: the capture starts inside an association
            self.tag = {"c": r.randrange(1 << 32), "s": r.randrange(1 << 32)}
            self.phase = "est"
        else:
            self.phase = self.handshake()
        yield
        while len(self.pkts) < budget:
            if self.phase == "closed" and r.random() < 0.5:
                self.phase = self.handshake(r.choice("cccs"))
            elif self.phase in ("cookie_wait", "cookie_echoed") and r.random() < 0.5:
                self.phase = self.handshake()
            elif r.random() < 0.04 and self.pkts:
                self.pending_icmp = (self.last_side, self.pkts[-1])
            else:
                self.act()
            yield


class GreFlow(Flow):
    """GRE both ways: version 0 (RFC 2784/2890, optional checksum/key/sequence) or PPTP-style
    version 1 (RFC 2637: key = payload length + call id, optional sequence/ack), with now and
    then a wrong protocol type, an unknown version, a wrong call id or a cut header."""
    proto = 47

    def __init__(self, rng, c, s):
        super().__init__(rng, c, s)
        self.version = 1 if rng.random() < 0.5 else 0
        self.call = {"c": rng.randrange(1 << 16), "s": rng.randrange(1 << 16)}
        if rng.random() < 0.15:
            self.call = {"c": 0, "s": 0}
        self.key = rng.choice((None, rng.randrange(1 << 32)))
        self.seq = {"c": rng.randrange(1 << 32), "s": rng.randrange(1 << 32)}

    def gre(self, side, version=None, proto=None, payload=b"", ack=False, key=None, with_seq=True,
            csum=False):
        r = self.rng
        v = self.version if version is None else version
        if v == 1:
            flags = 0x2000 | (0x1000 if with_seq else 0) | (0x0080 if ack else 0) | 1
            hdr = struct.pack("!HHHH", flags, 0x880B if proto is None else proto, len(payload),
                              self.call[self.other(side)] if key is None else key)
            if with_seq:
                self.seq[side] = (self.seq[side] + 1) & M32
                hdr += struct.pack("!I", self.seq[side])
            if ack:
                hdr += struct.pack("!I", self.seq[self.other(side)])
            return hdr + payload
        k = self.key if key is None else key
        flags = (0x8000 if csum else 0) | (0x2000 if k is not None else 0) | (0x1000 if with_seq else 0) | (v & 7)
        hdr = struct.pack("!HH", flags, 0x0800 if proto is None else proto)
        opt = b""
        if csum:
            opt += b"\0\0\0\0"
        if k is not None:
            opt += struct.pack("!I", k & M32)
        if with_seq:
            self.seq[side] = (self.seq[side] + 1) & M32
            opt += struct.pack("!I", self.seq[side])
        pkt = hdr + opt + payload
        if csum:
            c = inet_csum(pkt)
            pkt = pkt[:4] + struct.pack("!H", c) + pkt[6:]
        return pkt

    def other(self, side):
        return "s" if side == "c" else "c"

    def inner(self):
        r = self.rng
        if self.version == 1:                                      # PPP (HDLC address/control, IP)
            return b"\xff\x03\x00\x21" + ipv4("192.168.%d.1" % r.randrange(256), "192.168.%d.2" % r.randrange(256),
                                                17, udp_datagram("192.168.0.1", "192.168.0.2", 1000, 2000,
                                                                 rand_data(r, 0, 60)))
        return ipv4("192.168.%d.1" % r.randrange(256), "192.168.%d.2" % r.randrange(256), 17,
                    udp_datagram("192.168.0.1", "192.168.0.2", 1000, 2000, rand_data(r, 0, 60)))

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        two_way = r.random() < 0.8
        while len(self.pkts) < budget:
            side = "c" if (not two_way or r.random() < 0.55) else "s"
            kind = r.choices(["ok", "ack_only", "wrong_proto", "bad_version", "wrong_key", "cut",
                              "other_version", "csum", "icmp_err"], [50, 8, 3, 3, 4, 3, 3, 4, 3])[0]
            if kind == "ok":
                l4 = self.gre(side, payload=self.inner(), ack=self.version == 1 and r.random() < 0.3)
            elif kind == "ack_only":
                l4 = self.gre(side, ack=self.version == 1, with_seq=self.version == 0)
            elif kind == "wrong_proto":
                l4 = self.gre(side, proto=r.choice((0x0800, 0x880B, 0x86DD, 0x6558, 0)), payload=self.inner())
            elif kind == "bad_version":
                l4 = self.gre(side, version=r.choice((2, 3, 7)), payload=self.inner())
            elif kind == "wrong_key":
                l4 = self.gre(side, key=r.choice((0, r.randrange(1 << 16), self.call[side])), payload=self.inner())
            elif kind == "cut":
                l4 = self.gre(side, payload=self.inner())[:r.choice((1, 2, 3, 4, 6, 7))]
            elif kind == "other_version":
                l4 = self.gre(side, version=1 - self.version, payload=self.inner())
            elif kind == "csum":
                l4 = self.gre(side, version=0, payload=self.inner(), csum=True)
            else:
                if self.pkts:
                    self.pending_icmp = (self.last_side, self.pkts[-1])
                yield
                continue
            self.emit(side, l4, "gre v%d %s %s" % (self.version, side, kind), 47)
            yield


def udplite_datagram(src, dst, sport, dport, payload, cov=0, csum="ok", pseudo_proto=17, cut=None):
    """UDP-Lite (RFC 3828): `cov` is the checksum coverage field (0: the whole datagram).
    csum: ok | zero | bad; the checksum covers min(cov, len) bytes (all when cov is 0) with a
    pseudo header of the whole L4 length and protocol `pseudo_proto` (the RFC says 136)."""
    seg = struct.pack("!HHHH", sport, dport, cov & 0xFFFF, 0) + payload
    if cut is not None:
        seg = seg[:cut]
    if len(seg) >= 8 and csum != "zero":
        n = len(seg) if cov == 0 else min(cov, len(seg))
        ln = len(seg)
        if is_v6(src):
            c = inet_csum(a6(src) + a6(dst) + struct.pack("!I3xB", ln, pseudo_proto) + seg[:n])
        else:
            c = inet_csum(a4(src) + a4(dst) + struct.pack("!BBH", 0, pseudo_proto, ln) + seg[:n])
        if c == 0:
            c = 0xFFFF
        if csum == "bad":
            c ^= 0x3C3C
        seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return seg


class UdpLiteFlow(Flow):
    """UDP-Lite both ways: whole or partial checksum coverage, the pseudo header with protocol
    17 (what the kernel checks) or 136 (what RFC 3828 says), a zero or wrong checksum, coverage
    below 8 or beyond the datagram, a cut header."""
    proto = 136

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        two_way = r.random() < 0.7
        while len(self.pkts) < budget:
            side = "c" if (not two_way or r.random() < 0.55) else "s"
            a, b = self.ends(side)
            kind = r.choices(["ok", "partial", "rfc136", "zero_csum", "bad_csum", "cov_lt8",
                              "cov_big", "cov_exact", "trunc", "icmp_err"],
                             [40, 12, 6, 4, 4, 3, 3, 3, 3, 5])[0]
            pl = rand_data(r, 0, 200)
            if kind == "ok":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl)
            elif kind == "partial":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, cov=8 + r.randrange(len(pl) + 1))
            elif kind == "rfc136":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, cov=r.choice((0, 8)), pseudo_proto=136)
            elif kind == "zero_csum":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, csum="zero")
            elif kind == "bad_csum":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, csum="bad")
            elif kind == "cov_lt8":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, cov=r.randrange(1, 8))
            elif kind == "cov_big":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, cov=8 + len(pl) + r.choice((1, 2, 50)))
            elif kind == "cov_exact":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, cov=8 + len(pl))
            elif kind == "trunc":
                l4 = udplite_datagram(a.ip, b.ip, a.port, b.port, pl, cut=r.randrange(0, 8))
            else:
                if self.pkts:
                    self.pending_icmp = (self.last_side, self.pkts[-1])
                yield
                continue
            self.emit(side, l4, "udplite %s %s len=%d" % (side, kind, len(pl)), 136)
            yield


# Protocols the kernel tracks with the generic tracker (addresses and protocol only): DCCP (its
# tracker is gone), ESP, AH (an extension header to IPv6's parser), IP-in-IP, IPv6-in-IPv4,
# OSPF, PIM, L2TP, experimental numbers, and ones no tracker or parser knows.
GENERIC_PROTOS = (33, 33, 50, 50, 51, 4, 41, 89, 103, 115, 253, 254, 2, 142, 200)


class GenericFlow(Flow):
    """One protocol without a tracker of its own, both ways, with payloads of any length
    (empty included)."""

    def __init__(self, rng, c, s):
        super().__init__(rng, c, s)
        self.proto = rng.choice(GENERIC_PROTOS)

    def body(self):
        r = self.rng
        if self.proto == 51 and self.v6 and r.random() < 0.8:
            # AH as IPv6 parses it: next header, length in 4-byte units minus 2, then SPI/seq/ICV
            nh = r.choice((59, 17, 6, 50))
            n = r.choice((1, 2, 4))
            body = struct.pack("!BBHII", nh, n, 0, r.randrange(1 << 32), r.randrange(1 << 32))
            body += rand_data(r, (n + 2) * 4 - 12, (n + 2) * 4 - 12) if n > 1 else b""
            return body[:(n + 2) * 4] + rand_data(r, 0, 40)
        return rand_data(r, 0, r.choice((0, 8, 60, 200)))

    def script(self, budget):
        r = self.rng
        self.pending_icmp = None
        two_way = r.random() < 0.7
        while len(self.pkts) < budget:
            side = "c" if (not two_way or r.random() < 0.55) else "s"
            if r.random() < 0.06:
                if self.pkts:
                    self.pending_icmp = (self.last_side, self.pkts[-1])
                yield
                continue
            self.emit(side, self.body(), "proto %d %s" % (self.proto, side), self.proto)
            yield


def mutate_quote(inner, variant, l4off, addr_off, addr_len, flip_at):
    """The tuple damage both ICMP families apply to a quoted packet (a bytearray, changed in
    place): a port off by one, a flipped address bit (byte `flip_at`), or source and destination
    swapped (addresses of `addr_len` bytes from `addr_off`, then the ports at `l4off`)."""
    if variant == "wrong_port" and len(inner) >= l4off + 4:
        struct.pack_into("!H", inner, l4off, (struct.unpack_from("!H", inner, l4off)[0] + 1) & 0xFFFF)
    elif variant == "wrong_addr":
        inner[flip_at] ^= 0x40
    elif variant == "swapped" and len(inner) >= l4off + 4:
        a, b, e = addr_off, addr_off + addr_len, addr_off + 2 * addr_len
        inner[a:b], inner[b:e] = inner[b:e], inner[a:b]
        inner[l4off:l4off + 2], inner[l4off + 2:l4off + 4] = inner[l4off + 2:l4off + 4], inner[l4off:l4off + 2]


def cut_quote(rng, inner, variant, l4off):
    """How much of the quoted packet an error carries: all of it, part of the first 8 bytes of its
    L4 header, or (the norm) exactly those 8 bytes."""
    if variant == "full":
        return bytes(inner)
    if variant == "short":
        return bytes(inner[:l4off + rng.randrange(0, 8)])
    return bytes(inner[:l4off + 8])


def icmp6_error_for(rng, flow, side, quoted, router):
    """An ICMPv6 error (destination unreachable, packet too big, time exceeded) about `quoted`
    (an IPv6 packet sent by `side`), sent back towards that side by the peer or by a router;
    sometimes with a wrong inner tuple, a cut inner header or about an unknown flow."""
    me, peer = flow.ends(side)
    inner = bytearray(quoted.ip)
    variant = rng.choices(["exact", "wrong_port", "wrong_addr", "swapped", "short", "full", "bad_csum",
                           "inner_nexthdr", "inner_cut_ip"], [30, 6, 4, 5, 4, 6, 3, 2, 2])[0]
    h = quoted.l4off or 40      # after the quoted packet's extension headers
    mutate_quote(inner, variant, h, 8, 16, 39)
    if variant == "inner_nexthdr":
        inner[6] = rng.choice((0, 59, 60, 43, 44, 58, 17 if inner[6] == 6 else 6))
    if variant == "inner_cut_ip":
        q = bytes(inner[:rng.randrange(4, h)])
    else:
        q = cut_quote(rng, inner, variant, h)
    typ, code = rng.choice(((1, 0), (1, 1), (1, 3), (1, 4), (1, 4), (1, 5), (2, 0), (2, 0), (3, 0), (3, 1)))
    rest = struct.pack("!I", rng.choice((1280, 1280, 1500, 0)) if typ == 2 else 0)
    src = router if rng.random() < 0.4 else peer.ip
    l4 = icmp6_msg(src, me.ip, typ, code, rest, q, bad_csum=(variant == "bad_csum"))
    ip = ipv6(src, me.ip, 58, l4, hlim=rng.choice((64, 255, 1)))
    return Pkt(ether(peer.mac, me.mac, ip), "icmp6 err %d/%d (%s) for %s" % (typ, code, variant, quoted.label), ip)


def unknown_flow_l4(rng, c, s, echo_proto, echo):
    """The first packet of a flow nobody saw, for an error to quote: a TCP SYN, a UDP query or an
    echo request (`echo(rest)` builds it; `echo_proto` is its protocol). Returns (proto, bytes)."""
    proto = rng.choice((6, 17, echo_proto))
    if proto == 6:
        l4 = tcp_segment(c, s, rng.randrange(1024, 65536), 80, rng.randrange(1 << 32), 0, SYN, 1024)
    elif proto == 17:
        l4 = udp_datagram(c, s, rng.randrange(1024, 65536), 53, b"q")
    else:
        l4 = echo(struct.pack("!HH", rng.randrange(1 << 16), 1))
    return proto, l4


def icmp6_error_unknown(rng):
    """ICMPv6 error quoting an IPv6 flow nobody saw."""
    c, s = "2001:db8::%x" % rng.randrange(0x100, 0x200), "2001:db8:0:1::%x" % rng.randrange(0x100, 0x200)
    proto, l4 = unknown_flow_l4(rng, c, s, 58, lambda rest: icmp6_msg(c, s, 128, 0, rest))
    q = ipv6(c, s, proto, l4)[:48]
    typ, code = rng.choice(((1, 1), (1, 3), (1, 4), (2, 0), (3, 0)))
    l4o = icmp6_msg(s, c, typ, code, struct.pack("!I", 1280 if typ == 2 else 0), q)
    ip = ipv6(s, c, 58, l4o)
    return Pkt(ether(MAC_S, MAC_C, ip), "icmp6 err for unknown flow", ip)


def icmp_error_for(rng, flow, side, quoted, router):
    """An ICMP error about `quoted` (an IP packet sent by `side`), sent back towards that side
    by the peer or by a router; sometimes with a wrong inner tuple or about an unknown flow."""
    me, peer = flow.ends(side)
    inner = bytearray(quoted.ip)
    variant = rng.choices(["exact", "wrong_port", "wrong_addr", "swapped", "short", "full", "bad_csum",
                           "inner_bad_ipcsum"], [30, 6, 4, 5, 4, 6, 3, 3])[0]
    ihl = (inner[0] & 0xF) * 4
    mutate_quote(inner, variant, ihl, 12, 4, 15)
    if variant == "inner_bad_ipcsum":
        inner[10] ^= 0xFF
    q = cut_quote(rng, inner, variant, ihl)
    typ, code = rng.choice(((3, 3), (3, 1), (3, 4), (3, 13), (11, 0), (11, 1), (12, 0), (4, 0), (5, 1)))
    rest = struct.pack("!HH", 0, 1280 if (typ, code) == (3, 4) else 0) if typ != 12 else b"\x14\0\0\0"
    src = router if rng.random() < 0.4 else peer.ip
    l4 = icmp_msg(typ, code, rest, q, bad_csum=(variant == "bad_csum"))
    ip = ipv4(src, me.ip, 1, l4, ident=rng.randrange(1 << 16))
    mac_from = peer.mac
    return Pkt(ether(mac_from, me.mac, ip), "icmp err %d/%d (%s) for %s" % (typ, code, variant, quoted.label), ip)


def error_as_fragments(rng, err):
    """An ICMP or ICMPv6 error sent as IP fragments instead of whole -> list of Pkts (the error
    itself when the plan gives no fragments)."""
    ip = err.ip
    dst_mac, src_mac = err.frame[0:6], err.frame[6:12]
    if ip[0] >> 4 == 6:
        src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
        fr = fragment_ipv6(rng, src, dst, [], ip[6], ip[40:], rng.randrange(1 << 32), ip[7], 0)
    else:
        fr = fragment_ipv4(rng, ip)
    if not fr:
        return [err]
    variant, fl = fr
    return [Pkt(ether(src_mac, dst_mac, fip), "%s [frag %d/%d %s %s]" % (err.label, k + 1, len(fl), variant, desc),
                ip) for k, (fip, desc) in enumerate(fl)]


def icmp_error_unknown(rng):
    """ICMP error quoting a flow nobody saw."""
    c, s = "10.0.0.%d" % rng.randrange(100, 200), "10.0.1.%d" % rng.randrange(100, 200)
    proto, l4 = unknown_flow_l4(rng, c, s, 1, lambda rest: icmp_msg(8, 0, rest))
    q = ipv4(c, s, proto, l4)[:28]
    l4o = icmp_msg(3, rng.choice((1, 3)), b"\0\0\0\0", q)
    ip = ipv4(s, c, 1, l4o)
    return Pkt(ether(MAC_S, MAC_C, ip), "icmp err for unknown flow", ip)


# --------------------------------------------------------------------------- cases

SERVER_PORTS = (80, 443, 22, 53, 8080, 25, 5000)


def gen_settings(rng):
    """Mostly defaults; about 30 % of the cases vary one or two settings."""
    s = {}
    if rng.random() < 0.3:
        for _ in range(rng.randrange(1, 3)):
            k = rng.choice(("loose", "liberal", "checksum", "max_retrans", "ignore_invalid_rst", "timeouts"))
            if k == "loose":
                s["nf_conntrack_tcp_loose"] = 0
            elif k == "liberal":
                s["nf_conntrack_tcp_be_liberal"] = 1
            elif k == "checksum":
                s["nf_conntrack_checksum"] = 0
            elif k == "max_retrans":
                s["nf_conntrack_tcp_max_retrans"] = rng.choice((0, 1, 2))
            elif k == "ignore_invalid_rst":
                s["nf_conntrack_tcp_ignore_invalid_rst"] = 1
            else:
                # distinct values so that a wrong timeout class shows in the final table
                s["nf_conntrack_tcp_timeout_max_retrans"] = 250
                s["nf_conntrack_tcp_timeout_unacknowledged"] = 200
                s["nf_conntrack_tcp_timeout_syn_sent"] = 110
                s["nf_conntrack_tcp_timeout_time_wait"] = 100
                s["nf_conntrack_tcp_timeout_fin_wait"] = 90
                s["nf_conntrack_udp_timeout"] = 25
                s["nf_conntrack_icmp_timeout"] = 20
    return s


KIND_WEIGHTS = (("tcp", 65), ("udp", 20), ("icmp", 15), ("sctp", 14), ("gre", 7), ("udplite", 8),
                ("generic", 8))
OLD_KINDS = ("tcp", "udp", "icmp")
DEFAULT_KINDS = "tcp,udp,icmp,sctp,gre,udplite,generic"
DEFAULT_FRAG_PCT = 4
DEFAULT_EXT6_PCT = 6
DEFAULT_IPH_PCT = 3
DEFAULT_MAX_PCT = 0
DEFAULT_REAL_PCT = 0
DEFAULT_ACCT_PCT = 15


# Real-time cases (--real-pct): timeouts of a few seconds, and at most this much idle time a case.
REAL_IDLE_MAX_US = 9 * 1000000
SHORT_TIMEOUTS = (
    ("nf_conntrack_udp_timeout", 1, 3), ("nf_conntrack_udp_timeout_stream", 2, 5),
    ("nf_conntrack_tcp_timeout_syn_sent", 1, 3), ("nf_conntrack_tcp_timeout_syn_recv", 1, 3),
    ("nf_conntrack_tcp_timeout_established", 2, 6), ("nf_conntrack_tcp_timeout_fin_wait", 1, 3),
    ("nf_conntrack_tcp_timeout_close_wait", 1, 3), ("nf_conntrack_tcp_timeout_last_ack", 1, 3),
    ("nf_conntrack_tcp_timeout_time_wait", 1, 3), ("nf_conntrack_tcp_timeout_close", 1, 2),
    ("nf_conntrack_tcp_timeout_max_retrans", 1, 4), ("nf_conntrack_tcp_timeout_unacknowledged", 1, 4),
    ("nf_conntrack_icmp_timeout", 1, 3), ("nf_conntrack_icmpv6_timeout", 1, 3),
    ("nf_conntrack_generic_timeout", 1, 4), ("nf_conntrack_gre_timeout", 1, 3),
    ("nf_conntrack_gre_timeout_stream", 2, 5), ("nf_conntrack_sctp_timeout_closed", 1, 2),
    ("nf_conntrack_sctp_timeout_cookie_wait", 1, 2), ("nf_conntrack_sctp_timeout_cookie_echoed", 1, 2),
    ("nf_conntrack_sctp_timeout_established", 2, 5), ("nf_conntrack_sctp_timeout_shutdown_sent", 1, 2),
    ("nf_conntrack_sctp_timeout_heartbeat_sent", 1, 3))


def gen_case(seed, index, ipv6_pct=30, kinds=OLD_KINDS, frag_pct=0, ext6_pct=0, iph_pct=0, max_pct=0,
             real_pct=0, acct_pct=0):
    """ipv6_pct: % of the flows that are IPv6 (each flow is one family; a case may mix them).
    With ipv6_pct=0 no random number is drawn for the family, so the cases are the IPv4-only
    ones of earlier versions.  kinds: the flow kinds drawn from (KIND_WEIGHTS); frag_pct: % of
    the datagrams sent as IP fragments; ext6_pct: % of the IPv6 packets carrying extension
    headers; iph_pct: % of the unfragmented packets whose IP header is damaged or unusual
    (options, lengths, version, odd addresses); max_pct: % of the cases run with a small
    nf_conntrack_max (kernel-ct --max); real_pct: % of the cases replayed in real time (kernel-ct
    --timing real) with timeouts of a few seconds and idle gaps between packets; acct_pct: % of
    the cases with nf_conntrack_acct on (the counters are compared).  With kinds tcp,udp,icmp and both percentages 0 the cases are exactly those of the
    versions before SCTP/GRE/fragments/extension headers were added."""
    rng = random.Random("%d:%d" % (seed, index))
    nflows = rng.choice((1, 1, 2, 2, 3, 4))
    total = rng.randrange(5, 61)
    flows = []
    used = set()
    knames = [k for k, _ in KIND_WEIGHTS if k in kinds]
    kweights = [w for k, w in KIND_WEIGHTS if k in kinds]
    for f in range(nflows):
        kind = rng.choices(knames, kweights)[0]
        v6 = ipv6_pct > 0 and rng.random() * 100 < ipv6_pct
        while True:
            if v6:
                c = Host("2001:db8::%x" % rng.randrange(1, 21), rng.randrange(1024, 65536), MAC_C)
                s = Host("2001:db8:0:1::%x" % rng.randrange(1, 21), rng.choice(SERVER_PORTS), MAC_S)
            else:
                c = Host("10.0.0.%d" % rng.randrange(1, 21), rng.randrange(1024, 65536), MAC_C)
                s = Host("10.0.1.%d" % rng.randrange(1, 21), rng.choice(SERVER_PORTS), MAC_S)
            key = (kind, c.ip, c.port, s.ip, s.port)
            if key not in used:
                used.add(key)
                break
        if kind == "tcp":
            flows.append(TcpFlow(rng, c, s, None))
        elif kind == "udp":
            flows.append(UdpFlow(rng, c, s))
        elif kind == "sctp":
            flows.append(SctpFlow(rng, c, s))
        elif kind == "gre":
            flows.append(GreFlow(rng, c, s))
        elif kind == "udplite":
            flows.append(UdpLiteFlow(rng, c, s))
        elif kind == "generic":
            flows.append(GenericFlow(rng, c, s))
        elif v6:
            flows.append(Icmp6Flow(rng, c, s))
        else:
            flows.append(IcmpFlow(rng, c, s))
    for fl in flows:
        fl.frag_pct, fl.ext_pct, fl.iph_pct = frag_pct, ext6_pct, iph_pct
    has_v6 = any(fl.v6 for fl in flows)
    has_v4 = not all(fl.v6 for fl in flows)
    budget = max(3, total // nflows)
    gens = [fl.script(budget + rng.randrange(0, 4)) for fl in flows]
    out = []
    emitted = [0] * nflows
    live = list(range(nflows))
    router = "10.0.2.%d" % rng.randrange(1, 255)
    router6 = "2001:db8:0:2::%x" % rng.randrange(1, 255) if has_v6 else None
    while live and len(out) < 60:
        k = rng.choice(live)
        fl = flows[k]
        try:
            next(gens[k])
        except StopIteration:
            live.remove(k)
        # move the packets this step produced into the capture
        for p in fl.pkts[emitted[k]:]:
            out.append(p)
        emitted[k] = len(fl.pkts)
        pend = getattr(fl, "pending_icmp", None)
        if pend and pend[1] is not None:
            if fl.v6:
                err = icmp6_error_for(rng, fl, pend[0], pend[1], router6)
            else:
                err = icmp_error_for(rng, fl, pend[0], pend[1], router)
            if frag_pct and rng.random() * 100 < frag_pct:
                out.extend(error_as_fragments(rng, err))
            else:
                out.append(err)
            fl.pending_icmp = None
        if rng.random() < 0.02:
            if has_v6 and (not has_v4 or rng.random() < 0.5):
                out.append(icmp6_error_unknown(rng))
            else:
                out.append(icmp_error_unknown(rng))
    out = out[:60]
    real = real_pct and rng.random() * 100 < real_pct
    t = 1700000000 * 1000000 + rng.randrange(10 ** 6)
    idle = 0
    for p in out:
        t += rng.choice((50, 200, 1000, 1000, 3000, 10000))
        if real and idle < REAL_IDLE_MAX_US and rng.random() < 0.15:
            # an idle gap around the short timeouts below, so that entries expire, streams
            # start and closing states time out between packets
            gap = rng.choice((400, 900, 1100, 1600, 2100, 2600, 3200, 4400)) * 1000
            t += gap
            idle += gap
        p.ts_us = t
    settings = gen_settings(rng)
    if acct_pct and rng.random() * 100 < acct_pct:
        settings["nf_conntrack_acct"] = 1       # per-direction packet and byte counters, compared
    if max_pct and rng.random() * 100 < max_pct:
        # a table that holds fewer entries than the case's flows make (ICMP errors and
        # reopened connections included), so that allocations fail and entries are dropped
        settings["max"] = rng.randrange(1, nflows + 2)
    if "nf_conntrack_udp_timeout" in settings:      # the distinct-timeouts group (gen_settings)
        if "sctp" in kinds:
            settings.update({"nf_conntrack_sctp_timeout_established": 150,
                             "nf_conntrack_sctp_timeout_cookie_wait": 4,
                             "nf_conntrack_sctp_timeout_shutdown_sent": 2,
                             "nf_conntrack_sctp_timeout_closed": 8})
        if "gre" in kinds:
            settings.update({"nf_conntrack_gre_timeout": 21, "nf_conntrack_gre_timeout_stream": 170})
    if real:
        settings = {k: v for k, v in settings.items() if "timeout" not in k}
        settings["timing"] = "real"
        for name, lo, hi in SHORT_TIMEOUTS:
            if rng.random() < 0.7:
                settings[name] = rng.randint(lo, hi)
    return out, settings


def plain_case():
    """The sanity case: handshake, data both ways, FIN from both sides."""
    rng = random.Random(0)
    fl = TcpFlow(rng, Host("10.0.0.1", 40000, MAC_C), Host("10.0.1.1", 80, MAC_S), None)
    o = tcp_opts([("mss", 1460), ("nop", 0), ("ws", 7), ("sackok", 0)])
    fl.seg("c", SYN, win=64240, opts=o)
    fl.seg("s", SYN | ACK, win=65160, opts=o)
    fl.e["c"].scale = fl.e["s"].scale = 7
    fl.e["c"].win = fl.e["s"].win = 502
    fl.seg("c", ACK)
    fl.seg("c", ACK | PSH, data=b"G" * 100)
    fl.seg("s", ACK)
    fl.seg("s", ACK | PSH, data=b"H" * 200)
    fl.seg("c", ACK)
    fl.seg("c", FIN | ACK)
    fl.seg("s", ACK)
    fl.seg("s", FIN | ACK)
    fl.seg("c", ACK)
    t = 1700000000 * 1000000
    for p in fl.pkts:
        t += 1000
        p.ts_us = t
    return fl.pkts, {}


# --------------------------------------------------------------------------- running both sides

def host_buckets():
    with open("/proc/sys/net/netfilter/nf_conntrack_buckets") as f:
        return int(f.read())


def snapshot_binary(path, outdir):
    """Copies the ctrack binary into outdir (the build tree may be rebuilt during a run)."""
    for attempt in range(30):
        try:
            with open(path, "rb") as f:
                data = f.read()
            break
        except OSError:
            time.sleep(2)
    else:
        raise RuntimeError("cannot read %s" % path)
    digest = hashlib.sha256(data).hexdigest()
    dst = os.path.join(outdir, "ctrack.%s" % digest[:12])
    if not os.path.exists(dst):
        with open(dst + ".tmp", "wb") as f:
            f.write(data)
        os.chmod(dst + ".tmp", 0o755)
        os.rename(dst + ".tmp", dst)
    return dst, digest


class Runner:
    def __init__(self, args):
        self.ctrack = os.path.abspath(args.ctrack)
        if not args.no_snapshot:
            self.ctrack, digest = snapshot_binary(self.ctrack, args.out)
            print("ctrack %s (sha256 %s) -> %s" % (os.path.abspath(args.ctrack), digest, self.ctrack))
        self.oracle = args.oracle
        self.out = args.out
        self.verbose = args.verbose
        self.prefix = not args.no_prefix
        self.runs = 0

    def kernel(self, pcap, settings, kct):
        cmd = [self.oracle, "--timing", settings.get("timing", "fast")]
        for k, v in sorted(settings.items()):
            if k == "timing":
                continue
            elif k == "nf_conntrack_tcp_loose":
                cmd += ["--loose", str(v)]
            elif k == "nf_conntrack_tcp_be_liberal":
                cmd += ["--liberal", str(v)]
            elif k == "nf_conntrack_checksum":
                cmd += ["--checksum", str(v)]
            elif k == "max":
                cmd += ["--max", str(v)]
            elif k == "nf_conntrack_acct":
                cmd += ["--acct"] if v else []
            else:
                cmd += ["--sysctl", "%s=%s" % (k, v)]
        if os.path.isdir(kct):
            shutil.rmtree(kct)
        cmd += ["--out", kct, pcap]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.runs += 1
        if p.returncode != 0:
            raise RuntimeError("kernel-ct failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stdout[-2000:]))

    def ctrack_run(self, pcap, settings, kct, tsv, table):
        cmd = [self.ctrack, "replay", pcap, "--times-from", os.path.join(kct, "verdicts.tsv"),
               "--verdicts", tsv, "-o", "json", "-q"]
        for k, v in sorted(settings.items()):
            if k == "timing":
                continue        # ctrack follows the kernel's clock (--times-from) either way
            elif k == "max":
                # kernel-ct fills the rest of the host's table; early drop then scans the host's
                # buckets, so ctrack gets the same bucket count
                cmd += ["--set", "nf_conntrack_max=%s" % v, "--set", "nf_conntrack_buckets=%d" % host_buckets()]
            else:
                cmd += ["--set", "%s=%s" % (k, v)]
        with open(table, "w") as f:
            p = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError("ctrack failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-2000:]))

    def run(self, base, packets, settings):
        """Writes base.pcap, runs both sides; returns (diffs, kernel_rows, ctrack_rows)."""
        pcap = base + ".pcap"
        write_pcap(pcap, packets)
        kct, tsv, table = base + ".kct", base + ".ct.tsv", base + ".ct.table.jsonl"
        self.kernel(pcap, settings, kct)
        self.ctrack_run(pcap, settings, kct, tsv, table)
        krows = read_tsv(os.path.join(kct, "verdicts.tsv"))
        crows = read_tsv(tsv)
        ktab = read_jsonl(os.path.join(kct, "table.jsonl"))
        ctab = read_jsonl(table)
        # kernel-ct's --max emulation keeps the namespace over 95 % of the global max with its
        # fillers, so after a failed allocation the kernel's gc worker evicts entries that are not
        # ASSURED on its next pass (kernel-ct README), which a real nf_conntrack_max below 100
        # never does and ctrack does not model by default. From the first such eviction on, the
        # two tables differ by design: rows from there and the final table are not compared.
        # Likewise, in a real-time replay into a table too small for it, from the gc worker's
        # first reaping of an expired entry: when it comes depends on where the kernel's one
        # global worker was in its cycle (up to 60 s with the fillers), which no capture tells,
        # and at max whether that entry still holds its place decides the next allocation
        # (seed 18000 case 136: the kernel reaped at 5.8 s an entry expired at 3.5 s).
        real_max = "max" in settings and settings.get("timing") == "real"
        gc_rows = [ev.get("after_index", -1) for ev in read_jsonl(os.path.join(kct, "events.jsonl"))
                   if ev.get("event") == "destroy" and (ev.get("reason") == "gc_early_drop" or (
                       real_max and ev.get("async") and ev.get("reason") == "expired"))]
        upto = min(gc_rows) + 1 if gc_rows else None
        if upto is not None:
            krows, crows = krows[:upto], crows[:upto]
            ktab = ctab = []
        diffs = compare(krows, crows, ktab, ctab, gc_may_evict="max" in settings)
        if self.prefix:
            diffs += self.prefix_checks(base, packets, settings, kct, krows)
        return diffs, krows, crows, ktab

    def prefix_checks(self, base, packets, settings, kct, krows):
        """The entry a packet touched, right after that packet: the kernel's packets.jsonl
        (timeout, TCP window-scale/flags, state, status) against ctrack's table after replaying
        the capture up to that packet.  Checked packets are picked by a hash of their bytes, so
        that minimization keeps checking the same packets."""
        kpk = read_jsonl(os.path.join(kct, "packets.jsonl"))
        tuples = {}
        for ev in read_jsonl(os.path.join(kct, "events.jsonl")):
            if ev.get("event") == "new":
                tuples[ev["entry"]] = "%s %s" % (ev.get("l3"), tuple_key(ev["orig"]))
        picks = [i for i, p in enumerate(packets[:-1])
                 if i < len(kpk) and i < len(krows) and kpk[i].get("in_table") and kpk[i].get("entry") in tuples
                 and zlib.crc32(p.frame) % 100 < PREFIX_PCT][:PREFIX_MAX]
        diffs = []
        pre = base + ".prefix"
        for i in picks:
            write_pcap(pre + ".pcap", packets[:i + 1])
            self.ctrack_run(pre + ".pcap", settings, kct, pre + ".tsv", pre + ".table.jsonl")
            cm = table_map(read_jsonl(pre + ".table.jsonl"))
            k = kpk[i]
            key = tuples[k["entry"]]
            ce = cm.get(key)
            kind = summary_kind(krows[i][8]) if i < len(krows) else "?"
            if ce is None:
                diffs.append(Diff("prefix", "after-packet %s K-state=%s missing-in-ctrack" % (kind, k.get("state")),
                                  "after #%d %s: entry %s missing in ctrack" % (i, krows[i][8], key), i))
                continue
            bad = []
            for fld in ("state", "status", "tcp", "counters_orig", "counters_reply"):
                kv, cv = k.get(fld), ce.get(fld)
                if fld == "status":
                    kv, cv = sorted(kv or []), sorted(cv or [])
                if fld == "state" and kv is None:
                    continue
                if kv != cv:
                    bad.append((fld, kv, cv))
            if abs(k.get("timeout", 0) - ce.get("timeout", 0)) > TIMEOUT_SLACK:
                bad.append(("timeout", k.get("timeout"), ce.get("timeout")))
            if bad:
                sig = "after-packet %s K-state=%s %s" % (kind, k.get("state"), " ".join(
                    "%s:%s/%s" % (f, rnd_to(kv), rnd_to(cv)) if f == "timeout" else
                    "%s:%s/%s" % (f, json.dumps(kv, sort_keys=True), json.dumps(cv, sort_keys=True))
                    for f, kv, cv in bad))
                diffs.append(Diff("prefix", sig, "after #%d %s (entry %s)\n      differs: %s" % (
                    i, krows[i][8], k["entry"], ", ".join("%s kernel=%s ctrack=%s" % b for b in bad)), i))
        for ext in (".pcap", ".tsv", ".table.jsonl"):
            if os.path.exists(pre + ext):
                os.remove(pre + ext)
        return diffs


def read_tsv(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                rows.append(line.split("\t"))
    return rows


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def norm_addr(a):
    """Canonical spelling of an address (IPv6: RFC 5952 compressed, as inet_ntop), so that the
    kernel's and ctrack's JSON key the same entry identically."""
    if isinstance(a, str) and ":" in a:
        try:
            return ipaddress.ip_address(a).compressed
        except ValueError:
            return a
    return a


def tuple_key(t):
    if "icmp_type" in t:
        ids = "type=%s code=%s id=%s" % (t["icmp_type"], t["icmp_code"], t["icmp_id"])
    elif "sport" in t:
        ids = "%s:%s" % (t["sport"], t["dport"])
    else:
        ids = ""
    return "%s %s>%s %s" % (t.get("protonum"), norm_addr(t.get("src")), norm_addr(t.get("dst")), ids)


def table_map(entries):
    m = {}
    for e in entries:
        m["%s %s" % (e.get("l3"), tuple_key(e["orig"]))] = e
    return m


def summary_kind(summary):
    """'tcp [SA]' / 'udp' / 'icmp type=3 code=3' from a verdicts.tsv summary cell."""
    parts = summary.split()
    if not parts:
        return "?"
    kind = parts[0]
    rest = " ".join(parts[2:])     # after the addresses (IPv6 ones are in brackets too)
    if kind == "tcp" and "[" in rest:
        kind += " " + rest[rest.index("["):rest.index("]") + 1]
    elif kind in ("icmp", "icmpv6"):
        kind += " " + " ".join(p for p in parts if p.startswith("type="))
    return kind


class Diff:
    def __init__(self, kind, sig, text, index=None):
        self.kind, self.sig, self.text, self.index = kind, sig, text, index


# What gc_worker_can_early_drop() lets the gc worker evict: entries that are not ASSURED, and
# ASSURED ones in the closing states that the TCP and SCTP trackers' can_early_drop() name.
GC_CAN_EARLY_DROP = {6: {"FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE"},
                     132: {"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT"}}


def gc_evictable(entry):
    if not entry.get("assured"):
        return True
    return entry.get("state") in GC_CAN_EARLY_DROP.get(entry.get("protonum"), ())


def compare(krows, crows, ktab, ctab, gc_may_evict=False):
    """gc_may_evict: a table-full case (kernel-ct --max), where the kernel's gc worker evicts
    entries that are not ASSURED once an allocation has failed (fillers keep the namespace over
    95 % of the global max, kernel-ct README), at a moment of its own, sometimes after the last
    event was read; such entries missing from the kernel's final table are not a difference."""
    diffs = []
    if len(krows) != len(crows):
        diffs.append(Diff("rows", "row count", "row count kernel=%d ctrack=%d" % (len(krows), len(crows))))
    for i, (k, c) in enumerate(zip(krows, crows)):
        kf, cf = k[1:7], c[1:7]
        if kf != cf:
            names = [ROW_FIELDS[j] for j in range(6) if kf[j] != cf[j]]
            # signature without entry numbers (they shift when packets are dropped)
            kv = [kf[j] if ROW_FIELDS[j] != "entry" else ("-" if kf[j] == "-" else "N") for j in range(6)]
            cv = [cf[j] if ROW_FIELDS[j] != "entry" else ("-" if cf[j] == "-" else "N") for j in range(6)]
            if kv == cv:     # only the entry number differs
                sig = "row entry-number %s %s" % (summary_kind(k[8]), kf[2])
            else:
                sig = "row %s | K=%s | C=%s" % (summary_kind(k[8]), " ".join(kv), " ".join(cv))
            text = ("#%d %s\n      kernel: %s note=%s\n      ctrack: %s  (differs: %s)"
                    % (i, k[8], " ".join(kf), k[7], " ".join(cf), ",".join(names)))
            diffs.append(Diff("row", sig, text, i))
    km, cm = table_map(ktab), table_map(ctab)
    for key in sorted(set(km) | set(cm)):
        ke, ce = km.get(key), cm.get(key)
        proto = key.split()[1]
        if ce is None:
            diffs.append(Diff("table", "table missing-in-ctrack proto=%s state=%s" % (proto, ke.get("state")),
                              "table: missing in ctrack: %s %s" % (key, brief(ke))))
            continue
        if ke is None:
            if gc_may_evict and gc_evictable(ce):
                continue
            diffs.append(Diff("table", "table extra-in-ctrack proto=%s state=%s" % (proto, ce.get("state")),
                              "table: extra in ctrack: %s %s" % (key, brief(ce))))
            continue
        bad = []
        for fld in ("reply", "state", "status", "assured", "unreplied", "zone", "mark", "tcp",
                    "counters_orig", "counters_reply"):
            kv, cv = ke.get(fld), ce.get(fld)
            if fld == "reply":
                kv, cv = tuple_key(kv), tuple_key(cv)
            if fld == "status":
                kv, cv = sorted(kv or []), sorted(cv or [])
            if kv != cv:
                bad.append((fld, kv, cv))
        kt, ct = ke.get("timeout", 0), ce.get("timeout", 0)
        if abs(kt - ct) > TIMEOUT_SLACK:
            bad.append(("timeout", kt, ct))
        if bad:
            sig = "table proto=%s state=%s %s" % (proto, ke.get("state"), " ".join(
                "%s:%s/%s" % (f, rnd_to(kv) if f == "timeout" else kv, rnd_to(cv) if f == "timeout" else cv)
                for f, kv, cv in bad))
            diffs.append(Diff("table", sig, "table: %s\n      kernel: %s\n      ctrack: %s\n      differs: %s"
                              % (key, brief(ke), brief(ce), ", ".join("%s %s vs %s" % b for b in bad))))
    return diffs


def rnd_to(v):
    return int(round(v / 10.0) * 10) if isinstance(v, int) else v


def brief(e):
    return "state=%s status=%s timeout=%s tcp=%s reply=%s" % (
        e.get("state"), ",".join(e.get("status") or []), e.get("timeout"), json.dumps(e.get("tcp")),
        tuple_key(e["reply"]))


def kernel_fingerprint(kct):
    """What must be equal between two kernel runs: rows (cols 1-6) and the table without ids
    and with timeouts rounded."""
    rows = [tuple(r[1:7]) for r in read_tsv(os.path.join(kct, "verdicts.tsv"))]
    tab = []
    for e in read_jsonl(os.path.join(kct, "table.jsonl")):
        e = dict(e)
        e.pop("id", None)
        e.pop("use", None)
        e["timeout"] = rnd_to(e.get("timeout", 0))
        tab.append(json.dumps(e, sort_keys=True))
    return rows, sorted(tab)


# --------------------------------------------------------------------------- minimization

def minimize(runner, base, packets, settings, sig, max_runs=160):
    """Drops chunks, then single packets, while a difference with signature `sig` persists."""
    work = base + ".try"
    runs = 0

    def still(cand):
        nonlocal runs
        runs += 1
        try:
            diffs, _, _, _ = runner.run(work, cand, settings)
        except RuntimeError:
            return False
        return any(d.sig == sig for d in diffs)

    cur = list(packets)
    n = 2
    while len(cur) >= 2 and runs < max_runs:      # chunk phase (ddmin-like)
        chunk = max(1, len(cur) // n)
        progress = False
        i = 0
        while i < len(cur) and runs < max_runs:
            cand = cur[:i] + cur[i + chunk:]
            if cand and still(cand):
                cur = cand
                progress = True
            else:
                i += chunk
        if not progress:
            if chunk == 1:
                break
            n = min(len(cur), n * 2)
    changed = True
    while changed and runs < max_runs:             # single-packet phase until a fixpoint
        changed = False
        i = 0
        while i < len(cur) and runs < max_runs:
            cand = cur[:i] + cur[i + 1:]
            if cand and still(cand):
                cur = cand
                changed = True
            else:
                i += 1
    for ext in (".pcap", ".ct.tsv", ".ct.table.jsonl"):
        if os.path.exists(work + ext):
            os.remove(work + ext)
    if os.path.isdir(work + ".kct"):
        shutil.rmtree(work + ".kct")
    return cur, runs


# --------------------------------------------------------------------------- main

def remove_case_files(base):
    for ext in (".pcap", ".ct.tsv", ".ct.table.jsonl", ".settings.json"):
        if os.path.exists(base + ext):
            os.remove(base + ext)
    if os.path.isdir(base + ".kct"):
        shutil.rmtree(base + ".kct")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--out", default="fuzzdiff")
    ap.add_argument("--ctrack", default=DEFAULT_CTRACK)
    ap.add_argument("--oracle", default=DEFAULT_ORACLE)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", type=int)
    ap.add_argument("--no-minimize", action="store_true")
    ap.add_argument("--time-limit", type=float, default=0)
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="run --ctrack in place instead of a copy taken at start")
    ap.add_argument("--no-prefix", action="store_true",
                    help="skip the per-packet timeout/TCP-flag checks (faster)")
    ap.add_argument("--ipv6-pct", type=float, default=30, metavar="N",
                    help="percentage of the flows that are IPv6 (default 30; 0 = IPv4 only)")
    ap.add_argument("--kinds", default=DEFAULT_KINDS, metavar="LIST",
                    help="comma-separated flow kinds to generate, from %s (default %s; "
                         "tcp,udp,icmp with --frag-pct 0 --ext6-pct 0 gives the cases of earlier versions)"
                         % (",".join(k for k, _ in KIND_WEIGHTS), DEFAULT_KINDS))
    ap.add_argument("--frag-pct", type=float, default=DEFAULT_FRAG_PCT, metavar="N",
                    help="percentage of the datagrams (any flow, IPv4 and IPv6) sent as 1-4 IP fragments "
                         "(default %d; 0 = none)" % DEFAULT_FRAG_PCT)
    ap.add_argument("--ext6-pct", type=float, default=DEFAULT_EXT6_PCT, metavar="N",
                    help="percentage of the IPv6 packets with extension headers (hop-by-hop, routing, "
                         "destination options) before the L4 header (default %d; 0 = none)" % DEFAULT_EXT6_PCT)
    ap.add_argument("--iph-pct", type=float, default=DEFAULT_IPH_PCT, metavar="N",
                    help="percentage of the unfragmented packets with a damaged or unusual IP header: "
                         "IPv4 options, wrong lengths, versions or header checksums, odd addresses "
                         "(default %d; 0 = none)" % DEFAULT_IPH_PCT)
    ap.add_argument("--max-pct", type=float, default=DEFAULT_MAX_PCT, metavar="N",
                    help="percentage of the cases run with a table that is too small (kernel-ct --max "
                         "1..flows+1; ctrack with the same max and the host's bucket count); early-drop "
                         "victims depend on the kernel's hash seed, so a difference there shows as not "
                         "deterministic (default %d)" % DEFAULT_MAX_PCT)
    ap.add_argument("--real-pct", type=float, default=DEFAULT_REAL_PCT, metavar="N",
                    help="percentage of the cases replayed in real time (kernel-ct --timing real) with "
                         "timeouts of 1-6 s and idle gaps of up to 9 s a case, so that entries expire "
                         "(default %d)" % DEFAULT_REAL_PCT)
    ap.add_argument("--acct-pct", type=float, default=DEFAULT_ACCT_PCT, metavar="N",
                    help="percentage of the cases with nf_conntrack_acct=1; the per-direction packet "
                         "and byte counters are compared (default %d)" % DEFAULT_ACCT_PCT)
    ap.add_argument("--skip-unavailable", action="store_true",
                    help="exit 77 (a skip for ctest) when not root or the oracle is missing")
    args = ap.parse_args()
    if not 0 <= args.ipv6_pct <= 100:
        ap.error("--ipv6-pct must be between 0 and 100")
    for name in ("frag_pct", "ext6_pct", "iph_pct", "max_pct", "real_pct", "acct_pct"):
        if not 0 <= getattr(args, name) <= 100:
            ap.error("--%s must be between 0 and 100" % name.replace("_", "-"))
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in dict(KIND_WEIGHTS)]
    if bad or not kinds:
        ap.error("--kinds: unknown kind(s) %s (known: %s)" % (",".join(bad) or "(none)",
                                                             ",".join(k for k, _ in KIND_WEIGHTS)))
    if args.skip_unavailable:
        # as a ctest: 77 is the skip code (SKIP_RETURN_CODE), with the reason on stdout
        if os.geteuid() != 0:
            print("skipped: needs root (the oracle makes a network namespace)")
            sys.exit(77)
        if not os.access(args.oracle, os.X_OK):
            print("skipped: no kernel oracle at %s (set CTRACK_SHARED)" % args.oracle)
            sys.exit(77)
    os.makedirs(args.out, exist_ok=True)
    runner = Runner(args)
    findings_path = os.path.join(args.out, "findings.jsonl")
    known = {}      # signature -> minimized case base name (this run and earlier runs)
    if os.path.exists(findings_path):
        for f in read_jsonl(findings_path):
            if f.get("minimized_sig"):
                known.setdefault(f["minimized_sig"], f["case"])
    t0 = time.time()
    ndiff = nok = 0
    indices = [args.only] if args.only is not None else range(args.cases)
    for i in indices:
        if args.time_limit and time.time() - t0 > args.time_limit:
            print("time limit reached after %d cases" % (nok + ndiff))
            break
        if args.plain and i == 0:
            packets, settings = plain_case()
        else:
            packets, settings = gen_case(args.seed, i, args.ipv6_pct, kinds, args.frag_pct, args.ext6_pct,
                                         args.iph_pct, args.max_pct, args.real_pct, args.acct_pct)
        name = "case_%d_%d" % (args.seed, i)
        base = os.path.join(args.out, name)
        with open(base + ".settings.json", "w") as f:
            json.dump(settings, f)
        try:
            diffs, krows, crows, _ = runner.run(base, packets, settings)
        except RuntimeError as e:
            print("%s ERROR %s" % (name, e))
            sys.exit(2)
        sets = " ".join("%s=%s" % (k.replace("nf_conntrack_", ""), v) for k, v in sorted(settings.items()))
        if not diffs:
            nok += 1
            print("%s OK   %2d packets %s" % (name, len(packets), sets), flush=True)
            if not args.keep:
                remove_case_files(base)
            continue
        ndiff += 1
        print("%s DIFF %2d packets %s (%d differences)" % (name, len(packets), sets, len(diffs)))
        for d in diffs[:3]:
            print("  " + d.text)
        rec = {"case": name, "seed": args.seed, "index": i, "ipv6_pct": args.ipv6_pct,
               "kinds": ",".join(kinds), "frag_pct": args.frag_pct, "ext6_pct": args.ext6_pct,
               "iph_pct": args.iph_pct, "max_pct": args.max_pct, "real_pct": args.real_pct,
               "acct_pct": args.acct_pct,
               "settings": settings, "packets": len(packets),
               "signatures": sorted(set(d.sig for d in diffs)),
               "first": [d.text for d in diffs[:5]],
               "labels": [p.label for p in packets]}
        target = diffs[0].sig
        if target in known:
            rec["duplicate_of"] = known[target]
            print("  (same signature as %s)" % known[target])
        elif not args.no_minimize:
            mini, nruns = minimize(runner, base, packets, settings, target)
            mbase = base + ".min"
            mdiffs, mk, mc, _ = runner.run(mbase, mini, settings)
            fp = kernel_fingerprint(mbase + ".kct")
            deterministic = True
            for rep in range(2):
                rb = "%s.rerun%d" % (mbase, rep)
                rdiffs, _, _, _ = runner.run(rb, mini, settings)
                if kernel_fingerprint(rb + ".kct") != fp or not any(d.sig == target for d in rdiffs):
                    deterministic = False
                remove_case_files(rb)
            known[target] = name
            rec.update({"minimized_sig": target, "minimized_packets": len(mini), "minimize_runs": nruns,
                        "min_pcap": mbase + ".pcap", "deterministic": deterministic,
                        "min_labels": [p.label for p in mini],
                        "min_diffs": [d.text for d in mdiffs],
                        "min_kernel_rows": ["\t".join(r[:9]) for r in mk],
                        "min_ctrack_rows": ["\t".join(r[:8]) for r in mc]})
            print("  minimized to %d packets (%d runs)%s: %s" % (
                len(mini), nruns, "" if deterministic else " KERNEL NOT DETERMINISTIC", mbase + ".pcap"))
            for d in mdiffs[:3]:
                print("    " + d.text.replace("\n", "\n  "))
        with open(findings_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        sys.stdout.flush()
    print("%d cases: %d OK, %d DIFF, %d oracle runs, %.0f s" % (nok + ndiff, nok, ndiff, runner.runs,
                                                                   time.time() - t0))
    sys.exit(1 if ndiff else 0)


if __name__ == "__main__":
    main()
