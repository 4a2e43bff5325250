/*
 * bench.h - `make bench`: lab 16's runs, timed, in rounds.
 *
 * The channels, the ring, the runs and the page/file primitives are the
 * lab's own (the sources of labs/16-speed, linked in); this tool adds the method:
 * a warm-up round that sizes every run, interleaved rounds, medians and
 * min..max, per-round ratios, the tables, the CSV and gnuplot files, the
 * verdicts on the source notes' claims and PASS/MISS per target.
 *
 *   main.c      options, the machine, the order of the experiments
 *   channels.c  throughput and round trips over every channel
 *   faults.c    the first and second touch of fresh mappings
 *   files.c     a file copied and read, warm and cold
 *   verdicts.c  the claims and the targets
 *   stats.c     medians, ratios, run sizing, the CSV rows
 *   plot.c      the gnuplot script
 */
#ifndef SPEED_BENCH_H
#define SPEED_BENCH_H

#include "chan.h"
#include "pages.h"
#include "run.h"

#include <stdbool.h>
#include <stdio.h>

#define MAXR 31 /* rounds at most (--reps) */
#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* Rows of the latency results, in the order of lat_ch (run.h). */
enum { LAT_SPIN, LAT_FUTEX, LAT_PIPE, LAT_UNIX, LAT_MQ };

/* Set by main() before the first experiment, read-only afterwards. */
struct settings {
	int reps;             /* rounds after the warm-up */
	bool pin;             /* producer on CPU 0, consumer on CPU 1 (when there are two) */
	long ncpus;
	const char *csv_path; /* or NULL */
	const char *gp_path;  /* or NULL */
	FILE *csv;            /* open on csv_path, or NULL */
	struct chan_cfg chan; /* ring, pipe and queue sizes; the rings' mapping */
	struct run_cfg run;   /* stamps, where the consumer runs, the time limit of a run */
	double t_start;       /* now() at the start: the whole bench has a time budget */
};

/* Every measurement, one value per round; a round that never ran (out of
 * time, a dead channel) is NaN, which the statistics skip. */
struct results {
	double tp[NCH][NSIZES][MAXR]; /* throughput, MB/s */
	double lat[NLAT][MAXR];       /* microseconds per round trip */
	size_t pf_pages;
	double pff[NPF][MAXR], pfs[NPF][MAXR]; /* ns per page, first and second pass */
	double pfn[NPF][MAXR];                 /* faults of the first pass (and mmap) */
	size_t file_len;
	double fc[NFC][MAXR];           /* copy, ms */
	double frw[NFR][MAXR];          /* read, warm cache, ms */
	double frc[NFR][MAXR];          /* read, cold, ms */
	int cold_reps;
	double cold_left;               /* fraction of the file still cached after the drop */
	bool cold_ok;
	long tput_apart, tput_together; /* runs that ended on different CPUs / the same CPU */
	long lat_apart, lat_together;
	int failures, timeouts;         /* wrong data, runs that timed out */
};

/* channels.c */
void measure_throughput(const struct settings *s, struct results *r, unsigned char *src, unsigned char *dst);
void print_throughput(const struct settings *s, const struct results *r);
void measure_latency(const struct settings *s, struct results *r);
void print_latency(const struct settings *s, const struct results *r);
/* faults.c */
void measure_faults(const struct settings *s, struct results *r);
void print_faults(const struct settings *s, const struct results *r, const char *dir_fs);
/* files.c */
void measure_files(const struct settings *s, struct results *r);
void print_files(const struct settings *s, const struct results *r);
/* verdicts.c */
void print_claims(const struct settings *s, const struct results *r);
void print_targets(const struct settings *s, const struct results *r);
/* plot.c */
void write_gnuplot(const struct settings *s, const struct results *r);

/* stats.c */
double median(const double *v, int n);
void minmax(const double *v, int n, double *lo, double *hi);
double ratio(const double *a, const double *b, int n); /* median over rounds of a[r]/b[r] */
void set_nan(double *v, size_t n);
long size_run(double secs, long n0, double target, long lo, long hi);
bool out_of_time(const struct settings *s);
double loadavg(void);
const char *pass(bool ok);
void csv_row(const struct settings *s, const char *exp, const char *chan, size_t size, const char *unit,
	     const double *v, int n, double vs_ring, double vs_memcpy);

#endif
