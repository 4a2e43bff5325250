/*
 * faults.c - what a page fault costs: a fresh 32 MiB mapping of each kind,
 * one byte written per page, twice (touch_twice() of labs/16-speed/pages.c),
 * a warm-up and then one run of every kind per round.
 */
#include "common.h"
#include "bench.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

void measure_faults(const struct settings *s, struct results *r)
{
	size_t npages = 32 * MiB / page_size();
	r->pf_pages = npages;
	char path[128];
	unique_name("faults", path, sizeof path);
	write_file(path, npages * page_size(), 1, true);
	int file_fd = open(path, O_RDWR | O_CLOEXEC), zero_fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (file_fd == -1 || zero_fd == -1)
		die("open");
	for (int round = -1; round < s->reps; round++)
		for (int k = 0; k < NPF; k++) {
			struct pf_result x = touch_twice(k, npages, zero_fd, file_fd);
			if (round < 0)
				continue;
			r->pff[k][round] = x.first_ns;
			r->pfs[k][round] = x.second_ns;
			r->pfn[k][round] = (double)(x.first_faults + x.map_faults);
		}
	close(file_fd);
	close(zero_fd);
	if (unlink(path) == -1)
		die("unlink");
}

void print_faults(const struct settings *s, const struct results *r, const char *dir_fs)
{
	int reps = s->reps;
	size_t npages = r->pf_pages;
	printf("\n== Page faults: write one byte per page of a fresh mapping of %zu pages (32 MiB), twice\n", npages);
	printf("   (anonymous/dev-zero private: MADV_NOHUGEPAGE, so 4 KiB pages; file on %s)\n", dir_fs);
	printf("  %-26s %12s %10s %10s %14s %12s\n", "mapping", "1st ns/page", "faults", "ns/fault",
	       "x anon private", "2nd ns/page");
	for (int k = 0; k < NPF; k++) {
		double m = median(r->pff[k], reps), f = median(r->pfn[k], reps);
		double per = f > 0 ? m * (double)npages / f : NAN;
		printf("  %-26s %12.0f %10.0f %10.0f %14.2f %12.1f\n", pf_name[k], m, f, per,
		       ratio(r->pff[k], r->pff[FT_ANON], reps), median(r->pfs[k], reps));
		csv_row(s, "fault-first", pf_key[k], pl_key[PL_ONE], npages, "ns/page", r->pff[k], reps);
		csv_row(s, "fault-second", pf_key[k], pl_key[PL_ONE], npages, "ns/page", r->pfs[k], reps);
	}
	printf("   (MAP_POPULATE rows: the mmap call itself, which faults everything in, plus the first pass)\n");
}
