/*
 * speed-bench - `make bench`: is shared memory "10-100x faster than a pipe"?
 * Lab 16's channels and experiments, timed.  See bench.h for the parts and
 * notes/16-speed.md for the method and what it found.
 *
 * Usage: speed-bench [--pin] [--reps N] [--ring-kib N] [--chunk-kib N]
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

static const char usage[] =
	"usage: speed-bench [--pin] [--reps N] [--ring-kib N] [--chunk-kib N] [--csv FILE] [--gnuplot FILE.gp]";

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
		if (strcmp(a, "--pin") == 0)
			s->pin = true;
		else if (strcmp(a, "--csv") == 0 && i + 1 < argc)
			s->csv_path = argv[++i];
		else if (strcmp(a, "--gnuplot") == 0 && i + 1 < argc)
			s->gp_path = argv[++i];
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

static void print_machine(const struct settings *s)
{
	printf("machine: %ld CPUs online, page size %zu, work directory on %s\n", s->ncpus, page_size(), fs_type("."));
	double load0 = loadavg();
	printf("load average: %.1f on %ld CPUs%s\n", load0, s->ncpus,
	       load0 > (double)s->ncpus ? " -- the machine is busy: expect wide spreads; the per-round ratios suffer least"
					: "");
	printf("placement: %s\n", s->pin ? "pinned: producer on CPU 0, consumer on CPU 1 (--pin)"
					 : "left to the scheduler (make bench ARGS=--pin pins to CPUs 0 and 1)");
	printf("ring: %zu KiB of data; pipe (1 MiB): F_SETPIPE_SZ %d; posix mq pieces of %ld B, %ld deep\n",
	       (size_t)s->chan.ring_cap / KiB, s->chan.pipe_big, s->chan.mq_piece, s->chan.mq_depth);
	printf("checks: each message carries its sequence number in its first and last 8 bytes (make test checks every byte)\n");
}

static struct results *new_results(void)
{
	struct results *r = calloc(1, sizeof *r);
	if (!r)
		die("calloc");
	set_nan(&r->tp[0][0][0], sizeof r->tp / sizeof(double));
	set_nan(&r->lat[0][0], sizeof r->lat / sizeof(double));
	set_nan(&r->pff[0][0], sizeof r->pff / sizeof(double));
	set_nan(&r->pfs[0][0], sizeof r->pfs / sizeof(double));
	set_nan(&r->pfn[0][0], sizeof r->pfn / sizeof(double));
	set_nan(&r->fc[0][0], sizeof r->fc / sizeof(double));
	set_nan(&r->frw[0][0], sizeof r->frw / sizeof(double));
	set_nan(&r->frc[0][0], sizeof r->frc / sizeof(double));
	return r;
}

int main(int argc, char **argv)
{
	struct settings s = {.reps = 9};
	chan_setup(&s.chan);
	s.chan.ring_stall = 5.0;
	parse(argc, argv, &s);
	lab_begin(LAB_TITLE);
	s.t_start = now();
	s.ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool two_cpus = s.pin && s.ncpus >= 2;
	s.run = (struct run_cfg){
		.chan = &s.chan, .check = CHECK_STAMPS, .consumer_cpu = two_cpus ? 1 : -1, .limit = 10.0};
	if (s.csv_path) {
		s.csv = fopen(s.csv_path, "w");
		if (!s.csv)
			die("fopen %s", s.csv_path);
		fprintf(s.csv, "experiment,channel,size_bytes,unit,median,min,max,reps,x_ring,x_memcpy\n");
	}
	print_machine(&s);
	pin_to_cpu(two_cpus ? 0 : -1);
	unsigned char *src = map_anon(MAX_MSG), *dst = map_anon(MAX_MSG);
	struct results *r = new_results();

	measure_throughput(&s, r, src, dst);
	print_throughput(&s, r);
	measure_latency(&s, r);
	print_latency(&s, r);
	measure_faults(&s, r);
	print_faults(&s, r, fs_type("."));
	measure_files(&s, r);
	print_files(&s, r);
	printf("\n== Where the two processes ran (sched_getcpu at the end of each run)\n");
	printf("  throughput runs: %ld on different CPUs, %ld on the same CPU\n", r->tput_apart, r->tput_together);
	printf("  latency runs:    %ld on different CPUs, %ld on the same CPU\n", r->lat_apart, r->lat_together);
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
