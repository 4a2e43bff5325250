/*
 * verdicts.c - the source notes' claims, decided by the measurements, and
 * the lab's targets, PASS or MISS, each channel in its best placement.
 * Every ratio is the median of per-round ratios (stats.c) between the two
 * channels' best placements; a MISS says why, with the measurement.
 */
#include "common.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BULK_LIST "64 KiB-1 MiB"

static double med(const struct settings *s, const double *v)
{
	return median(v, s->reps);
}

/* "shm ring (futex), 2 CPUs" */
static const char *who(const struct settings *s, const struct results *r, int k, size_t z)
{
	static char buf[4][64];
	static int next;
	char *b = buf[next++ % 4];
	int pl = best_tp(s, r, k, z);
	snprintf(b, sizeof buf[0], "%s, %s", ch_name[k], pl < 0 ? "not measured" : pl_name[pl]);
	return b;
}

/* Best-vs-best throughput ratio of channels a and b at size z. */
static double vs(const struct settings *s, const struct results *r, int a, int b, size_t z)
{
	return ratio(tp_best(s, r, a, z), tp_best(s, r, b, z), s->reps);
}

/* The ceiling at size z: one core's memcpy, the fastest of many short
 * bursts (limits.c).  A median of loaded rounds would let a busy machine
 * lower the bar. */
static double memcpy_ceiling(const struct settings *s, const struct results *r, size_t z)
{
	(void)s;
	return r->ceiling[z] > 0 ? r->ceiling[z] : NAN;
}

/* Channel k's median in its best placement, as a fraction of the ceiling. */
static double vs_memcpy(const struct settings *s, const struct results *r, int k, size_t z)
{
	return med(s, tp_best(s, r, k, z)) / memcpy_ceiling(s, r, z);
}

static void claim_ten_to_hundred(const struct settings *s, const struct results *r)
{
	char line[512];
	int len = 0;
	for (size_t z = 0; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		len += snprintf(line + len, sizeof line - (size_t)len, "%s%s %.1fx", z ? ", " : "", sz,
				vs(s, r, CH_RING, best_pipe(s, r, z), z));
	}
	size_t z = AT_64K;
	int bp = best_pipe(s, r, z);
	double rp = vs(s, r, CH_RING, bp, z), zp = vs(s, r, CH_ZC, bp, z);
	double best = rp > zp ? rp : zp;
	printf("* \"shared memory is 10-100x faster than a pipe\", at 64 KiB, each in its best placement:\n"
	       "  %s / %s = %.1fx; %s = %.1fx -- %s\n  (shm ring (futex) / best pipe by size: %s)\n",
	       who(s, r, CH_RING, z), who(s, r, bp, z), rp, who(s, r, CH_ZC, z), zp,
	       best >= 10 ? "holds here" : best >= 1.5 ? "wrong here: faster, but not 10-100x" : "wrong here: about the same",
	       line);
	if (s->placed[PL_TWO])
		printf("  the unfair comparison -- the ring at its best, the default pipe on 2 CPUs: %.1fx\n",
		       ratio(tp_best(s, r, CH_RING, z), r->tp[CH_PIPE][PL_TWO][z], s->reps));
}

static void claim_fastest(const struct settings *s, const struct results *r)
{
	char line[768];
	int len = 0, ring_best = 0;
	for (size_t z = 0; z < NSIZES; z++) {
		int best = CH_RING;
		for (int k = CH_RING; k < NCH; k++)
			if (med(s, tp_best(s, r, k, z)) > med(s, tp_best(s, r, best, z)))
				best = k;
		ring_best += IS_RING(best);
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		int pl = best_tp(s, r, best, z);
		len += snprintf(line + len, sizeof line - (size_t)len, "%s%s: %s (%s)", z ? ", " : "", sz, ch_key[best],
				pl < 0 ? "-" : pl_name[pl]);
	}
	printf("* \"shared memory is the fastest IPC\": a shm ring was the fastest channel at %d of %d sizes\n  (%s)\n",
	       ring_best, NSIZES, line);
}

void print_claims(const struct settings *s, const struct results *r)
{
	int reps = s->reps;
	printf("\n== The source notes' claims, each channel in its best placement\n");
	claim_ten_to_hundred(s, r);
	claim_fastest(s, r);
	double mq_small = vs(s, r, CH_MQ, best_pipe(s, r, 0), 0), mq_big = vs(s, r, CH_MQ, best_pipe(s, r, AT_64K), AT_64K);
	double mq_ring = vs(s, r, CH_MQ, CH_RING, AT_64K);
	printf("* \"a message queue is medium speed, between pipe and shared memory\": posix mq / best pipe = %.2fx at 64 B,"
	       " %.2fx at 64 KiB; / shm ring (futex) %.2fx at 64 KiB -- %s\n",
	       mq_small, mq_big, mq_ring,
	       mq_small >= 1 && mq_big >= 1 && mq_ring <= 1 ? "holds here" : "holds only at some sizes here");
	printf("* \"zero copy\": the copy ring copies each byte twice and reached %.0f%% of memcpy/2 at 64 KiB; the\n"
	       "  zero-copy ring, which copies nothing, %.0f%% of memcpy; reading a cached file by mmap takes %.2fx the"
	       " time of read()\n",
	       vs_memcpy(s, r, CH_RING, AT_64K) * 200, vs_memcpy(s, r, CH_ZC, AT_64K) * 100,
	       ratio(r->frw[FR_MMAP], r->frw[FR_READ], reps));
	double lf = ratio(lat_best(s, r, LAT_FUTEX), lat_best(s, r, LAT_SPIN), reps);
	double lp = ratio(lat_best(s, r, LAT_FUTEX), lat_best(s, r, LAT_PIPE), reps);
	printf("* \"with shared memory the kernel is not involved\": only while spinning; the futex ring's round trip"
	       " is %.1fx the spinning one and %.2fx the pipe's (best placements)\n",
	       lf, lp);
	double zr = ratio(r->pff[FT_ZERO], r->pff[FT_ANON], reps), zs = ratio(r->pff[FT_ZERO_SH], r->pff[FT_ANON_SH], reps);
	printf("* \"/dev/zero is slower than MAP_ANONYMOUS\": first touch /dev/zero vs anonymous: %.2fx private,"
	       " %.2fx shared -- %s\n",
	       zr, zs,
	       (zr < 1.25 && zs < 1.25) ? "wrong here: after mmap it is the same kernel path; the difference is noise"
					: "slower in this run (the kernel path is the same: look at the spread)");
	double cm = ratio(r->fc[FC_MMAP], r->fc[FC_RW], reps), cc = ratio(r->fc[FC_CFR], r->fc[FC_RW], reps);
	printf("* \"copying a file through two mappings is less work\": mmap copy takes %.2fx the time of read/write,"
	       " copy_file_range %.2fx -- %s\n",
	       cm, cc, cm < 0.9 ? "faster here" : cm <= 1.1 ? "no faster here" : "slower here");
}

/* ---- targets -------------------------------------------------------------- */

/* The bound of ring k at size z in placement pl (limits.c): on 2 CPUs the
 * slower half of a handoff, on 1 CPU the two halves in turn. */
static double bound(const struct settings *s, const struct results *r, int k, size_t z, int pl)
{
	bool zc = k == CH_ZC;
	double a = med(s, r->ho[zc ? HO_FILL : HO_COPY_IN][z]), b = med(s, r->ho[zc ? HO_SUM : HO_COPY_OUT][z]);
	double two = fmin(a, b), one = med(s, r->ho_local[zc ? 0 : 1][z]);
	return pl == PL_ONE ? one : two;
}

/* Why ring k missed its ceiling at size z, from the measured bounds. */
static void why_ring(const struct settings *s, const struct results *r, int k, size_t z)
{
	bool zc = k == CH_ZC;
	char sz[32];
	size_str(msg_sizes[z], sz, sizeof sz);
	double ceil = memcpy_ceiling(s, r, z) / (zc ? 1 : 2);
	int pl = best_tp(s, r, k, z);
	double got = med(s, tp_best(s, r, k, z));
	double b1 = bound(s, r, k, z, PL_ONE), b2 = bound(s, r, k, z, PL_TWO);
	double mine = pl == PL_ONE ? b1 : pl == PL_TWO ? b2 : fmax(b1, b2);
	printf("       %-7s why: the ceiling is %.0f; this machine allows a ring %.0f on 2 CPUs (%.0f%% of the"
	       " ceiling) and %.0f on 1 CPU (%.0f%%: Ceilings above); the ring moved %.0f (%s), %.0f%% of what %s"
	       " allows\n",
	       sz, ceil, b2, b2 / ceil * 100, b1, b1 / ceil * 100, got, pl < 0 ? "-" : pl_name[pl], got / mine * 100,
	       pl == PL_ONE ? "1 CPU" : pl == PL_TWO ? "2 CPUs" : "the better placement");
}

static void ring_targets(const struct settings *s, const struct results *r)
{
	bool t_copy = true, t_zc = true, t_pipe = true;
	double v_copy[NSIZES], v_zc[NSIZES], p_copy[NSIZES], p_zc[NSIZES];
	printf("  %-8s %-38s %-38s %s\n", "size", "copy ring: shm ring (futex)", "zero-copy ring: shm ring (0-copy)",
	       "best pipe");
	for (size_t z = AT_64K; z < NSIZES; z++) {
		char sz[32], a[64], b[64];
		size_str(msg_sizes[z], sz, sizeof sz);
		int bp = best_pipe(s, r, z), pa = best_tp(s, r, CH_RING, z), pb = best_tp(s, r, CH_ZC, z);
		v_copy[z] = vs_memcpy(s, r, CH_RING, z) * 2;
		v_zc[z] = vs_memcpy(s, r, CH_ZC, z);
		p_copy[z] = vs(s, r, CH_RING, bp, z);
		p_zc[z] = vs(s, r, CH_ZC, bp, z);
		snprintf(a, sizeof a, "%.0f %-7s %3.0f%% of memcpy/2, %.1fx", med(s, tp_best(s, r, CH_RING, z)),
			 pa < 0 ? "-" : pl_name[pa], v_copy[z] * 100, p_copy[z]);
		snprintf(b, sizeof b, "%.0f %-7s %3.0f%% of memcpy, %.1fx", med(s, tp_best(s, r, CH_ZC, z)),
			 pb < 0 ? "-" : pl_name[pb], v_zc[z] * 100, p_zc[z]);
		printf("  %-8s %-38s %-38s %.0f %s\n", sz, a, b, med(s, tp_best(s, r, bp, z)), who(s, r, bp, z));
		t_copy = t_copy && v_copy[z] >= 0.7;
		t_zc = t_zc && v_zc[z] >= 0.7;
		t_pipe = t_pipe && p_copy[z] > 1 && p_zc[z] > 1;
	}
	printf("  %s copy ring >= 70%% of memcpy/2 at " BULK_LIST "\n", pass(t_copy));
	for (size_t z = AT_64K; z < NSIZES && !t_copy; z++)
		if (!(v_copy[z] >= 0.7))
			why_ring(s, r, CH_RING, z);
	printf("  %s zero-copy ring >= 70%% of memcpy at " BULK_LIST "\n", pass(t_zc));
	for (size_t z = AT_64K; z < NSIZES && !t_zc; z++)
		if (!(v_zc[z] >= 0.7))
			why_ring(s, r, CH_ZC, z);
	printf("  %s both rings faster than the best pipe at " BULK_LIST " (the x columns above)\n", pass(t_pipe));
	for (size_t z = AT_64K; z < NSIZES && !t_pipe; z++)
		if (!(p_copy[z] > 1 && p_zc[z] > 1)) {
			char sz[32];
			size_str(msg_sizes[z], sz, sizeof sz);
			int bp = best_pipe(s, r, z);
			printf("       %-7s the best pipe (%s) moved %.0f MB/s, the copy ring (%s) %.0f, the zero-copy ring (%s)"
			       " %.0f: a pipe on 1 CPU copies in and out of the same core's cache, with no line crossing CPUs\n",
			       sz, who(s, r, bp, z), med(s, tp_best(s, r, bp, z)), who(s, r, CH_RING, z),
			       med(s, tp_best(s, r, CH_RING, z)), who(s, r, CH_ZC, z), med(s, tp_best(s, r, CH_ZC, z)));
		}
}

static void latency_targets(const struct settings *s, const struct results *r)
{
	int reps = s->reps, ps = best_lat(s, r, LAT_SPIN), pp = best_lat(s, r, LAT_PIPE), pf = best_lat(s, r, LAT_FUTEX);
	bool t_spin = true;
	for (size_t z = AT_64K; z < NSIZES; z++)
		t_spin = t_spin && vs(s, r, CH_RING, CH_SPIN, z) >= 0.85;
	printf("  %s futex ring within 15%% of the spinning ring for bulk transfer (64 KiB %.0f%%, 256 KiB %.0f%%,"
	       " 1 MiB %.0f%%)\n",
	       pass(t_spin), vs(s, r, CH_RING, CH_SPIN, AT_64K) * 100, vs(s, r, CH_RING, CH_SPIN, AT_64K + 1) * 100,
	       vs(s, r, CH_RING, CH_SPIN, AT_64K + 2) * 100);
	double sp = ratio(lat_best(s, r, LAT_PIPE), lat_best(s, r, LAT_SPIN), reps);
	double lp = ratio(lat_best(s, r, LAT_FUTEX), lat_best(s, r, LAT_PIPE), reps);
	printf("  %s spinning round trip at least 10x below the pipe's: pipe (%s) / spin (%s) = %.1fx\n", pass(sp >= 10),
	       pp < 0 ? "-" : pl_name[pp], ps < 0 ? "-" : pl_name[ps], sp);
	if (!(sp >= 10))
		printf("       the pipe's round trip on 1 CPU is %.2f us (a switch to the other process each way, no"
		       " cross-CPU wake-up; %.2f us on 2 CPUs); the spinning ring's is %.2f us on 2 CPUs (%.2f us on 1 CPU)\n",
		       med(s, r->lat[LAT_PIPE][PL_ONE]), med(s, r->lat[LAT_PIPE][PL_TWO]), med(s, r->lat[LAT_SPIN][PL_TWO]),
		       med(s, r->lat[LAT_SPIN][PL_ONE]));
	printf("  %s futex round trip close to the pipe's (0.5x-1.5x): futex (%s) / pipe (%s) = %.2fx\n",
	       pass(lp >= 0.5 && lp <= 1.5), pf < 0 ? "-" : pl_name[pf], pp < 0 ? "-" : pl_name[pp], lp);
}

void print_targets(const struct settings *s, const struct results *r)
{
	printf("\n== Targets: each channel in its best placement (median of the rounds); ceilings: one core's memcpy of\n"
	       "   the same size (Ceilings above)\n");
	ring_targets(s, r);
	latency_targets(s, r);
	if (s->lmbench) {
		int np = 0, nm = 0;
		print_lmbench(s, r, &np, &nm);
		printf("  %s figures within 25%% of lmbench's: %d of %d\n", pass(nm == 0), np, np + nm);
	} else
		printf("  (not run) figures within 25%% of lmbench's: make bench LMBENCH=<lmbench's bin directory>"
		       " (notes/16-speed.md)\n");
	printf("  %s method: warm-up, %d interleaved rounds, medians [min..max], per-round ratios, 3 placements\n",
	       pass(s->reps >= 5), s->reps);
	double total = now() - s->t_start;
	printf("  (load average at the end: %.1f on %ld CPUs)\n", loadavg(), s->ncpus);
	printf("  %s whole bench under two minutes: %.0f s\n", pass(total < 120), total);
	printf("  %s correctness: %d wrong transfers, %d timeouts\n", pass(r->failures == 0 && r->timeouts == 0),
	       r->failures, r->timeouts);
}
