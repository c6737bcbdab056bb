#!/usr/bin/env python3
"""Seed corpus for ctrack_fuzz_netlink: ctnetlink buffers as the kernel writes them (the
attribute layout of ctnetlink_fill_info() and ctnetlink_ct_stat_cpu_fill_info(),
net/netfilter/nf_conntrack_netlink.c), several messages per buffer as one recv() returns them,
and malformed variants (cut short, nested lengths crossing their container, zero lengths).
Deterministic: rerun to regenerate tests/fuzz/corpus/netlink/."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "netlink")
NESTED = 0x8000


def nla(t, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def nest(t, *parts):
    return nla(t | NESTED, b"".join(parts))


def be16(v): return struct.pack(">H", v)
def be32(v): return struct.pack(">I", v)
def be64(v): return struct.pack(">Q", v)


def tuple_(which, src, dst, proto, a=0, b=0, icmp=None, zone=None):
    v6 = len(src) == 16
    ip = nest(1, nla(3 if v6 else 1, src), nla(4 if v6 else 2, dst))
    if icmp is not None:
        t, c, i = icmp
        if v6:
            pr = nest(2, nla(1, bytes([proto])), nla(7, be16(i)), nla(8, bytes([t])), nla(9, bytes([c])))
        else:
            pr = nest(2, nla(1, bytes([proto])), nla(4, be16(i)), nla(5, bytes([t])), nla(6, bytes([c])))
    else:
        pr = nest(2, nla(1, bytes([proto])), nla(2, be16(a)), nla(3, be16(b)))
    parts = [ip, pr]
    if zone is not None:
        parts.append(nla(3, be16(zone)))
    return nest(which, *parts)


def msg(mtype, attrs, family=2, flags=0x2, seq=1, res=0):
    payload = struct.pack("=BBH", family, 0, struct.unpack("=H", be16(res))[0]) + attrs
    return struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, 0) + payload


CT_NEW = 1 << 8 | 0
STATS_CPU = 1 << 8 | 4


def tcp_entry(i=0):
    s, d = bytes([10, 0, 0, 1 + i]), bytes([10, 0, 0, 2])
    pinfo = nest(4, nest(1, nla(1, bytes([3])), nla(2, bytes([7])), nla(3, bytes([7])),
                         nla(4, bytes([0x23, 0xff])), nla(5, bytes([0x23, 0xff]))))
    return msg(CT_NEW, tuple_(1, s, d, 6, 40000 + i, 80) + tuple_(2, d, s, 6, 80, 40000 + i) +
               nla(3, be32(0xe)) + pinfo + nla(7, be32(431999)) + nla(8, be32(9)) +
               nest(9, nla(1, be64(10)), nla(2, be64(1000))) +
               nest(10, nla(1, be64(8)), nla(2, be64(2000))) +
               nla(11, be32(1)) + nla(12, be32(0xdeadbeef)) + nla(18, be16(4)) +
               nest(20, nla(1, be64(1700000000 * 10**9))) + nla(22, b"\x01" + b"\0" * 15))


def udp6_entry():
    s = bytes.fromhex("fd000000000000000000000000000001")
    d = bytes.fromhex("fd000000000000000000000000000002")
    return msg(CT_NEW, tuple_(1, s, d, 17, 5353, 53) + tuple_(2, d, s, 17, 53, 5353) +
               nla(3, be32(0x8)) + nla(7, be32(29)) + nla(8, be32(0)) + nla(11, be32(1)) +
               nla(12, be32(7)) + nest(5, nla(1, b"ftp\0")) + nest(19, nla(1, b"system_u:object_r:x\0")),
               family=10)


def icmp_entry():
    s, d = bytes([10, 3, 3, 3]), bytes([10, 4, 4, 4])
    return msg(CT_NEW, tuple_(1, s, d, 1, icmp=(8, 0, 77)) + tuple_(2, d, s, 1, icmp=(0, 0, 77)) +
               nla(3, be32(0xa)) + nla(7, be32(20)) + nla(8, be32(0)) + nla(11, be32(1)))


def nat_entry():
    s, d, r = bytes([10, 0, 0, 1]), bytes([10, 96, 0, 10]), bytes([10, 244, 1, 5])
    return msg(CT_NEW, tuple_(1, s, d, 6, 40000, 80, zone=2) + tuple_(2, r, s, 6, 8080, 40000, zone=3) +
               nla(3, be32(0x1be)) + nla(7, be32(3000)) + nla(8, be32(0)) + nla(11, be32(1)))


def stats_cpu(cpu):
    return msg(STATS_CPU, b"".join(nla(t, be32(t * 3 + cpu)) for t in range(1, 18)), res=cpu)


def done(code=0):
    return struct.pack("=IHHIIi", 20, 3, 2, 1, 0, code)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.unlink(os.path.join(OUT, f))
    good = {"tcp": tcp_entry(), "udp6": udp6_entry(), "icmp": icmp_entry(), "nat": nat_entry(),
            "cpu0": stats_cpu(0), "cpu1": stats_cpu(1)}
    for k, v in good.items():
        write("ok_" + k, v)
    batch = b"".join(tcp_entry(i) for i in range(5)) + udp6_entry() + icmp_entry() + nat_entry() + done()
    write("ok_batch", batch)
    write("ok_stats_batch", stats_cpu(0) + stats_cpu(1) + done())
    write("err_done", done(-4))
    # Cut short at a few places (inside the header, inside a nested attribute, at the end).
    t = tcp_entry()
    for cut in (3, 15, 19, 24, 40, len(t) // 2, len(t) - 1):
        write("cut_%d" % cut, t[:cut])
    write("cut_batch", batch[: len(batch) - 30])
    # A nested attribute longer than its container: the first tuple's length grown by 8.
    bad = bytearray(t)
    n = struct.unpack_from("=H", bad, 20)[0]
    struct.pack_into("=H", bad, 20, n + 8)
    write("bad_nest_len", bytes(bad))
    bad2 = bytearray(t)
    struct.pack_into("=H", bad2, 24, 2)  # inner attribute shorter than its header
    write("bad_inner_len", bytes(bad2))
    bad3 = bytearray(t)
    struct.pack_into("=I", bad3, 0, len(t) + 100)  # nlmsg_len past the buffer
    write("bad_nlmsg_len", bytes(bad3))
    write("no_tuples", msg(CT_NEW, nla(3, be32(8)) + nla(7, be32(1))))
    write("short_status", msg(CT_NEW, tuple_(1, b"\1\2\3\4", b"\5\6\7\10", 17, 1, 2) +
                              tuple_(2, b"\5\6\7\10", b"\1\2\3\4", 17, 2, 1) + nla(3, b"\1")))
    write("zero_len_attr", msg(CT_NEW, b"\0\0\0\0" * 4))


if __name__ == "__main__":
    main()
