/* DPDK's rte_hash (cuckoo hash, libdpdk-dev) on a workload exported by
 * `ctrack bench NAME --export DIR`: the lookup structure alone, as a peer for ctrack's table.
 *
 *   dpdk_harness DIR NAME
 *
 * Keys are 40-byte 5-tuples (addresses, ports, protocol, family) taken from the same frames,
 * extracted before the clock starts; each connection is stored under both directions' keys, as
 * ctrack, OVS and the kernel index both tuples. Per run: EAL without huge pages, PCI or shared
 * config files, one rte_hash of 2 x max entries (CRC hash, extendable buckets), the setup frames
 * inserted untimed (lookup, add both keys when missing), then `passes` timed passes over the timed
 * frames in batches of `batch`: rte_hash_lookup_bulk(), then for each miss the two adds (a new
 * connection). No packet parsing, no checksum, no state or timeout is timed: what differs from
 * ctrack is everything but the lookup. Prints one line:
 *   dpdk NAME ns_per_packet=N bytes_per_conn=N conns=N new=N est=N inv=0 digest=HEX */
#define _GNU_SOURCE
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer_common.h"

struct key {
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  uint8_t proto, family, pad[2];
};

/* Ethernet II + IPv4 (any IHL) or IPv6 (no extension headers) + TCP/UDP ports. Frames that do
 * not parse give the all-zero key. */
static void key_of(const struct peer_frame *f, struct key *k) {
  memset(k, 0, sizeof(*k));
  const uint8_t *d = f->data;
  if (f->len < 14) return;
  uint16_t et = (uint16_t)(d[12] << 8 | d[13]);
  const uint8_t *ip = d + 14, *l4;
  uint32_t left = f->len - 14;
  if (et == 0x0800 && left >= 20) {
    uint32_t ihl = (ip[0] & 15u) * 4u;
    if (ihl < 20 || left < ihl + 4) return;
    memcpy(k->src, ip + 12, 4);
    memcpy(k->dst, ip + 16, 4);
    k->proto = ip[9];
    k->family = 4;
    l4 = ip + ihl;
  } else if (et == 0x86dd && left >= 44) {
    memcpy(k->src, ip + 8, 16);
    memcpy(k->dst, ip + 24, 16);
    k->proto = ip[6];
    k->family = 6;
    l4 = ip + 40;
  } else {
    return;
  }
  k->sport = (uint16_t)(l4[0] << 8 | l4[1]);
  k->dport = (uint16_t)(l4[2] << 8 | l4[3]);
}

static void reverse(const struct key *k, struct key *r) {
  *r = *k;
  memcpy(r->src, k->dst, 16);
  memcpy(r->dst, k->src, 16);
  r->sport = k->dport;
  r->dport = k->sport;
}

static unsigned conns;

static void add_conn(struct rte_hash *h, const struct key *k) {
  struct key r;
  reverse(k, &r);
  if (rte_hash_add_key(h, k) < 0 || rte_hash_add_key(h, &r) < 0)
    peer_die("rte_hash_add_key failed", NULL);
  conns++;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: dpdk_harness DIR NAME\n");
    return 2;
  }
  struct peer_frames setup, timed;
  struct peer_meta m;
  peer_load_workload(argv[1], argv[2], &setup, &timed, &m);
  struct key *tk = malloc(timed.n * sizeof(*tk));
  const void **tkp = malloc(timed.n * sizeof(*tkp));
  if (tk == NULL || tkp == NULL) peer_die("out of memory", NULL);
  for (size_t i = 0; i < timed.n; ++i) {
    key_of(&timed.v[i], &tk[i]);
    tkp[i] = &tk[i];
  }
  cpu_set_t all;
  sched_getaffinity(0, sizeof(all), &all);
  char *eal[] = {"dpdk_harness", "--no-huge",         "--no-pci", "--no-shconf", "-m",
                 "3072",         "--log-level=error", "-l",       "0",           NULL};
  if (rte_eal_init(9, eal) < 0) peer_die("rte_eal_init failed", rte_strerror(rte_errno));
  /* EAL pins the main thread to lcore 0; ctrack and OVS run unpinned, so undo it. */
  sched_setaffinity(0, sizeof(all), &all);

  long rss0 = peer_rss_kb();
  unsigned max = m.max ? m.max : 262144;
  struct rte_hash_parameters p = {
      .name = "ct",
      .entries = 2 * max,
      .key_len = sizeof(struct key),
      .hash_func = rte_hash_crc,
      .hash_func_init_val = 0,
      .socket_id = 0,
      .extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
  };
  struct rte_hash *h = rte_hash_create(&p);
  if (h == NULL) peer_die("rte_hash_create failed", rte_strerror(rte_errno));
  for (size_t i = 0; i < setup.n; ++i) {
    struct key k;
    key_of(&setup.v[i], &k);
    if (rte_hash_lookup(h, &k) < 0) add_conn(h, &k);
  }
  unsigned long long hit = 0, miss = 0;
  double spent = 0;
  for (unsigned pass = 0; pass < m.passes; ++pass) {
    double t0 = peer_now();
    for (size_t i = 0; i < timed.n; i += m.batch) {
      unsigned n = (unsigned)(timed.n - i < m.batch ? timed.n - i : m.batch);
      int32_t pos[64];
      rte_hash_lookup_bulk(h, &tkp[i], n, pos);
      for (unsigned k = 0; k < n; ++k) {
        if (pos[k] >= 0) {
          hit++;
        } else {
          miss++;
          add_conn(h, &tk[i + k]);
        }
      }
    }
    spent += peer_now() - t0;
  }
  long rss1 = peer_rss_kb();
  double packets = (double)timed.n * m.passes;
  printf(
      "dpdk %s ns_per_packet=%.1f bytes_per_conn=%.0f conns=%u new=%llu est=%llu inv=0 "
      "digest=%s\n",
      argv[2], spent * 1e9 / packets, conns ? (double)(rss1 - rss0) * 1024.0 / conns : 0.0, conns,
      miss, hit, m.timed_digest);
  fflush(stdout);
  _exit(0);
}
