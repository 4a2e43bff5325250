/*
 * files.c - a file copied three ways and read two ways (the primitives of
 * labs/16-speed/pages.c), in the page cache and after dropping it.
 *
 * 128 MiB, or an eighth of the available memory on a small machine.
 * Every copy is compared with the source, every read's sum with the first.
 */
#include "common.h"
#include "bench.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Drop the file's clean pages from the page cache (no root needed);
 * returns the fraction still resident afterwards. */
static double drop_cache(const char *path, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	int e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (e) {
		close(fd);
		return 1.0;
	}
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap for mincore");
	size_t np = (len + page_size() - 1) / page_size(), in = 0;
	unsigned char *vec = malloc(np);
	if (!vec)
		die("malloc");
	if (mincore(p, len, vec) == -1)
		die("mincore");
	for (size_t i = 0; i < np; i++)
		in += vec[i] & 1;
	free(vec);
	munmap(p, len);
	close(fd);
	return (double)in / (double)np;
}

static double timed_read(int how, const char *path, size_t len, unsigned char *iobuf, uint64_t want,
			 struct results *r)
{
	double t0 = now();
	uint64_t sum = read_file(how, path, len, iobuf);
	double ms = (now() - t0) * 1e3;
	if (sum != want) {
		r->failures++;
		fprintf(stderr, "%s: wrong sum\n", fr_name[how]);
	}
	return ms;
}

void measure_files(const struct settings *s, struct results *r)
{
	size_t len = 128 * MiB;
	long avail = sysconf(_SC_AVPHYS_PAGES);
	if (avail > 0 && (size_t)avail * page_size() / 8 < len)
		len = (size_t)avail * page_size() / 8 / MiB * MiB;
	r->file_len = len;
	char src[128], dst[128];
	unique_name("src", src, sizeof src);
	unique_name("dst", dst, sizeof dst);
	cleanup_unlink(dst);
	write_file(src, len, 1, true);
	unsigned char *iobuf = map_anon(IO_BUF);
	uint64_t want = read_file(FR_READ, src, len, iobuf);
	for (int round = -1; round < s->reps; round++) {
		if (out_of_time(s))
			break;
		for (int k = 0; k < NFC; k++) {
			double t0 = now();
			copy_file(k, src, dst, len, iobuf);
			double t = now() - t0;
			if (!same_file(src, dst, len)) {
				r->failures++;
				fprintf(stderr, "%s: the copy differs\n", fc_name[k]);
			}
			if (unlink(dst) == -1)
				die("unlink");
			if (round >= 0)
				r->fc[k][round] = t * 1e3;
		}
		for (int k = 0; k < NFR; k++) {
			double ms = timed_read(k, src, len, iobuf, want, r);
			if (round >= 0)
				r->frw[k][round] = ms;
		}
	}
	/* Cold: POSIX_FADV_DONTNEED drops the clean pages; 3 rounds. */
	r->cold_reps = 3;
	r->cold_ok = true;
	for (int round = 0; round < r->cold_reps; round++)
		for (int k = 0; k < NFR; k++) {
			double left = drop_cache(src, len);
			if (left > r->cold_left || round == 0)
				r->cold_left = left;
			if (left > 0.05)
				r->cold_ok = false;
			r->frc[k][round] = timed_read(k, src, len, iobuf, want, r);
		}
	munmap(iobuf, IO_BUF);
	if (unlink(src) == -1)
		die("unlink");
}

/* One row: median [min .. max] ms, MB/s, and the ratio to the reference row. */
static void row(const char *name, const double *v, const double *ref, int n, size_t len)
{
	double lo, hi, m = median(v, n);
	minmax(v, n, &lo, &hi);
	printf("  %-28s %10.1f  [%8.1f .. %8.1f]  %8.0f  %14.2f\n", name, m, lo, hi, (double)len / m / 1e3,
	       ratio(v, ref, n));
}

static void heading(const char *what, const char *vs)
{
	printf("  %-28s %10s  [%8s .. %8s]  %8s  %14s\n", what, "ms median", "min", "max", "MB/s", vs);
}

void print_files(const struct settings *s, const struct results *r)
{
	int reps = s->reps;
	size_t len = r->file_len;
	printf("\n== Files: a %zu MiB file in the page cache (nothing is fsync'ed: page-cache work only)\n", len / MiB);
	heading("copy", "x read/write");
	for (int k = 0; k < NFC; k++) {
		row(fc_name[k], r->fc[k], r->fc[FC_RW], reps, len);
		csv_row(s, "file-copy", fc_key[k], pl_key[PL_ONE], len, "ms", r->fc[k], reps);
	}
	heading("read (warm cache)", "x read()");
	for (int k = 0; k < NFR; k++) {
		row(fr_name[k], r->frw[k], r->frw[FR_READ], reps, len);
		csv_row(s, "file-read-warm", fr_key[k], pl_key[PL_ONE], len, "ms", r->frw[k], reps);
	}
	heading("read (cold: FADV_DONTNEED)", "x read()");
	for (int k = 0; k < NFR; k++) {
		row(fr_name[k], r->frc[k], r->frc[FR_READ], r->cold_reps, len);
		csv_row(s, "file-read-cold", fr_key[k], pl_key[PL_ONE], len, "ms", r->frc[k], r->cold_reps);
	}
	printf("   cold: POSIX_FADV_DONTNEED (no root needed) left %.0f%% of the file cached%s\n", r->cold_left * 100,
	       r->cold_ok ? "; on a VM the host may still cache the disk, so \"cold\" can be faster than a real disk"
			  : "; the drop did not work here, so these are not cold reads");
}
