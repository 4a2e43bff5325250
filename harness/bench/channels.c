/*
 * channels.c - throughput and round trips over every channel, in rounds.
 *
 * Round -1 is the warm-up: it runs every channel and size once with a
 * fixed count and sizes the real runs from its time (~30 ms, ~25 ms).
 * Every later round runs each channel at each size once, one after the
 * other, so noise that hits a round hits all its channels.  A channel that
 * times out is skipped from then on; wrong data is counted and reported.
 */
#include "common.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>

static void count_placement(const struct outcome *o, long *apart, long *together)
{
	if (o->same_cpu)
		(*together)++;
	else
		(*apart)++;
}

void measure_throughput(const struct settings *s, struct results *r, unsigned char *src, unsigned char *dst)
{
	long n[NCH][NSIZES];
	bool dead[NCH] = {false};
	printf("\n== Throughput: one producer process -> one consumer process\n");
	printf("   warm-up round sizes each run to ~30 ms; then %d rounds, every channel and size once per round\n",
	       s->reps);
	for (int round = -1; round < s->reps; round++) {
		if (out_of_time(s))
			break;
		for (size_t z = 0; z < NSIZES; z++)
			for (int k = 0; k < NCH; k++) {
				if (dead[k])
					continue;
				long cnt;
				if (round < 0) {
					cnt = (long)(4 * MAX_MSG / msg_sizes[z]);
					cnt = cnt > 20000 ? 20000 : cnt < 8 ? 8 : cnt;
				} else
					cnt = n[k][z];
				struct outcome o = run_tput(&s->run, k, msg_sizes[z], cnt, src, dst);
				if (k != CH_MEMCPY)
					count_placement(&o, &r->tput_apart, &r->tput_together);
				if (!o.ok) {
					if (o.timeout)
						r->timeouts++;
					else
						r->failures++;
					fprintf(stderr, "%s, %zu B: %s%s\n", ch_name[k], msg_sizes[z],
						o.timeout ? "TIMEOUT" : "WRONG DATA",
						o.timeout ? "; this channel is skipped from now on" : "");
					dead[k] = o.timeout;
				}
				if (round < 0)
					n[k][z] = size_run(o.secs, cnt, 0.03, 16, 5000000);
				else
					r->tp[k][z][round] = o.ok ? (double)cnt * (double)msg_sizes[z] / o.secs / 1e6 : NAN;
			}
	}
}

void print_throughput(const struct settings *s, const struct results *r)
{
	int reps = s->reps;
	for (size_t z = 0; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		printf("\n  %s messages          MB/s median  [min .. max]        x ring(futex)  x memcpy\n", sz);
		for (int k = 0; k < NCH; k++) {
			const double *v = r->tp[k][z];
			double lo, hi, m = median(v, reps);
			minmax(v, reps, &lo, &hi);
			double vr = ratio(v, r->tp[CH_RING][z], reps);
			double vm = ratio(v, r->tp[CH_MEMCPY][z], reps);
			printf("  %-20s %12.0f  [%8.0f .. %8.0f]  %10.3f  %9.3f\n", ch_name[k], m, lo, hi, vr, vm);
			csv_row(s, "throughput", ch_key[k], msg_sizes[z], "MB/s", v, reps, vr, vm);
		}
	}
}

void measure_latency(const struct settings *s, struct results *r)
{
	long n[NLAT];
	bool dead[NLAT] = {false};
	printf("\n== Latency: round trip of a %d B message (parent -> child -> parent)\n", LAT_SIZE);
	for (int round = -1; round < s->reps; round++) {
		if (out_of_time(s))
			break;
		for (size_t j = 0; j < NLAT; j++) {
			if (dead[j])
				continue;
			long cnt = round < 0 ? 300 : n[j];
			struct outcome o = run_lat(&s->run, lat_ch[j], cnt);
			count_placement(&o, &r->lat_apart, &r->lat_together);
			if (!o.ok) {
				if (o.timeout)
					r->timeouts++;
				else
					r->failures++;
				fprintf(stderr, "latency %s: %s\n", ch_name[lat_ch[j]], o.timeout ? "TIMEOUT" : "WRONG REPLY");
				dead[j] = o.timeout;
			}
			if (round < 0)
				n[j] = size_run(o.secs, cnt, 0.025, 50, 2000000);
			else
				r->lat[j][round] = o.ok ? o.secs / (double)cnt * 1e6 : NAN;
		}
	}
}

void print_latency(const struct settings *s, const struct results *r)
{
	int reps = s->reps;
	printf("  %-20s %10s  [%8s .. %8s]  %12s  %10s\n", "channel", "us median", "min", "max", "x ring(spin)",
	       "x pipe");
	for (size_t j = 0; j < NLAT; j++) {
		double lo, hi, m = median(r->lat[j], reps);
		minmax(r->lat[j], reps, &lo, &hi);
		double vs = ratio(r->lat[j], r->lat[LAT_SPIN], reps), vp = ratio(r->lat[j], r->lat[LAT_PIPE], reps);
		printf("  %-20s %10.2f  [%8.2f .. %8.2f]  %12.2f  %10.2f\n", ch_name[lat_ch[j]], m, lo, hi, vs, vp);
		csv_row(s, "latency", ch_key[lat_ch[j]], LAT_SIZE, "us/roundtrip", r->lat[j], reps, NAN, NAN);
	}
}
