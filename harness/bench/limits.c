/*
 * limits.c - what the hardware allows a ring: memcpy on one core (the
 * ceiling), and a ring's worth of messages moved without the ring.
 *
 * A ring of 1 MiB streams its 1 MiB through both processes whatever the
 * message size.  On two CPUs it is a pipeline: while the consumer reads one
 * part of the ring, the producer writes another, and every line the
 * producer writes was last in the consumer's cache (read one lap ago),
 * every line the consumer reads is in the producer's.  So its bound is the
 * slower of the two halves, each measured here alone: the ring's buffer, in
 * MAP_SHARED memory, goes back and forth between a process on each CPU;
 * the producer fills each message slot in it (zero copy: zc_build) or
 * memcpys a message into it (copy in), the consumer sums each slot
 * (zc_sum) or memcpys it out (copy out), and each times only its own half
 * (the median pass, so a preemption by another job does not count).  On
 * one CPU the two halves take turns in one process: that is a ring on one
 * CPU without its waits and its switches.
 */
#include "common.h"
#include "proc.h"
#include "bench.h"
#include "zc.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const ho_name[NHO] = {"fill", "sum", "copy in", "copy out"};

#define MAX_PASSES 64

struct handoff {
	_Alignas(128) _Atomic uint32_t turn; /* 2i: the producer's i-th pass, 2i + 1: the consumer's */
	_Alignas(128) unsigned char buf[];   /* at the same offset from a page as a ring's data */
};

struct job {
	bool copy;
	size_t msg, slots;  /* slots messages of msg bytes in buf */
	long passes;
	unsigned char *own; /* a message buffer of the producer: copy in from it */
	unsigned char *out; /* one of the consumer: copy out to it */
};

/* One half of one pass over every slot: side 0 writes, side 1 reads. */
static void do_half(struct handoff *h, const struct job *j, int side, long pass)
{
	uint64_t sink = 0;
	for (size_t i = 0; i < j->slots; i++) {
		unsigned char *slot = h->buf + i * j->msg;
		if (side == 0 && j->copy)
			memcpy(slot, j->own, j->msg);
		else if (side == 0)
			zc_build(slot, j->msg, (uint64_t)pass);
		else if (j->copy)
			memcpy(j->out, slot, j->msg);
		else
			sink += zc_sum(slot, j->msg);
		__asm__ __volatile__("" : : "r"(j->own), "r"(j->out), "r"(sink) : "memory");
	}
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of n seconds. */
static double mid(double *t, long n)
{
	qsort(t, (size_t)n, sizeof t[0], cmp_dbl);
	return t[n / 2];
}

/* Spin until h->turn == want (each side has a CPU of its own); false after the deadline. */
static bool await(struct handoff *h, uint32_t want, double deadline)
{
	for (unsigned i = 1; atomic_load_explicit(&h->turn, memory_order_acquire) != want; i++)
		if ((i & 4095) == 0 && now() > deadline)
			return false;
	return true;
}

/* This side's halves of every pass; the median pass's seconds, or NaN on a timeout. */
static double halves(struct handoff *h, const struct job *j, int side)
{
	double t[MAX_PASSES], deadline = now() + limit_s(10.0);
	for (long p = 0; p < j->passes; p++) {
		if (!await(h, (uint32_t)(2 * p + side), deadline))
			return NAN;
		double t0 = now();
		do_half(h, j, side, p);
		t[p] = now() - t0;
		atomic_store_explicit(&h->turn, (uint32_t)(2 * p + side + 1), memory_order_release);
	}
	return mid(t, j->passes);
}

/* Two CPUs: out[0] the producer's MB/s, out[1] the consumer's. */
static void two_cpus(const struct settings *s, struct handoff *h, struct job j, double out[2])
{
	atomic_store(&h->turn, 0);
	struct pair pr;
	pair_open(&pr);
	pid_t parent = getpid();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		child_dies_with(parent);
		pair_child(&pr);
		pin_to_cpu(s->cpu[1]);
		memset(j.out, 0, j.msg); /* our own copy of it, now, not while we time */
		pair_signal(&pr, 'r');
		double t = halves(h, &j, 1);
		pair_send(&pr, &t, sizeof t);
		_exit(0);
	}
	pair_parent(&pr);
	pin_to_cpu(s->cpu[0]);
	if (pair_wait(&pr) != 'r')
		die_msg("the handoff's consumer did not get ready");
	double tp = halves(h, &j, 0), tc;
	pair_recv(&pr, &tc, sizeof tc);
	if (strcmp(wait_child(pid), "exited 0") != 0)
		die_msg("the handoff's consumer failed");
	pair_close(&pr);
	double bytes = (double)(j.slots * j.msg);
	out[0] = bytes / tp / 1e6;
	out[1] = bytes / tc / 1e6;
}

/* One CPU: the halves in turn; MB/s of a pass (both halves). */
static double one_cpu(struct handoff *h, struct job j)
{
	double t[MAX_PASSES];
	for (long p = 0; p < j.passes; p++) {
		double t0 = now();
		do_half(h, &j, 0, p);
		do_half(h, &j, 1, p);
		t[p] = now() - t0;
	}
	return (double)(j.slots * j.msg) / mid(t, j.passes) / 1e6;
}

/* What one core's memcpy of size bytes can do: the fastest of 32 bursts of
 * about 2 MiB each.  Other jobs can only slow a burst down, and one burst
 * lasts well under a time slice, so the fastest is the core's, not the
 * machine's load. */
static double memcpy_peak(size_t size, unsigned char *src, unsigned char *dst)
{
	long n = (long)(2 * MiB / size);
	double best = 0;
	for (int b = 0; b < 32; b++) {
		double t0 = now();
		for (long i = 0; i < n; i++) {
			memcpy(dst, src, size);
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		double rate = (double)size * (double)n / (now() - t0) / 1e6;
		best = rate > best ? rate : best;
	}
	return best;
}

void measure_limits(const struct settings *s, struct results *r)
{
	size_t cap = s->chan.ring_cap > MAX_MSG ? s->chan.ring_cap : MAX_MSG, len = sizeof(struct handoff) + cap;
	struct handoff *h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		die("mmap handoff");
	memset(h, 0, len);
	unsigned char *own = map_anon(MAX_MSG), *out = map_anon(MAX_MSG);
	for (int round = 0; round < s->reps; round++)
		for (size_t z = AT_64K; z < NSIZES; z++) {
			double peak = memcpy_peak(msg_sizes[z], own, out);
			r->ceiling[z] = peak > r->ceiling[z] ? peak : r->ceiling[z];
			for (int copy = 0; copy < 2; copy++) {
				struct job j = {.copy = copy, .msg = msg_sizes[z], .own = own, .out = out};
				j.slots = s->chan.ring_cap / j.msg ? s->chan.ring_cap / j.msg : 1;
				j.passes = (long)(32 * MiB / (j.slots * j.msg));
				j.passes = j.passes < 9 ? 9 : j.passes > MAX_PASSES ? MAX_PASSES : j.passes;
				r->ho_local[copy][z][round] = one_cpu(h, j);
				if (!s->placed[PL_TWO])
					continue;
				double out[2];
				two_cpus(s, h, j, out);
				r->ho[copy ? HO_COPY_IN : HO_FILL][z][round] = out[0];
				r->ho[copy ? HO_COPY_OUT : HO_SUM][z][round] = out[1];
			}
		}
	munmap(own, MAX_MSG);
	munmap(out, MAX_MSG);
	munmap(h, len);
}

void print_limits(const struct settings *s, const struct results *r)
{
	int n = s->reps;
	size_t kib = s->chan.ring_cap / KiB;
	printf("\n== Ceilings: what this machine allows a ring, MB/s, median of %d rounds\n", n);
	printf("   A copy-in/copy-out ring moves each byte twice: its ceiling is half a memcpy; a zero-copy ring's\n"
	       "   is one memcpy: one core, the message's size, the fastest of 32 bursts of 2 MiB (other jobs can\n"
	       "   make a burst slower, never faster).  What two processes can do: a ring's worth (%zu KiB) of\n"
	       "   messages written into a buffer, then read from it, without the ring.  2 CPUs: the buffer goes\n"
	       "   back and forth between a process on each CPU, each timing its own half on lines the other CPU\n"
	       "   had; a ring runs both halves at once, so it cannot beat the slower.  1 CPU: one process does\n"
	       "   both halves in turn, as a ring on one CPU does between its context switches.\n",
	       kib);
	printf("  %-8s %8s %9s | %-25s %7s | %-27s %7s\n", "size", "memcpy", "memcpy/2", "2 CPUs: fill, sum",
	       "1 CPU", "2 CPUs: copy in, copy out", "1 CPU");
	for (size_t z = AT_64K; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		double mc = r->ceiling[z];
		printf("  %-8s %8.0f %9.0f | %8.0f, %8.0f -> %5.0f %7.0f | %8.0f, %8.0f -> %7.0f %7.0f\n", sz, mc, mc / 2,
		       median(r->ho[HO_FILL][z], n), median(r->ho[HO_SUM][z], n),
		       fmin(median(r->ho[HO_FILL][z], n), median(r->ho[HO_SUM][z], n)), median(r->ho_local[0][z], n),
		       median(r->ho[HO_COPY_IN][z], n), median(r->ho[HO_COPY_OUT][z], n),
		       fmin(median(r->ho[HO_COPY_IN][z], n), median(r->ho[HO_COPY_OUT][z], n)),
		       median(r->ho_local[1][z], n));
		for (int k = 0; k < NHO; k++)
			csv_row(s, "handoff", ho_name[k], pl_key[PL_TWO], msg_sizes[z], "MB/s", r->ho[k][z], n);
		csv_row(s, "handoff", "fill+sum", pl_key[PL_ONE], msg_sizes[z], "MB/s", r->ho_local[0][z], n);
		csv_row(s, "handoff", "copy in+out", pl_key[PL_ONE], msg_sizes[z], "MB/s", r->ho_local[1][z], n);
	}
	printf("  (-> the bound on 2 CPUs: the slower half)\n");
}
