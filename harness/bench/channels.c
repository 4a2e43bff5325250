/*
 * channels.c - throughput and round trips over every channel, in every
 * placement, in rounds.
 *
 * Round -1 is the warm-up: it runs every channel, placement and size once
 * with a fixed count and sizes the real runs from its time (~20 ms each;
 * round trips that sleep, on two CPUs, run WARM_SECS untimed first).
 * Every later round runs each channel in each placement at each size once,
 * one after the other, so noise that hits a round hits all of them.  A
 * channel that times out in a placement is skipped there from then on;
 * wrong data is counted and reported.
 */
#include "common.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>

#define TARGET 0.02 /* seconds per run */

static bool measured(const struct settings *s, int k, int pl)
{
	return s->placed[pl] && (k != CH_MEMCPY || pl == PL_ONE);
}

long warm_count(int kind, int pl, double us)
{
	return pl != PL_TWO || kind == CH_SPIN || !(us > 0) ? 0 : (long)(WARM_SECS / (us * 1e-6)) + 1;
}

/* One run in placement pl (round trips: after warm untimed ones); false when it failed. */
static bool one_run(const struct settings *s, struct results *r, int pl, struct outcome *o, const char *what,
		    int kind, size_t size, long cnt, long warm, unsigned char *src, unsigned char *dst)
{
	place(s, pl);
	struct run_cfg rc = s->run;
	rc.consumer_cpu = consumer_cpu(s, pl);
	rc.warm = warm;
	*o = size ? run_tput(&rc, kind, size, cnt, src, dst) : run_lat(&rc, kind, cnt);
	if (kind != CH_MEMCPY) {
		r->runs[pl]++;
		r->together[pl] += o->same_cpu;
	}
	if (o->ok)
		return true;
	if (o->timeout)
		r->timeouts++;
	else
		r->failures++;
	fprintf(stderr, "%s, %s, %zu B: %s%s\n", what, pl_name[pl], size, o->timeout ? "TIMEOUT" : "WRONG DATA",
		o->timeout ? "; skipped in this placement from now on" : "");
	return false;
}

void measure_channels(const struct settings *s, struct results *r, unsigned char *src, unsigned char *dst)
{
	static long n[NCH][NPL][NSIZES], nl[NLAT][NPL], warm[NLAT][NPL];
	bool dead[NCH][NPL] = {{false}}, ldead[NLAT][NPL] = {{false}};
	printf("\n== Channels: a warm-up round sizes each run to ~%.0f ms; then %d rounds, every channel, placement\n"
	       "   and size once per round (round trips too; those that sleep, on 2 CPUs, after %.0f ms of them untimed)\n",
	       TARGET * 1e3, s->reps, WARM_SECS * 1e3);
	for (int round = -1; round < s->reps; round++) {
		if (out_of_time(s)) {
			printf("   (out of time after %d rounds: the medians are of those)\n", round < 0 ? 0 : round);
			break;
		}
		for (size_t z = 0; z < NSIZES; z++)
			for (int k = 0; k < NCH; k++)
				for (int pl = 0; pl < NPL; pl++) {
					if (!measured(s, k, pl) || dead[k][pl])
						continue;
					long cnt = (long)(4 * MAX_MSG / msg_sizes[z]);
					cnt = round >= 0 ? n[k][pl][z] : cnt > 20000 ? 20000 : cnt < 8 ? 8 : cnt;
					struct outcome o;
					bool ok = one_run(s, r, pl, &o, ch_name[k], k, msg_sizes[z], cnt, 0, src, dst);
					dead[k][pl] = o.timeout;
					if (round < 0)
						n[k][pl][z] = size_run(o.secs, cnt, TARGET, 16, 5000000);
					else
						r->tp[k][pl][z][round] = ok ? (double)cnt * (double)msg_sizes[z] / o.secs / 1e6 : NAN;
				}
		for (size_t j = 0; j < NLAT; j++)
			for (int pl = 0; pl < NPL; pl++) {
				if (!s->placed[pl] || ldead[j][pl])
					continue;
				long cnt = round < 0 ? 100 : nl[j][pl];
				struct outcome o;
				bool ok = one_run(s, r, pl, &o, ch_name[lat_ch[j]], lat_ch[j], 0, cnt, warm[j][pl], NULL, NULL);
				ldead[j][pl] = o.timeout;
				if (round < 0) {
					nl[j][pl] = size_run(o.secs, cnt, TARGET, 20, 2000000);
					warm[j][pl] = warm_count(lat_ch[j], pl, o.secs / (double)cnt * 1e6);
				}
				else
					r->lat[j][pl][round] = ok ? o.secs / (double)cnt * 1e6 : NAN;
			}
	}
}

/* "  12345" or "      -" */
static void cell(double v, int width, int prec)
{
	if (isnan(v))
		printf(" %*s", width, "-");
	else
		printf(" %*.*f", width, prec, v);
}

static void row(const struct settings *s, const char *name, const double *const v[NPL], int best, int prec)
{
	printf("  %-18s", name);
	for (int pl = 0; pl < NPL; pl++)
		cell(median(v[pl], s->reps), pl == PL_SCHED ? 9 : 8, prec);
	if (best < 0) {
		printf("\n");
		return;
	}
	double lo, hi;
	minmax(v[best], s->reps, &lo, &hi);
	printf("   %9.*f  %-9s [%.*f .. %.*f]\n", prec, median(v[best], s->reps), pl_name[best], prec, lo, prec, hi);
}

void print_throughput(const struct settings *s, const struct results *r)
{
	printf("\n== Throughput: one producer process -> one consumer process, MB/s (10^6 bytes), median of %d rounds\n",
	       s->reps);
	for (size_t z = 0; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		printf("\n  %-18s %8s %8s %9s   %9s  %-9s [min .. max]\n", sz, pl_name[PL_ONE], pl_name[PL_TWO],
		       pl_name[PL_SCHED], "best", "where");
		for (int k = 0; k < NCH; k++) {
			const double *v[NPL];
			for (int pl = 0; pl < NPL; pl++) {
				v[pl] = r->tp[k][pl][z];
				if (measured(s, k, pl))
					csv_row(s, "throughput", ch_key[k], pl_key[pl], msg_sizes[z], "MB/s", v[pl], s->reps);
			}
			row(s, ch_name[k], v, best_tp(s, r, k, z), 0);
		}
	}
	printf("\n  where the scheduler put them (sched_getcpu at the end of each run): both on the same CPU in");
	printf(" %ld of %ld runs\n", r->together[PL_SCHED], r->runs[PL_SCHED]);
}

void print_latency(const struct settings *s, const struct results *r)
{
	printf("\n== Round trips of a %d-byte message (parent -> child -> parent), microseconds, median of %d rounds\n",
	       LAT_SIZE, s->reps);
	printf("  %-18s %8s %8s %9s   %9s  %-9s [min .. max]\n", "channel", pl_name[PL_ONE], pl_name[PL_TWO],
	       pl_name[PL_SCHED], "best", "where");
	for (size_t j = 0; j < NLAT; j++) {
		const double *v[NPL];
		for (int pl = 0; pl < NPL; pl++) {
			v[pl] = r->lat[j][pl];
			if (s->placed[pl])
				csv_row(s, "round-trip", ch_key[lat_ch[j]], pl_key[pl], LAT_SIZE, "us", v[pl], s->reps);
		}
		row(s, ch_name[lat_ch[j]], v, best_lat(s, r, (int)j), 2);
	}
}
