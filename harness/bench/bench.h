/*
 * bench.h - `make bench`: lab 16's runs, timed, in rounds, in every placement.
 *
 * The channels, the rings, the runs and the page/file primitives are the
 * lab's own (the sources of labs/16-speed, linked in); this tool adds the
 * method: a warm-up round that sizes every run, interleaved rounds, medians
 * and min..max, per-round ratios, each channel measured with both processes
 * on one CPU, on two CPUs and where the scheduler puts them, verdicts on
 * each channel's best placement, the physical ceilings, the tables, the CSV,
 * the charts, PASS/MISS per target, and (optional) lmbench side by side.
 *
 *   main.c      options, the machine, the placements, the order of the experiments
 *   channels.c  throughput and round trips over every channel and placement
 *   limits.c    the ceilings: memcpy, and lines handed between two CPUs
 *   lmbench.c   lmbench's bw_pipe, bw_unix, lat_pipe, lat_unix beside ours
 *   faults.c    the first and second touch of fresh mappings
 *   files.c     a file copied and read, warm and cold
 *   verdicts.c  the claims and the targets
 *   stats.c     medians, ratios, best placements, run sizing, the CSV rows
 *   plot.c      the terminal chart and the gnuplot script
 */
#ifndef SPEED_BENCH_H
#define SPEED_BENCH_H

#include "chan.h"
#include "pages.h"
#include "run.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>

#define MAXR 31 /* rounds at most (--reps) */
#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define AT_64K 5 /* msg_sizes[5] is 64 KiB; 5..7 are the bulk sizes */
/* Round trips that sleep, on two CPUs, first run this long untimed (run_cfg.warm): on a
 * 2-CPU VM with the haltpoll idle driver, 1-byte round trips across CPUs measured 38-44 us
 * in the first ~50 ms after the echo process started and 53-67 us after (lmbench's
 * lat_unix, which times after its own calibration runs: 57-67 us).  The spinning ring
 * never sleeps: nothing to warm.  The scheduler's placement is left as it comes. */
#define WARM_SECS 0.06
/* The warm-up count for round trips over channel kind that take us microseconds each in placement pl. */
long warm_count(int kind, int pl, double us);

/* Rows of the latency results, in the order of lat_ch (run.h). */
enum { LAT_SPIN, LAT_FUTEX, LAT_PIPE, LAT_UNIX, LAT_MQ };

/* Where producer and consumer run. */
enum { PL_ONE, PL_TWO, PL_SCHED, NPL };
extern const char *const pl_name[NPL]; /* "1 CPU", "2 CPUs", "scheduler" */
extern const char *const pl_key[NPL];  /* for the CSV */

/* Set by main() before the first experiment, read-only afterwards. */
struct settings {
	int reps;             /* rounds after the warm-up */
	long ncpus;
	int cpu[2];           /* the CPUs of the pinned placements: the first two this process may use */
	bool placed[NPL];     /* the placements measured (one CPU only: PL_ONE) */
	cpu_set_t initial;    /* the affinity the bench started with: the scheduler's placement */
	const char *csv_path; /* or NULL */
	const char *gp_path;  /* or NULL */
	const char *lmbench;  /* lmbench's bin directory, or NULL */
	FILE *csv;            /* open on csv_path, or NULL */
	struct chan_cfg chan; /* ring, pipe and queue sizes; the rings' mapping */
	struct run_cfg run;   /* stamps, the time limit of a run */
	double t_start;       /* now() at the start: the whole bench has a time budget */
	double budget;        /* seconds: no new round after this */
};

/* A ring's worth of lines handed from one CPU to the other (limits.c). */
enum { HO_FILL, HO_SUM, HO_COPY_IN, HO_COPY_OUT, NHO };
extern const char *const ho_name[NHO];

/* lmbench's figures, in the placements (lmbench.c). */
enum { LM_BW_PIPE, LM_BW_UNIX, LM_LAT_PIPE, LM_LAT_UNIX, NLM };
#define LM_RUNS 2                         /* lmbench runs of each program in each placement */
#define LM_AROUND 2                       /* our runs before, between and after them */
#define LM_OURS (LM_AROUND * (LM_RUNS + 1))

/* Every measurement, one value per round; a round that never ran (out of
 * time, a dead channel, a placement not measured) is NaN, which the
 * statistics skip. */
struct results {
	double tp[NCH][NPL][NSIZES][MAXR]; /* throughput, MB/s; memcpy: PL_ONE only */
	double lat[NLAT][NPL][MAXR];       /* microseconds per round trip */
	long runs[NPL], together[NPL];     /* runs, and those that ended with both on the same CPU */
	double ho[NHO][NSIZES][MAXR];      /* a ring's worth of messages handed between CPUs, each half's MB/s */
	double ho_local[2][NSIZES][MAXR];  /* the same on one CPU, the halves in turn: fill+sum, copy in+out */
	double ceiling[NSIZES];            /* memcpy on one core, MB/s: the fastest of many short bursts */
	double lm[NLM][NPL][LM_RUNS];      /* lmbench: MB/s, or microseconds; NaN when not run */
	double lm_ours[NLM][NPL][LM_OURS]; /* ours, measured before, between and after the lmbench runs */
	size_t pf_pages;
	double pff[NPF][MAXR], pfs[NPF][MAXR]; /* ns per page, first and second pass */
	double pfn[NPF][MAXR];                 /* faults of the first pass (and mmap) */
	size_t file_len;
	double fc[NFC][MAXR];  /* copy, ms */
	double frw[NFR][MAXR]; /* read, warm cache, ms */
	double frc[NFR][MAXR]; /* read, cold, ms */
	int cold_reps;
	double cold_left; /* fraction of the file still cached after the drop */
	bool cold_ok;
	int failures, timeouts; /* wrong data, runs that timed out */
};

/* main.c: run in placement pl from now on (the producer; the consumer's CPU is consumer_cpu()). */
void place(const struct settings *s, int pl);
int consumer_cpu(const struct settings *s, int pl);
/* channels.c */
void measure_channels(const struct settings *s, struct results *r, unsigned char *src, unsigned char *dst);
void print_throughput(const struct settings *s, const struct results *r);
void print_latency(const struct settings *s, const struct results *r);
/* limits.c */
void measure_limits(const struct settings *s, struct results *r);
void print_limits(const struct settings *s, const struct results *r);
/* lmbench.c */
void measure_lmbench(const struct settings *s, struct results *r);
void print_lmbench(const struct settings *s, const struct results *r, int *pass, int *miss);
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
void print_chart(const struct settings *s, const struct results *r);
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
/* The placement of channel k at size z with the highest median throughput;
 * of latency row j with the lowest median.  -1 when nothing was measured. */
int best_tp(const struct settings *s, const struct results *r, int k, size_t z);
int best_lat(const struct settings *s, const struct results *r, int j);
/* The rounds of channel k at size z in its best placement. */
const double *tp_best(const struct settings *s, const struct results *r, int k, size_t z);
const double *lat_best(const struct settings *s, const struct results *r, int j);
/* The better of the two pipes at size z, in its best placement. */
int best_pipe(const struct settings *s, const struct results *r, size_t z);
void csv_row(const struct settings *s, const char *exp, const char *chan, const char *placement, size_t size,
	     const char *unit, const double *v, int n);

#endif
