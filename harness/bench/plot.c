/*
 * plot.c - the gnuplot script of the throughput table: throughput against
 * message size, log axes, median with min..max bars, one line per channel.
 * The Makefile runs gnuplot on it when gnuplot is installed.
 */
#include "common.h"
#include "bench.h"

#include <math.h>
#include <string.h>

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
		   "  set terminal pngcairo size 1000,650 noenhanced\n} else {\n"
		   "  set terminal png size 1000,650 noenhanced\n}\nset output '%s'\n", png);
	fprintf(f, "set title \"One producer process to one consumer process\\nmedian and min..max of %d rounds, %s\"\n",
		s->reps, s->pin ? "pinned to CPUs 0 and 1" : "placement left to the scheduler");
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
			double lo, hi, m = median(r->tp[k][z], s->reps);
			minmax(r->tp[k][z], s->reps, &lo, &hi);
			if (!isnan(m))
				fprintf(f, "%zu %.3f %.3f %.3f\n", msg_sizes[z], m, lo, hi);
		}
		fprintf(f, "EOD\n");
	}
	fprintf(f, "plot ");
	for (int k = 0; k < NCH; k++)
		fprintf(f, "%s$c%d using 1:2:3:4 with yerrorlines lw 2 title '%s'", k ? ", \\\n     " : "", k, ch_name[k]);
	fprintf(f, "\n");
	if (fclose(f) != 0)
		die("fclose %s", path);
}
