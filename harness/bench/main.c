/*
 * speed-bench - `make bench`: is shared memory "10-100x faster than a pipe"?
 * Lab 16's channels and experiments, timed, with both processes on one CPU,
 * on two, and where the scheduler puts them.  See bench.h for the parts and
 * notes/16-speed.md for the method and what it found.
 *
 * Usage: speed-bench [--reps N] [--ring-kib N] [--chunk-kib N] [--lmbench DIR]
 *                    [--csv FILE] [--gnuplot FILE.gp]
 *
 * Exit status 1 when a channel delivered wrong data or timed out (a MISS
 * against a target is reported, not an error), 2 on a bad argument.
 */
#include "common.h"
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const pl_name[NPL] = {"1 CPU", "2 CPUs", "scheduler"};
const char *const pl_key[NPL] = {"one-cpu", "two-cpus", "scheduler"};

static const char usage[] = "usage: speed-bench [--reps N] [--ring-kib N] [--chunk-kib N] [--lmbench DIR] "
			    "[--csv FILE] [--gnuplot FILE.gp]";

static _Noreturn void bad_usage(const char *why, const char *arg)
{
	fprintf(stderr, "speed-bench: %s%s; %s\n", why, arg, usage);
	exit(2);
}

/* The value after option argv[*i], as a number from lo to hi. */
static long number(int argc, char **argv, int *i, long lo, long hi)
{
	const char *opt = argv[*i];
	if (*i + 1 >= argc)
		bad_usage("a number must follow ", opt);
	const char *v = argv[++*i];
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (end == v || *end || errno || n < lo || n > hi) {
		fprintf(stderr, "speed-bench: %s %s: not a number from %ld to %ld; %s\n", opt, v, lo, hi, usage);
		exit(2);
	}
	return n;
}

static void parse(int argc, char **argv, struct settings *s)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--csv") == 0 && i + 1 < argc)
			s->csv_path = argv[++i];
		else if (strcmp(a, "--gnuplot") == 0 && i + 1 < argc)
			s->gp_path = argv[++i];
		else if (strcmp(a, "--lmbench") == 0 && i + 1 < argc)
			s->lmbench = argv[++i];
		else if (strcmp(a, "--reps") == 0)
			s->reps = (int)number(argc, argv, &i, 1, MAXR);
		else if (strcmp(a, "--chunk-kib") == 0)
			s->chan.ring_chunk = (uint32_t)(number(argc, argv, &i, 1, RING_MAX / KiB) * (long)KiB);
		else if (strcmp(a, "--ring-kib") == 0) {
			long k = number(argc, argv, &i, 4, RING_MAX / KiB);
			if (k & (k - 1))
				bad_usage("--ring-kib: not a power of two: ", argv[i]);
			s->chan.ring_cap = (uint32_t)(k * (long)KiB);
		} else
			bad_usage("unknown argument ", a);
	}
}

/* ---- placements ------------------------------------------------------------ */

static void find_cpus(struct settings *s)
{
	if (sched_getaffinity(0, sizeof s->initial, &s->initial) == -1)
		die("sched_getaffinity");
	int n = 0;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &s->initial))
			s->cpu[n++] = c;
	if (n == 1)
		s->cpu[1] = s->cpu[0];
	s->placed[PL_ONE] = true;
	s->placed[PL_TWO] = s->placed[PL_SCHED] = n >= 2;
}

void place(const struct settings *s, int pl)
{
	if (pl == PL_SCHED) {
		if (sched_setaffinity(0, sizeof s->initial, &s->initial) == -1)
			die("sched_setaffinity");
	} else
		pin_to_cpu(s->cpu[0]);
}

int consumer_cpu(const struct settings *s, int pl)
{
	return pl == PL_ONE ? s->cpu[0] : pl == PL_TWO ? s->cpu[1] : -1;
}

static void print_machine(const struct settings *s)
{
	printf("machine: %ld CPUs online, page size %zu, work directory on %s\n", s->ncpus, page_size(), fs_type("."));
	double load0 = loadavg();
	printf("load average: %.1f on %ld CPUs%s\n", load0, s->ncpus,
	       load0 > 0.5 * (double)s->ncpus ? " -- the machine is busy: expect wide spreads; the per-round ratios suffer least"
					      : "");
	if (s->placed[PL_TWO])
		printf("placements: 1 CPU (both processes on CPU %d), 2 CPUs (producer on CPU %d, consumer on CPU %d),"
		       " scheduler (both free to run on any CPU this bench may use)\n",
		       s->cpu[0], s->cpu[0], s->cpu[1]);
	else
		printf("placements: only 1 CPU (CPU %d): this process may use one CPU, so 2 CPUs and the scheduler's"
		       " placement cannot be measured\n", s->cpu[0]);
	printf("ring: %zu KiB of data, published every %zu KiB; pipe (1 MiB): F_SETPIPE_SZ %d; posix mq pieces of %ld B,"
	       " %ld deep\n",
	       (size_t)s->chan.ring_cap / KiB, (size_t)s->chan.ring_chunk / KiB, s->chan.pipe_big, s->chan.mq_piece,
	       s->chan.mq_depth);
	printf("checks: each message carries its sequence number in its first and last 8 bytes; the zero-copy ring's"
	       " consumer sums every word in place (make test checks every byte)\n");
}

static struct results *new_results(void)
{
	struct results *r = calloc(1, sizeof *r);
	if (!r)
		die("calloc");
	set_nan(&r->tp[0][0][0][0], sizeof r->tp / sizeof(double));
	set_nan(&r->lat[0][0][0], sizeof r->lat / sizeof(double));
	set_nan(&r->ho[0][0][0], sizeof r->ho / sizeof(double));
	set_nan(&r->ho_local[0][0][0], sizeof r->ho_local / sizeof(double));
	set_nan(&r->lm[0][0][0], sizeof r->lm / sizeof(double));
	set_nan(&r->lm_ours[0][0][0], sizeof r->lm_ours / sizeof(double));
	set_nan(&r->pff[0][0], sizeof r->pff / sizeof(double));
	set_nan(&r->pfs[0][0], sizeof r->pfs / sizeof(double));
	set_nan(&r->pfn[0][0], sizeof r->pfn / sizeof(double));
	set_nan(&r->fc[0][0], sizeof r->fc / sizeof(double));
	set_nan(&r->frw[0][0], sizeof r->frw / sizeof(double));
	set_nan(&r->frc[0][0], sizeof r->frc / sizeof(double));
	return r;
}

/* Where the time went: "channels 36 s, limits 1 s, ...". */
struct timeline {
	char text[256];
	double last;
};

static void mark(struct timeline *t, const char *what)
{
	double n = now();
	size_t len = strlen(t->text);
	snprintf(t->text + len, sizeof t->text - len, "%s%s %.0f s", len ? ", " : "", what, n - t->last);
	t->last = n;
}

int main(int argc, char **argv)
{
	struct settings s = {.reps = 5, .budget = 95.0};
	chan_setup(&s.chan);
	s.chan.ring_stall = limit_s(5.0); /* a quiet machine's 5 s, scaled by MMAPLABS_SLOWNESS */
	s.chan.spin_limit = 0; /* the spinning ring spins: on one CPU that is the point */
	parse(argc, argv, &s);
	lab_begin(LAB_TITLE);
	s.t_start = now();
	s.ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	find_cpus(&s);
	s.run = (struct run_cfg){.chan = &s.chan, .check = CHECK_STAMPS, .consumer_cpu = -1, .limit = limit_s(10.0), .seed = 1};
	if (s.csv_path) {
		s.csv = fopen(s.csv_path, "w");
		if (!s.csv)
			die("fopen %s", s.csv_path);
		fprintf(s.csv, "experiment,channel,placement,size_bytes,unit,median,min,max,reps\n");
	}
	print_machine(&s);
	struct timeline t = {.last = s.t_start};
	unsigned char *src = map_anon(MAX_MSG), *dst = map_anon(MAX_MSG);
	struct results *r = new_results();

	measure_channels(&s, r, src, dst);
	mark(&t, "channels");
	print_throughput(&s, r);
	print_latency(&s, r);
	place(&s, PL_ONE);
	measure_limits(&s, r);
	mark(&t, "ceilings");
	print_limits(&s, r);
	measure_faults(&s, r);
	mark(&t, "page faults");
	print_faults(&s, r, fs_type("."));
	measure_files(&s, r);
	mark(&t, "files");
	print_files(&s, r);
	if (s.lmbench) {
		measure_lmbench(&s, r);
		mark(&t, "lmbench");
	}
	place(&s, PL_SCHED);
	printf("\ntime: %s\n", t.text);
	print_chart(&s, r);
	print_claims(&s, r);
	print_targets(&s, r);

	if (s.csv) {
		if (fclose(s.csv) != 0)
			die("fclose %s", s.csv_path);
		printf("\nCSV: %s\n", s.csv_path);
	}
	if (s.gp_path)
		write_gnuplot(&s, r);
	int status = r->failures || r->timeouts ? 1 : 0;
	free(r);
	munmap(src, MAX_MSG);
	munmap(dst, MAX_MSG);
	chan_teardown(&s.chan);
	if (fflush(stdout) == EOF || ferror(stdout))
		die("cannot write the report");
	return status;
}
