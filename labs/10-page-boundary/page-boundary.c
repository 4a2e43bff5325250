/*
 * page-boundary - which pages of a file mapping you can touch when the
 * mapping is longer than the file.
 *
 * Usage: page-boundary [--offset-pages=N] [--file-pages=F] [--gap=G] [--map-pages=M]
 *        (defaults 0, 2, 99, 3; `make lab-10`)
 *
 * Story: a file of F pages minus G bytes (2 pages - 99 bytes) is mapped M
 * pages (3) long, starting N pages into the file.  Every page of the mapping that holds at least one
 * byte of the file is accessible as a whole, including the tail past EOF,
 * which reads as zeros and whose writes never reach the file.  A page of the
 * mapping with no file byte behind it raises SIGBUS; the page after the
 * mapping raises SIGSEGV.  The lab replays the source notes' own loop over
 * the page edges (an 8-byte struct { char name[4]; int age; }, the same
 * printed lines), catching the fault where their program died with "Bus
 * error", then maps every page and checks the file with read().  Strips
 * (strip.h) draw the file, the mapping and each page's touch as it goes.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "strip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	char name[4];
	int age;
} people; /* the source notes' record: 8 bytes */

static long MAP_PAGES = 3, TAIL_GAP = 99, FILE_PAGES = 2;

/* The notes' statement p_map[k].age = 100, with a fault reported instead of
 * killing us.  The probe writes the field's first byte: the int lies in one
 * page, so that byte decides for all four. */
static struct probe set_age(people *p_map, size_t k)
{
	struct probe r = probe_write(&p_map[k].age, 100);
	if (r.sig == 0)
		p_map[k].age = 100;
	return r;
}

/* What happens on mapping page `page` (1-based; MAP_PAGES + 1 is the hole). */
static const char *expect(size_t page, size_t covered_pages)
{
	return page <= covered_pages ? "ok" : page <= (size_t)MAP_PAGES ? "SIGBUS (BUS_ADRERR)" : "SIGSEGV (SEGV_MAPERR)";
}

/* "2 pages - 99 bytes" */
static const char *size_text(long pages, long gap)
{
	static char buf[2][64]; /* two in one say() */
	static int which;
	char *b = buf[which++ % 2];
	snprintf(b, sizeof buf[0], "%ld page%s - %ld bytes", pages, pages == 1 ? "" : "s", gap);
	return b;
}

static const char *const nth[] = { "", "first", "second", "third", "fourth" };

/* The file's size now, by its path (the lab closes its descriptor as the notes do). */
static off_t path_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) == -1)
		die("stat %s", path);
	return st.st_size;
}

int main(int argc, char **argv)
{
	long n = 0;
	const struct lab_option options[] = {
		{ "--offset-pages=N", &n, 0, 1000000, .help = "map the file from page N on" },
		{ "--file-pages=F", &FILE_PAGES, 1, 4, .help = "the file ends in its page F ..." },
		{ "--gap=G", &TAIL_GAP, 1, 1000000, .help = "... G bytes before that page's end (less than a page)" },
		{ "--map-pages=M", &MAP_PAGES, 1, 6, .help = "map M pages of it" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	size_t ps = page_size(), per_page = ps / sizeof(people);
	if ((size_t)TAIL_GAP >= ps)
		die_msg("page-boundary: --gap=%ld: must be less than a page (%zu bytes)", TAIL_GAP, ps);
	lab_begin(LAB_TITLE);
	size_t maps = (size_t)MAP_PAGES;
	off_t size = (off_t)FILE_PAGES * (off_t)ps - TAIL_GAP, offset = (off_t)n * (off_t)ps;
	/* The part of the file the mapping covers, in bytes and in whole pages. */
	size_t covered = size > offset ? (size_t)(size - offset) : 0;
	if (covered > maps * ps)
		covered = maps * ps;
	size_t covered_pages = (covered + ps - 1) / ps, tail = covered_pages * ps - covered;
	char path[128];
	unique_name("file", path, sizeof path);

	step("Create a file of %s the way the notes do: seek, write one ' '.", size_text(FILE_PAGES, TAIL_GAP));
	int fd = create_file(path, 0);
	if (lseek(fd, size - 1, SEEK_SET) == -1)
		die("lseek");
	if (write(fd, " ", 1) != 1)
		die("write");
	say("file size: %s {pagesize=%zu}", size_text(FILE_PAGES, (long)(FILE_PAGES * (off_t)ps - file_size(fd))), ps);
	check(file_size(fd) == size, "the file ends %ld bytes before the end of its %s page", TAIL_GAP, nth[FILE_PAGES]);

	step("Map %zu page%s of it MAP_SHARED from file page %ld; a hole is kept after them.", maps, maps == 1 ? "" : "s", n);
	/* Reserve one page more than we map and free it afterwards: nothing
	 * else can then sit right after the mapping. */
	char *hole = mmap(NULL, (maps + 1) * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED)
		die("mmap reserve");
	/* BEGIN SOLUTION */
	char *map = mmap(hole, maps * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, offset);
	if (map == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *map = hole; /* TODO: map `maps` pages of fd from `offset`, MAP_SHARED, read-write, into the reserved pages (MAP_FIXED) */
	if (munmap(hole + maps * ps, ps) == -1)
		die("munmap guard");
	if (close(fd) == -1) /* as the notes do: the mapping keeps the file */
		die("close");
	people *p_map = (people *)map;
	if (covered_pages > 1)
		say("from file page %ld on the file has %zu pages - %zu bytes: mapping pages 1-%zu hold file bytes",
		    n, covered_pages, tail, covered_pages);
	else if (covered_pages == 1)
		say("from file page %ld on the file has 1 page - %zu bytes: mapping page 1 holds file bytes", n, tail);
	else
		say("from file page %ld on the file has no bytes: no mapping page holds file bytes", n);
	say("closed the descriptor as the notes do; the mapping keeps the file open");
	if (covered < maps * ps)
		check(map == hole, "mmap of %zu page%s succeeds although the file is shorter", maps, maps == 1 ? "" : "s");
	else
		check(map == hole, "mmap of %zu page%s succeeds; the file goes on past them", maps, maps == 1 ? "" : "s");
	struct strip pic = { .base = map, .columns = maps + 1, .file_offset = offset };

	step("Before writing anything, read the end of the last page that holds file bytes.");
	if (covered_pages > 0) {
		struct probe last = probe_read(map + covered - 1);
		size_t zeros = 0;
		bool faulted = last.sig != 0;
		for (size_t i = covered; i < covered_pages * ps && !faulted; i++) {
			struct probe r = probe_read(map + i);
			faulted = r.sig != 0;
			zeros += !faulted && r.value == 0;
		}
		say("page %zu: last file byte '%c', then %zu of the %zu bytes past EOF read 0", covered_pages,
		    last.sig == 0 ? last.value : '?', zeros, tail);
		check(last.sig == 0 && last.value == ' ' && !faulted && zeros == tail,
		      "the tail of the page past EOF is accessible and reads as zeros");
	} else {
		say("no page holds file bytes, so there is no tail past EOF to read");
	}
	pic.file_size = path_size(path);
	strip_say(&pic);

	step("Replay the notes' loop: for i = 1, 2, ... set age = 100 in the last two records of page i and the first of page i+1.");
	struct probe r = { 0 };
	size_t fault_page = 0, done[30], ndone = 0; /* the records whose age was set */
	for (size_t i = 1; i < 10 && fault_page == 0; i++) {
		size_t k[3] = { per_page * i - 2, per_page * i - 1, per_page * i };
		for (int j = 0; j < 3 && fault_page == 0; j++) {
			char label[64];
			snprintf(label, sizeof label, "i=%zu, %s of page %zu:", i,
				 j == 0 ? "last record but one" : j == 1 ? "last record" : "first record", j < 2 ? i : i + 1);
			r = set_age(p_map, k[j]);
			if (r.sig != 0) {
				fault_page = j < 2 ? i : i + 1;
				say("%-37s %s  <- where the notes' program dies with \"%s\"", label, probe_str(r),
				    r.sig == SIGBUS ? "Bus error" : "Segmentation fault");
				break;
			}
			done[ndone++] = k[j];
			if (j == 1)
				say("%-37s access page %zu edge over, now begin to access page %zu", label, i, i + 1);
			else
				say("%-37s access page %zu over", label, j == 0 ? i : i + 1);
		}
	}
	if (covered_pages < maps)
		check(r.sig == SIGBUS && r.code == BUS_ADRERR && r.addr_matches && fault_page == covered_pages + 1,
		      "the first fault is SIGBUS (BUS_ADRERR) on page %zu, the first page with no file byte behind it",
		      covered_pages + 1);
	else
		check(r.sig == SIGSEGV && r.code == SEGV_MAPERR && r.addr_matches && fault_page == maps + 1,
		      "the first fault is SIGSEGV (SEGV_MAPERR) on page %zu, past the mapping: every page of it holds file bytes",
		      maps + 1);

	step("Probe the first and the last byte of every mapped page and of the page after the mapping.");
	bool as_expected = true;
	for (size_t page = 1; page <= maps + 1; page++) {
		struct probe first = probe_read(map + (page - 1) * ps), last = probe_read(map + page * ps - 1);
		char first_s[32];
		snprintf(first_s, sizeof first_s, "%s", probe_str(first));
		say("page %zu%s: first byte %s, last byte %s", page, page > maps ? " (after the mapping)" : "",
		    first_s, probe_str(last));
		as_expected &= !strcmp(first_s, expect(page, covered_pages)) &&
			       !strcmp(probe_str(last), expect(page, covered_pages));
	}
	check(as_expected, "pages with file bytes work, pages without are SIGBUS, past the mapping is SIGSEGV");

	step("Write 'X' over the tail past EOF, fsync, then look at the file with fstat and read().");
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		die("open %s", path);
	size_t written = 0;
	for (size_t i = covered; i < covered_pages * ps; i++)
		written += probe_write(map + i, 'X').sig == 0;
	say("wrote 'X' into %zu of the %zu bytes past EOF", written, tail);
	pic.file_size = file_size(fd);
	strip_say(&pic);
	off_t before = file_size(fd);
	/* BEGIN SOLUTION */
	if (fsync(fd) == -1)
		die("fsync");
	/* END SOLUTION */
	//> /* TODO: force the write-back of the file */
	off_t after = file_size(fd);
	off_t whole = FILE_PAGES * (off_t)ps;
	say("file size after all the writes: %s; after fsync: %s", size_text(FILE_PAGES, (long)(whole - before)),
	    size_text(FILE_PAGES, (long)(whole - after)));
	check(before == size && after == size, "writing through the mapping never changes the file size");
	char c;
	ssize_t at_eof = pread(fd, &c, 1, size);
	say("read() at offset %ld page%s - %ld (EOF): %zd bytes", FILE_PAGES, FILE_PAGES == 1 ? "" : "s", TAIL_GAP, at_eof);
	/* What read() must return: zeros, the ' ' at the end, and age = 100 wherever
	 * the loop's writes landed inside the file. */
	unsigned char *want = calloc(1, (size_t)size), *file = malloc((size_t)size);
	if (!want || !file)
		die("malloc");
	want[size - 1] = ' ';
	int age = 100;
	for (size_t d = 0; d < ndone; d++)
		for (size_t b = 0; b < sizeof age; b++) {
			off_t at = offset + (off_t)(done[d] * sizeof(people) + offsetof(people, age) + b);
			if (at < size)
				want[at] = ((unsigned char *)&age)[b];
		}
	ssize_t got = pread(fd, file, (size_t)size, 0);
	bool no_x = memchr(file, 'X', (size_t)size) == NULL;
	say("read() of the whole file: %s, %s, %s the loop's ages inside the file",
	    got == size ? size_text(FILE_PAGES, TAIL_GAP) : "a different count of", no_x ? "no 'X'" : "some 'X'",
	    got == size && !memcmp(file, want, (size_t)size) ? "holding exactly" : "NOT holding exactly");
	check(at_eof == 0 && got == size && !memcmp(file, want, (size_t)size),
	      "only bytes inside the file reach it: the 'X's past EOF do not, read() stops at EOF");
	free(want);
	free(file);

	step("Ask for a mapping at an offset that is not a whole number of pages.");
	errno = 0;
	void *q = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, (off_t)sizeof(people)); /* EINVAL */
	say("mmap at offset 8 bytes: %s", q == MAP_FAILED ? errname(errno) : "succeeded");
	check(q == MAP_FAILED && errno == EINVAL, "the offset must be a multiple of the page size (EINVAL)");
	if (q != MAP_FAILED)
		munmap(q, ps);

	step("Clean up.");
	if (munmap(map, maps * ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
