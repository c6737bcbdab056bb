/* Open vSwitch user-space conntrack (lib/conntrack.c of Debian's openvswitch-source) on a
 * workload exported by `ctrack bench NAME --export DIR`.
 *
 *   ovs_harness DIR NAME
 *
 * Per run: a fresh conntrack_init(), the setup frames through conntrack_execute() untimed,
 * then `passes` timed passes over the timed frames in batches of `batch` (at most
 * NETDEV_MAX_BURST = 32), with commit and zone 0, on the frames' own clock (milliseconds, each
 * pass shifted by pass_dt as ctrack does), offset so that the first frame is at time_msec(): OVS's
 * clean thread expires connections against the real clock, which runs ahead of the frames' clock
 * on a slow or shared machine. So that no connection expires on either side while timing (none
 * does on ctrack's virtual clock), the default timeout policy is set to one hour for every state.
 * What is timed is conntrack_execute() alone: flow extraction (which sets the packets' L3/L4
 * offsets, as the datapath's miniflow_extract does before the ct action) and the per-pass reset of
 * packet metadata happen before the clock starts. OVS takes one dl_type per call, so each batch is
 * split by EtherType into an IPv4 and an IPv6 call (order kept within each), as the datapath's
 * per-flow batches are. Checksums: OVS verifies IPv4 header and L4 checksums in software when the
 * packet carries no offload flags, as here. Prints one line: ovs NAME ns_per_packet=N
 * bytes_per_conn=N conns=N new=N est=N inv=N digest=HEX */
#include <config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conntrack.h"
#include "ct-dpif.h"
#include "dp-packet.h"
#include "flow.h"
#include "packets.h"
#include "peer_common.h"
#include "timeval.h"
/* After conntrack.h, whose declarations it uses. */
#include "conntrack-tp.h"

static struct dp_packet *make_packet(const struct peer_frame *f) {
  struct dp_packet *p = dp_packet_new(f->len + 64);
  dp_packet_put(p, f->data, f->len);
  struct flow flow;
  pkt_metadata_init(&p->md, 0);
  flow_extract(p, &flow);
  return p;
}

static int is_ipv6(const struct dp_packet *p) {
  const uint8_t *d = dp_packet_data(p);
  if (dp_packet_size(p) < 14) return 0;
  uint16_t et = (uint16_t)(d[12] << 8 | d[13]);
  return et == 0x86dd;
}

/* Every timeout of the default policy (tp_id 0) to one hour. */
static void long_timeouts(struct conntrack *ct) {
  struct timeout_policy tp;
  memset(&tp, 0, sizeof tp);
  tp.policy.id = DEFAULT_TP_ID;
  for (int i = 0; i < CT_DPIF_TP_ATTR_MAX; ++i) {
    tp.policy.attrs[i] = 3600;
    tp.policy.present |= 1u << i;
  }
  timeout_policy_update(ct, &tp);
}

static unsigned long long verdicts[3];

static void count(struct dp_packet_batch *b) {
  struct dp_packet *p;
  DP_PACKET_BATCH_FOR_EACH(i, p, b) {
    if (p->md.ct_state & CS_INVALID)
      verdicts[2]++;
    else if (p->md.ct_state & CS_ESTABLISHED)
      verdicts[1]++;
    else if (p->md.ct_state & CS_NEW)
      verdicts[0]++;
  }
}

/* One batch of up to 32 packets, split by dl_type. Returns seconds spent in conntrack_execute. */
static double run_batch(struct conntrack *ct, struct dp_packet **pkts, size_t n, long long now_ms,
                        int timed) {
  struct dp_packet_batch b4, b6;
  dp_packet_batch_init(&b4);
  dp_packet_batch_init(&b6);
  for (size_t i = 0; i < n; ++i) dp_packet_batch_add(is_ipv6(pkts[i]) ? &b6 : &b4, pkts[i]);
  double t0 = timed ? peer_now() : 0;
  if (dp_packet_batch_size(&b4))
    conntrack_execute(ct, &b4, htons(ETH_TYPE_IP), false, true, 0, NULL, NULL, 0, 0, NULL, NULL,
                      now_ms, 0);
  if (dp_packet_batch_size(&b6))
    conntrack_execute(ct, &b6, htons(ETH_TYPE_IPV6), false, true, 0, NULL, NULL, 0, 0, NULL, NULL,
                      now_ms, 0);
  double spent = timed ? peer_now() - t0 : 0;
  if (timed) {
    count(&b4);
    count(&b6);
  }
  return spent;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ovs_harness DIR NAME\n");
    return 2;
  }
  struct peer_frames setup, timed;
  struct peer_meta m;
  peer_load_workload(argv[1], argv[2], &setup, &timed, &m);

  /* Timed packets are built once; setup packets are built per batch and freed. */
  struct dp_packet **tp = malloc(timed.n * sizeof(*tp));
  if (tp == NULL) peer_die("out of memory", NULL);
  for (size_t i = 0; i < timed.n; ++i) tp[i] = make_packet(&timed.v[i]);

  int64_t t0_ns = setup.n ? setup.v[0].ts_ns : (timed.n ? timed.v[0].ts_ns : 0);
  long long base_ms = time_msec();
#define NOW_MS(ts) (base_ms + ((ts)-t0_ns) / 1000000)
  long rss0 = peer_rss_kb();
  struct conntrack *ct = conntrack_init();
  /* nf_conntrack_max of the workload (OVS's default limit is 3,000,000). */
  if (m.max) conntrack_set_maxconns(ct, m.max);
  long_timeouts(ct);

  for (size_t i = 0; i < setup.n; i += m.batch) {
    size_t n = setup.n - i < m.batch ? setup.n - i : m.batch;
    struct dp_packet *sp[32];
    for (size_t k = 0; k < n; ++k) sp[k] = make_packet(&setup.v[i + k]);
    run_batch(ct, sp, n, NOW_MS(setup.v[i].ts_ns), 0);
    for (size_t k = 0; k < n; ++k) dp_packet_delete(sp[k]);
  }
  double spent = 0;
  uint32_t peak = 0, nconns = 0;
  for (unsigned pass = 0; pass < m.passes; ++pass) {
    for (size_t i = 0; i < timed.n; ++i) conntrack_clear(tp[i]);
    long long shift = (long long)pass * m.pass_dt_ns;
    for (size_t i = 0; i < timed.n; i += m.batch) {
      size_t n = timed.n - i < m.batch ? timed.n - i : m.batch;
      spent += run_batch(ct, &tp[i], n, NOW_MS(timed.v[i].ts_ns + shift), 1);
    }
    conntrack_get_nconns(ct, &nconns);
    if (nconns > peak) peak = nconns;
  }
  long rss1 = peer_rss_kb();
  double packets = (double)timed.n * m.passes;
  printf(
      "ovs %s ns_per_packet=%.1f bytes_per_conn=%.0f conns=%u new=%llu est=%llu inv=%llu "
      "digest=%s\n",
      argv[2], spent * 1e9 / packets, peak ? (double)(rss1 - rss0) * 1024.0 / peak : 0.0, peak,
      verdicts[0], verdicts[1], verdicts[2], m.timed_digest);
  fflush(stdout);
  /* conntrack_destroy() would walk every connection; the process ends here. */
  _exit(0);
}
