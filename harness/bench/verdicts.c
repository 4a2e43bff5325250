/*
 * verdicts.c - the source notes' claims, decided by the measurements, and
 * the lab's targets, PASS or MISS.  Every ratio is the median of per-round
 * ratios (stats.c).
 */
#include "common.h"
#include "bench.h"

#include <stdio.h>

#define AT_64K 5 /* msg_sizes[5] is 64 KiB */

/* The ratio a/b of two channels' throughput at size z. */
static double tput_ratio(const struct settings *s, const struct results *r, int a, int b, size_t z)
{
	return ratio(r->tp[a][z], r->tp[b][z], s->reps);
}

static void claim_ten_to_hundred(const struct settings *s, const struct results *r)
{
	char line[512];
	int len = 0;
	for (size_t z = 0; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		len += snprintf(line + len, sizeof line - (size_t)len, "%s%s %.1fx", z ? ", " : "", sz,
				tput_ratio(s, r, CH_RING, CH_PIPE, z));
	}
	double rp = tput_ratio(s, r, CH_RING, CH_PIPE, AT_64K);
	printf("* \"shared memory is 10-100x faster than a pipe\": shm ring vs default pipe at 64 KiB messages: %.1fx here"
	       " -- %s\n  (%s)\n",
	       rp, rp >= 10 ? "holds here" : rp >= 1.5 ? "wrong here: faster, but not 10-100x" : "wrong here: about the same",
	       line);
}

static void claim_fastest(const struct settings *s, const struct results *r)
{
	char line[512];
	int len = 0, ring_best = 0;
	for (size_t z = 0; z < NSIZES; z++) {
		int best = CH_RING;
		for (int k = CH_RING; k < NCH; k++)
			if (median(r->tp[k][z], s->reps) > median(r->tp[best][z], s->reps))
				best = k;
		if (best == CH_RING || best == CH_SPIN)
			ring_best++;
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		len += snprintf(line + len, sizeof line - (size_t)len, "%s%s: %s", z ? ", " : "", sz, ch_key[best]);
	}
	printf("* \"shared memory is the fastest IPC\": a shm ring was the fastest channel at %d of %d sizes (%s)\n",
	       ring_best, NSIZES, line);
}

void print_claims(const struct settings *s, const struct results *r)
{
	int reps = s->reps;
	printf("\n== The source notes' claims, as measured here\n");
	claim_ten_to_hundred(s, r);
	claim_fastest(s, r);
	double mq_pipe = tput_ratio(s, r, CH_MQ, CH_PIPE, AT_64K), mq_pipe_small = tput_ratio(s, r, CH_MQ, CH_PIPE, 0);
	printf("* \"a message queue is medium speed, between pipe and shared memory\": posix mq / pipe = %.2fx at 64 B,"
	       " %.2fx at 64 KiB -- %s\n",
	       mq_pipe_small, mq_pipe, mq_pipe_small >= 1 && mq_pipe >= 1 ? "holds here" : "holds only at some sizes here");
	printf("* \"zero copy\": the shm ring copies each byte twice (in and out) and reaches %.0f%% of one memcpy at 64 KiB;"
	       " reading a cached file by mmap takes %.2fx the time of read()\n",
	       tput_ratio(s, r, CH_RING, CH_MEMCPY, AT_64K) * 100, ratio(r->frw[FR_MMAP], r->frw[FR_READ], reps));
	double lf = ratio(r->lat[LAT_FUTEX], r->lat[LAT_SPIN], reps), lp = ratio(r->lat[LAT_FUTEX], r->lat[LAT_PIPE], reps);
	printf("* \"with shared memory the kernel is not involved\": only while spinning; the futex ring's round trip"
	       " is %.1fx the spinning one and %.2fx the pipe's\n",
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

void print_targets(const struct settings *s, const struct results *r)
{
	int reps = s->reps;
	printf("\n== Targets (ratios from the same rounds)\n");
	bool t_memcpy = true, t_pipe = true, t_spin = true;
	for (size_t z = AT_64K; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		double a = tput_ratio(s, r, CH_RING, CH_MEMCPY, z);
		double b = tput_ratio(s, r, CH_RING, CH_PIPE, z);
		double c = tput_ratio(s, r, CH_RING, CH_SPIN, z);
		printf("  %-4s %-7s ring(futex) = %3.0f%% of memcpy (>= 60%%), %5.1fx pipe (>= 4x), %3.0f%% of ring(spin) (>= 85%%)\n",
		       pass(a >= 0.6 && b >= 4 && c >= 0.85), sz, a * 100, b, c * 100);
		t_memcpy = t_memcpy && a >= 0.6;
		t_pipe = t_pipe && b >= 4;
		t_spin = t_spin && c >= 0.85;
	}
	printf("  %s ring >= 60%% of memcpy at 64 KiB-1 MiB\n", pass(t_memcpy));
	printf("  %s ring >= 4x a default pipe at 64 KiB-1 MiB\n", pass(t_pipe));
	printf("  %s futex ring within 15%% of the spinning ring for bulk transfer\n", pass(t_spin));
	double sp = ratio(r->lat[LAT_PIPE], r->lat[LAT_SPIN], reps);
	double lp = ratio(r->lat[LAT_FUTEX], r->lat[LAT_PIPE], reps);
	printf("  %s spinning round trip at least 10x below the pipe's: pipe/spin = %.1fx\n", pass(sp >= 10), sp);
	printf("  %s futex round trip close to the pipe's (0.5x-1.5x): %.2fx\n", pass(lp >= 0.5 && lp <= 1.5), lp);
	printf("  %s method: warm-up, %d interleaved rounds, medians [min..max], per-round ratios, placement reported\n",
	       pass(reps >= 5), reps);
	double total = now() - s->t_start;
	printf("  (load average at the end: %.1f on %ld CPUs)\n", loadavg(), s->ncpus);
	printf("  %s whole bench under two minutes: %.0f s\n", pass(total < 120), total);
	printf("  %s correctness: %d wrong transfers, %d timeouts\n", pass(r->failures == 0 && r->timeouts == 0),
	       r->failures, r->timeouts);
}
