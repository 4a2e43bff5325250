/*
 * stats.c - medians, ranges and ratios over rounds, the size of a run,
 * the time budget, the CSV rows.
 */
#include "common.h"
#include "bench.h"

#include <math.h>
#include <stdlib.h>

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of the values that are not NaN (NaN when there are none). */
double median(const double *v, int n)
{
	double t[64];
	int m = 0;
	for (int i = 0; i < n && m < 64; i++)
		if (!isnan(v[i]))
			t[m++] = v[i];
	if (m == 0)
		return NAN;
	qsort(t, (size_t)m, sizeof t[0], cmp_dbl);
	return m % 2 ? t[m / 2] : (t[m / 2 - 1] + t[m / 2]) / 2;
}

void minmax(const double *v, int n, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int i = 0; i < n; i++)
		if (!isnan(v[i])) {
			if (v[i] < *lo)
				*lo = v[i];
			if (v[i] > *hi)
				*hi = v[i];
		}
	if (*lo > *hi)
		*lo = *hi = NAN;
}

/* Both values of a round were measured in that round, under the same noise. */
double ratio(const double *a, const double *b, int n)
{
	double t[64];
	int m = 0;
	for (int i = 0; i < n && m < 64; i++)
		t[m++] = (isnan(a[i]) || isnan(b[i]) || b[i] == 0) ? NAN : a[i] / b[i];
	return median(t, m);
}

void set_nan(double *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = NAN;
}

/* n so that one run takes about target seconds, from a warm-up run of n0. */
long size_run(double secs, long n0, double target, long lo, long hi)
{
	double n = secs > 0 ? (double)n0 * target / secs : (double)hi;
	if (n < (double)lo)
		n = (double)lo;
	if (n > (double)hi)
		n = (double)hi;
	return (long)n;
}

/* The bench stays under two minutes: no new round after the budget. */
bool out_of_time(const struct settings *s)
{
	return now() - s->t_start > s->budget;
}

double loadavg(void)
{
	double l = NAN;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = NAN;
		fclose(f);
	}
	return l;
}

const char *pass(bool ok)
{
	return ok ? "PASS" : "MISS";
}

int best_tp(const struct settings *s, const struct results *r, int k, size_t z)
{
	int best = -1;
	for (int pl = 0; pl < NPL; pl++) {
		double m = median(r->tp[k][pl][z], s->reps);
		if (!isnan(m) && (best < 0 || m > median(r->tp[k][best][z], s->reps)))
			best = pl;
	}
	return best;
}

int best_lat(const struct settings *s, const struct results *r, int j)
{
	int best = -1;
	for (int pl = 0; pl < NPL; pl++) {
		double m = median(r->lat[j][pl], s->reps);
		if (!isnan(m) && (best < 0 || m < median(r->lat[j][best], s->reps)))
			best = pl;
	}
	return best;
}

/* (No best placement: nothing was measured, so any placement's rounds are all NaN.) */
const double *tp_best(const struct settings *s, const struct results *r, int k, size_t z)
{
	int pl = best_tp(s, r, k, z);
	return r->tp[k][pl < 0 ? PL_ONE : pl][z];
}

const double *lat_best(const struct settings *s, const struct results *r, int j)
{
	int pl = best_lat(s, r, j);
	return r->lat[j][pl < 0 ? PL_ONE : pl];
}

int best_pipe(const struct settings *s, const struct results *r, size_t z)
{
	double a = median(tp_best(s, r, CH_PIPE, z), s->reps), b = median(tp_best(s, r, CH_PIPE_BIG, z), s->reps);
	return !isnan(b) && (isnan(a) || b > a) ? CH_PIPE_BIG : CH_PIPE;
}

void csv_row(const struct settings *s, const char *exp, const char *chan, const char *placement, size_t size,
	     const char *unit, const double *v, int n)
{
	if (!s->csv)
		return;
	double lo, hi, m = median(v, n);
	if (isnan(m))
		return;
	minmax(v, n, &lo, &hi);
	fprintf(s->csv, "%s,%s,%s,%zu,%s,%.6g,%.6g,%.6g,%d\n", exp, chan, placement, size, unit, m, lo, hi, n);
}
