/* Shared by the peer harnesses: loading a workload exported by `ctrack bench NAME --export DIR`
 * (DIR/NAME.setup.pcap, DIR/NAME.timed.pcap, DIR/NAME.meta), the same FNV-1a digest of the
 * frames that ctrack prints, resident memory and a monotonic clock. Plain C (the peers are C
 * libraries). */
#ifndef CTRACK_BENCH_PEERS_PEER_COMMON_H_
#define CTRACK_BENCH_PEERS_PEER_COMMON_H_

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct peer_frame {
  const uint8_t *data;
  uint32_t len;
  int64_t ts_ns;
};

struct peer_frames {
  struct peer_frame *v;
  size_t n, cap;
  uint8_t *bytes;
  size_t nbytes, bytes_cap;
};

struct peer_meta {
  unsigned passes;
  long long pass_dt_ns;
  unsigned batch;
  unsigned max, buckets;
  char timed_digest[32];
};

static inline double peer_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline long peer_rss_kb(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
  fclose(f);
  return rss * 4;
}

static inline void peer_die(const char *what, const char *detail) {
  fprintf(stderr, "peer harness: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* Loads every record of a pcap (nanosecond timestamps kept) into one arena. */
static inline void peer_load(const char *path, struct peer_frames *out) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == NULL) peer_die(path, err);
  memset(out, 0, sizeof(*out));
  struct pcap_pkthdr *h;
  const u_char *d;
  size_t *offs = NULL;
  while (pcap_next_ex(p, &h, &d) == 1) {
    if (out->n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 1024;
      out->v = realloc(out->v, out->cap * sizeof(*out->v));
      offs = realloc(offs, out->cap * sizeof(*offs));
      if (out->v == NULL || offs == NULL) peer_die("out of memory", NULL);
    }
    if (out->nbytes + h->caplen > out->bytes_cap) {
      out->bytes_cap = (out->bytes_cap + h->caplen) * 2;
      out->bytes = realloc(out->bytes, out->bytes_cap);
      if (out->bytes == NULL) peer_die("out of memory", NULL);
    }
    memcpy(out->bytes + out->nbytes, d, h->caplen);
    offs[out->n] = out->nbytes;
    out->v[out->n].len = h->caplen;
    out->v[out->n].ts_ns = (int64_t)h->ts.tv_sec * 1000000000LL + h->ts.tv_usec;
    out->nbytes += h->caplen;
    out->n++;
  }
  pcap_close(p);
  for (size_t i = 0; i < out->n; ++i) out->v[i].data = out->bytes + offs[i];
  free(offs);
}

/* FNV-1a over each frame's timestamp (8 bytes, little endian) and bytes, as ctrack computes it. */
static inline uint64_t peer_digest(const struct peer_frames *f) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < f->n; ++i) {
    uint64_t ts = (uint64_t)f->v[i].ts_ns;
    for (int k = 0; k < 8; ++k) h = (h ^ ((ts >> (8 * k)) & 0xff)) * 0x100000001b3ull;
    for (uint32_t k = 0; k < f->v[i].len; ++k) h = (h ^ f->v[i].data[k]) * 0x100000001b3ull;
  }
  return h;
}

static inline void peer_read_meta(const char *path, struct peer_meta *m) {
  FILE *f = fopen(path, "r");
  if (f == NULL) peer_die("cannot open", path);
  memset(m, 0, sizeof(*m));
  m->passes = 1;
  m->batch = 32;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *eq = strchr(line, '=');
    if (eq == NULL) continue;
    *eq = 0;
    const char *v = eq + 1;
    if (!strcmp(line, "passes"))
      m->passes = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(line, "pass_dt_ns"))
      m->pass_dt_ns = strtoll(v, NULL, 10);
    else if (!strcmp(line, "batch"))
      m->batch = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(line, "max"))
      m->max = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(line, "buckets"))
      m->buckets = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(line, "timed_digest"))
      snprintf(m->timed_digest, sizeof m->timed_digest, "%s", v);
  }
  fclose(f);
  if (m->batch == 0 || m->batch > 32 || m->passes == 0) peer_die("bad meta file", path);
}

/* Loads DIR/NAME.{setup,timed}.pcap and DIR/NAME.meta; checks the timed digest. */
static inline void peer_load_workload(const char *dir, const char *name, struct peer_frames *setup,
                                      struct peer_frames *timed, struct peer_meta *m) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.meta", dir, name);
  peer_read_meta(path, m);
  snprintf(path, sizeof path, "%s/%s.setup.pcap", dir, name);
  peer_load(path, setup);
  snprintf(path, sizeof path, "%s/%s.timed.pcap", dir, name);
  peer_load(path, timed);
  char got[32];
  snprintf(got, sizeof got, "%016llx", (unsigned long long)peer_digest(timed));
  if (strcmp(got, m->timed_digest) != 0) peer_die("timed frames differ from ctrack's digest", got);
}

#endif /* CTRACK_BENCH_PEERS_PEER_COMMON_H_ */
