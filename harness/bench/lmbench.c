/*
 * lmbench.c - the field's reference beside ours: lmbench's bw_pipe and
 * bw_unix (64 KiB messages, MB/s) and lat_pipe and lat_unix (1-byte round
 * trips, microseconds), in the same placements as our channels, each run
 * twice, between runs of ours (the machine's load changes from minute to
 * minute: only figures measured at the same time can be compared).
 *
 * lmbench is not a Debian package and is not part of this project: a
 * student builds it (notes/16-speed.md says how) and passes its bin
 * directory with `make bench LMBENCH=dir`.  Placement: 1 CPU, the whole
 * program on one CPU (its children inherit that, as with taskset -c);
 * 2 CPUs, lmbench's own LMBENCH_SCHED="CUSTOM_SPREAD a b", which puts its
 * benchmark process on CPU a and the process it forks on CPU b, chosen so
 * that the writer (or pinger) runs where ours does; scheduler, neither.  ENOUGH,
 * LOOP_O and TIMING_O are what lmbench's own script computes once and
 * exports (the time of one measurement, the loop and clock overheads);
 * without them every program spends most of a minute calibrating.
 */
#include "common.h"
#include "proc.h"
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const lm_prog[NLM] = {"bw_pipe", "bw_unix", "lat_pipe", "lat_unix"};
static const char *const lm_env = "ENOUGH=50000 LOOP_O=0 TIMING_O=0";

/* Run dir/prog in placement pl; the number after the last ':' it printed, or NaN. */
static double run_one(const struct settings *s, const char *prog, int pl)
{
	char path[4096], sched[64];
	snprintf(path, sizeof path, "%s/%s", s->lmbench, prog);
	/* CUSTOM_SPREAD a b: lmbench's benchmark process on a, the process it forks on b.  In bw_* the
	 * benchmark process reads and its child writes; in lat_* it sends the ping and its child echoes.
	 * Ours: the producer (writer, pinger) on cpu[0], the consumer (reader, echo) on cpu[1]. */
	bool bw = prog[0] == 'b';
	snprintf(sched, sizeof sched, "CUSTOM_SPREAD %d %d", s->cpu[bw ? 1 : 0], s->cpu[bw ? 0 : 1]);
	int out[2];
	if (pipe(out) == -1)
		die("pipe");
	pid_t pid = fork_or_die();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(out[0]);
		close(out[1]);
		place(s, pl == PL_ONE ? PL_ONE : PL_SCHED); /* PL_SCHED: the bench's initial CPUs */
		if (pl == PL_TWO)
			setenv("LMBENCH_SCHED", sched, 1);
		else
			unsetenv("LMBENCH_SCHED");
		setenv("ENOUGH", "50000", 1);
		setenv("LOOP_O", "0", 1);
		setenv("TIMING_O", "0", 1);
		execl(path, prog, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(out[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(out[0]);
	const char *how = wait_child(pid);
	char *colon = strrchr(buf, ':');
	if (strcmp(how, "exited 0") != 0 || !colon) {
		fprintf(stderr, "lmbench %s (%s): %s: %s\n", prog, pl_name[pl], how, buf);
		return NAN;
	}
	return strtod(colon + 1, NULL);
}

/* Our figure of lmbench program k in placement pl: one run of ~50 ms (lmbench's ENOUGH), sized from the
 * main rounds (round trips on 2 CPUs after WARM_SECS untimed, as in the main rounds). */
static double ours(const struct settings *s, const struct results *r, int k, int pl)
{
	struct run_cfg rc = s->run;
	rc.consumer_cpu = consumer_cpu(s, pl);
	place(s, pl);
	if (k == LM_BW_PIPE || k == LM_BW_UNIX) {
		int ch = k == LM_BW_PIPE ? CH_PIPE : CH_UNIX;
		double mbps = median(r->tp[ch][pl][AT_64K], s->reps);
		long n = isnan(mbps) ? 64 : (long)(0.05 * mbps * 1e6 / (double)msg_sizes[AT_64K]);
		unsigned char *src = map_anon(MAX_MSG);
		struct outcome o = run_tput(&rc, ch, msg_sizes[AT_64K], n < 16 ? 16 : n, src, NULL);
		munmap(src, MAX_MSG);
		return o.ok ? (double)(n < 16 ? 16 : n) * (double)msg_sizes[AT_64K] / o.secs / 1e6 : NAN;
	}
	int j = k == LM_LAT_PIPE ? LAT_PIPE : LAT_UNIX;
	double us = median(r->lat[j][pl], s->reps);
	long n = isnan(us) ? 200 : (long)(0.05 / (us * 1e-6));
	n = n < 20 ? 20 : n;
	rc.warm = warm_count(lat_ch[j], pl, us);
	struct outcome o = run_lat(&rc, lat_ch[j], n);
	return o.ok ? o.secs / (double)n * 1e6 : NAN;
}

void measure_lmbench(const struct settings *s, struct results *r)
{
	printf("\n== lmbench from %s: each program run %d times in each placement, with %d runs of ours before,\n"
	       "   between and after them\n",
	       s->lmbench, LM_RUNS, LM_AROUND);
	printf("   1 CPU:     %s taskset -c %d PROGRAM\n", lm_env, s->cpu[0]);
	printf("   2 CPUs:    %s LMBENCH_SCHED='CUSTOM_SPREAD %d %d' bw_pipe (bw_unix: the same; lat_*: '... %d %d'):\n"
	       "              the writer or the pinger on CPU %d, as ours\n",
	       lm_env, s->cpu[1], s->cpu[0], s->cpu[0], s->cpu[1], s->cpu[0]);
	printf("   scheduler: %s PROGRAM\n", lm_env);
	fflush(stdout);
	for (int k = 0; k < NLM; k++)
		for (int pl = 0; pl < NPL; pl++) {
			if (!s->placed[pl])
				continue;
			int o = 0;
			for (int run = 0; run <= LM_RUNS; run++) {
				for (int i = 0; i < LM_AROUND; i++)
					r->lm_ours[k][pl][o++] = ours(s, r, k, pl);
				if (run < LM_RUNS)
					r->lm[k][pl][run] = run_one(s, lm_prog[k], pl);
			}
		}
}

/* Ours beside lmbench's, PASS when within 25 % in a placement both pin;
 * counts the PASS and MISS lines.  The scheduler's placement is shown but
 * not judged: where it puts two processes changes from run to run. */
void print_lmbench(const struct settings *s, const struct results *r, int *npass, int *nmiss)
{
	static const char *const ours_name[NLM] = {"pipe (default), 64 KiB", "unix stream, 64 KiB",
						   "pipe round trip, 1 B", "unix round trip, 1 B"};
	static const char *const unit[NLM] = {"MB/s", "MB/s", "us", "us"};
	printf("  agreement with lmbench, same machine, same placement, same sizes, measured back to back:\n");
	for (int k = 0; k < NLM; k++)
		for (int pl = 0; pl < NPL; pl++) {
			if (!s->placed[pl])
				continue;
			double m = median(r->lm_ours[k][pl], LM_OURS), lm = median(r->lm[k][pl], LM_RUNS);
			bool ok = !isnan(m) && !isnan(lm) && fabs(m / lm - 1) <= 0.25;
			double lo, hi, olo, ohi;
			minmax(r->lm[k][pl], LM_RUNS, &lo, &hi);
			minmax(r->lm_ours[k][pl], LM_OURS, &olo, &ohi);
			printf("  %s %-9s %-23s %-9s ours %8.2f [%.2f..%.2f] %-4s lmbench %8.2f [%.2f..%.2f] (%+.0f%%)\n",
			       pl == PL_SCHED ? "    " : pass(ok), lm_prog[k], ours_name[k], pl_name[pl], m, olo, ohi, unit[k],
			       lm, lo, hi, (m / lm - 1) * 100);
			csv_row(s, "lmbench", lm_prog[k], pl_key[pl], k < LM_LAT_PIPE ? 65536 : 1, unit[k], r->lm[k][pl],
				LM_RUNS);
			csv_row(s, "lmbench-ours", lm_prog[k], pl_key[pl], k < LM_LAT_PIPE ? 65536 : 1, unit[k],
				r->lm_ours[k][pl], LM_OURS);
			if (pl == PL_SCHED)
				continue;
			*npass += ok;
			*nmiss += !ok;
		}
}
