/*
 * plot.c - throughput against message size, each channel in its best
 * placement: a chart in the terminal (always), and a gnuplot script for a
 * PNG (log axes, median with min..max bars, memcpy/2 dashed) that the
 * Makefile runs when gnuplot is installed.
 */
#include "common.h"
#include "bench.h"

#include <math.h>
#include <string.h>

static const char letter[NCH] = {'m', 'f', 's', 'z', 'p', 'P', 'u', 'q'};

#define ROWS_PER_DECADE 3
#define CELL 8

void print_chart(const struct settings *s, const struct results *r)
{
	double v[NCH][NSIZES], lo = INFINITY, hi = -INFINITY;
	for (int k = 0; k < NCH; k++)
		for (size_t z = 0; z < NSIZES; z++) {
			v[k][z] = median(tp_best(s, r, k, z), s->reps);
			if (!isnan(v[k][z]) && v[k][z] > 0) {
				lo = fmin(lo, v[k][z]);
				hi = fmax(hi, v[k][z]);
			}
		}
	if (!(lo <= hi))
		return;
	double top = ceil(log10(hi)), bottom = floor(log10(lo));
	int rows = (int)(top - bottom) * ROWS_PER_DECADE;
	printf("\n== Throughput against message size, MB/s on a log scale, each channel in its best placement\n");
	for (int i = 0; i < rows; i++) {
		double upper = pow(10, top - (double)i / ROWS_PER_DECADE);
		printf("  %8.0f |", upper);
		for (size_t z = 0; z < NSIZES; z++) {
			char cell[CELL + 1];
			int n = 0;
			for (int k = 0; k < NCH && n < CELL - 1; k++) {
				if (isnan(v[k][z]) || v[k][z] <= 0)
					continue;
				int row = (int)floor((top - log10(v[k][z])) * ROWS_PER_DECADE);
				if (row == i)
					cell[n++] = letter[k];
			}
			cell[n] = '\0';
			printf(" %-*s", CELL - 1, cell);
		}
		printf("\n");
	}
	printf("  %8s +", "");
	for (size_t z = 0; z < NSIZES; z++)
		printf("%.*s", CELL, "--------");
	printf("\n  %8s  ", "");
	for (size_t z = 0; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		printf(" %-*s", CELL - 1, sz);
	}
	printf("\n  ");
	for (int k = 0; k < NCH; k++)
		printf("%c %s%s", letter[k], ch_name[k], k + 1 < NCH ? ", " : "\n");
}

void write_gnuplot(const struct settings *s, const struct results *r)
{
	const char *path = s->gp_path;
	FILE *f = fopen(path, "w");
	if (!f)
		die("fopen %s", path);
	char png[512];
	snprintf(png, sizeof png, "%.*s.png", (int)(strlen(path) > 3 ? strlen(path) - 3 : strlen(path)), path);
	fprintf(f, "# written by `make bench`; run: gnuplot %s\n", path);
	fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		   "  set terminal pngcairo size 1100,700 noenhanced\n} else {\n"
		   "  set terminal png size 1100,700 noenhanced\n}\nset output '%s'\n", png);
	fprintf(f, "set title \"One producer process to one consumer process, each channel in its best placement\\n"
		   "median and min..max of %d rounds; dashed: memcpy/2, the ceiling of a copy-in/copy-out ring\"\n",
		s->reps);
	fprintf(f, "set xrange [40:1600000]\n");
	fprintf(f, "set logscale xy\nset xlabel 'message size (bytes)'\nset ylabel 'throughput (MB/s)'\n");
	fprintf(f, "set key outside right\nset grid\n");
	fprintf(f, "set xtics (");
	for (size_t z = 0; z < NSIZES; z++) {
		char sz[32];
		size_str(msg_sizes[z], sz, sizeof sz);
		fprintf(f, "%s'%s' %zu", z ? ", " : "", sz, msg_sizes[z]);
	}
	fprintf(f, ")\n");
	for (int k = 0; k < NCH; k++) {
		fprintf(f, "$c%d << EOD\n", k);
		for (size_t z = 0; z < NSIZES; z++) {
			const double *v = tp_best(s, r, k, z);
			double lo, hi, m = median(v, s->reps);
			minmax(v, s->reps, &lo, &hi);
			if (!isnan(m))
				fprintf(f, "%zu %.3f %.3f %.3f\n", msg_sizes[z], m, lo, hi);
		}
		fprintf(f, "EOD\n");
	}
	fprintf(f, "plot ");
	for (int k = 0; k < NCH; k++)
		fprintf(f, "%s$c%d using 1:2:3:4 with yerrorlines lw 2 title '%s'", k ? ", \\\n     " : "", k, ch_name[k]);
	fprintf(f, ", \\\n     $c%d using 1:($2/2) with lines dt 2 lc rgb 'gray40' title 'memcpy/2'\n", CH_MEMCPY);
	if (fclose(f) != 0)
		die("fclose %s", path);
}
