/*
 * errors - the table of bad mmap()/munmap() calls, one cause per case.
 *
 * Usage: errors            (run by `make lab-13`)
 *
 * Story: study notes list many "rules" for mmap and munmap.  Each step here
 * breaks exactly one of them -- every other argument is valid -- and prints
 * what the kernel answers (the errno name, or that the call worked) beside
 * what the notes said.  The errno the lab expects is written next to each
 * call, as in the Linux Test Project.  Some rules hold (length 0, an
 * unaligned offset), some have the wrong errno (a read-only descriptor is
 * EACCES, not "invalid parameter"), some are no rules at all (offset 0,
 * fd 0, munmap of part of a mapping or with another length).  Faults are
 * caught with the probe; guard holes make them deterministic.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t ps;

/* Run one mmap() case and print "mmap(what) = ENAME" or "= a mapping". */
static bool mmap_case(const char *what, size_t len, int prot, int flags, int fd, off_t off,
		      int want, const char *notes)
{
	errno = 0;
	void *q = mmap(NULL, len, prot, flags, fd, off);
	int err = q == MAP_FAILED ? errno : 0;
	say("mmap(%s) = %s", what, err ? errname(err) : "a mapping");
	say("the notes: %s", notes);
	if (q != MAP_FAILED && munmap(q, len) == -1)
		die("munmap");
	return check(err == want, "expected %s", want ? errname(want) : "success");
}

/* How many lines of /proc/self/maps overlap [lo, hi). */
static int mappings_in(const char *lo, const char *hi)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		die("open /proc/self/maps");
	char line[512];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long a, b;
		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < (unsigned long)hi && b > (unsigned long)lo)
			n++;
	}
	fclose(f);
	return n;
}

/* A PROT_NONE reservation of n pages: nothing else can be placed inside. */
static char *reserve(size_t n)
{
	char *r = mmap(NULL, n * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		die("mmap reserve");
	return r;
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	ps = page_size();
	char path[128];
	unique_name("errors", path, sizeof path);

	step("Set up: a two-page file, opened read-write, read-only and write-only.");
	int rw = create_file(path, (off_t)(2 * ps));
	int ro = open(path, O_RDONLY | O_CLOEXEC), wo = open(path, O_WRONLY | O_CLOEXEC);
	if (ro == -1 || wo == -1)
		die("open");
	say("file: 2 pages; a valid call is mmap(NULL, 1 page, PROT_READ|PROT_WRITE, MAP_SHARED, rw, 0)");
	const int RW = PROT_READ | PROT_WRITE;
	mmap_case("the valid call", ps, RW, MAP_SHARED, rw, 0,
		  0, "the 'safe' way to call it");

	step("length 0.");
	mmap_case("length 0", 0, RW, MAP_SHARED, rw, 0,
		  EINVAL, "\"invalid parameter\", length must be > 0");

	step("An offset that is not a multiple of the page size.");
	mmap_case("offset 2 bytes", ps, RW, MAP_SHARED, rw, 2,
		  EINVAL, "offset must be a multiple of the page size");

	step("Offset 0.");
	mmap_case("offset 0", ps, RW, MAP_SHARED, rw, 0,
		  0, "offset \"must be > 0\"");

	step("A negative offset (one page before the start).");
	mmap_case("offset -1 page", ps, RW, MAP_SHARED, rw, -(off_t)ps,
		  EOVERFLOW, "(not mentioned)");

	step("A read-only descriptor with PROT_WRITE and MAP_SHARED.");
	mmap_case("O_RDONLY fd, PROT_READ|PROT_WRITE, MAP_SHARED", ps, RW, MAP_SHARED, ro, 0,
		  EACCES, "\"invalid parameter\"");

	step("The same read-only descriptor with MAP_PRIVATE.");
	mmap_case("O_RDONLY fd, PROT_READ|PROT_WRITE, MAP_PRIVATE", ps, RW, MAP_PRIVATE, ro, 0,
		  0, "allowed: copy-on-write never writes the file");

	step("The read-write descriptor mapped with less: PROT_READ only.");
	mmap_case("O_RDWR fd, PROT_READ, MAP_SHARED", ps, PROT_READ, MAP_SHARED, rw, 0,
		  0, "\"file permissions and mapping permissions must be the same\"");

	step("A write-only descriptor, PROT_WRITE only.");
	mmap_case("O_WRONLY fd, PROT_WRITE, MAP_SHARED", ps, PROT_WRITE, MAP_SHARED, wo, 0,
		  EACCES, "\"Permission denied\": a shared mapping needs read access");
	mmap_case("O_WRONLY fd, PROT_WRITE, MAP_PRIVATE", ps, PROT_WRITE, MAP_PRIVATE, wo, 0,
		  EACCES, "(not mentioned)");

	step("Neither MAP_SHARED nor MAP_PRIVATE (flags 0).");
	mmap_case("flags 0", ps, RW, 0, rw, 0,
		  EINVAL, "one of MAP_SHARED and MAP_PRIVATE is required");

	step("Both MAP_SHARED and MAP_PRIVATE.");
	/* MAP_SHARED|MAP_PRIVATE == 3 == MAP_SHARED_VALIDATE since Linux 4.15 */
	say("MAP_SHARED|MAP_PRIVATE is %s MAP_SHARED_VALIDATE",
	    (MAP_SHARED | MAP_PRIVATE) == MAP_SHARED_VALIDATE ? "the same number as" : "not");
	char *v = mmap(NULL, ps, RW, MAP_SHARED | MAP_PRIVATE, rw, 0); /* works: shared */
	if (v == MAP_FAILED)
		die("mmap MAP_SHARED|MAP_PRIVATE");
	v[0] = 'S';
	char c = 0;
	if (pread(rw, &c, 1, 0) != 1)
		die("pread");
	say("mmap(MAP_SHARED|MAP_PRIVATE) = a mapping; a store shows in read(): %s", c == 'S' ? "yes" : "no");
	check(c == 'S', "accepted, and it is a shared mapping (\"pick exactly one\" is not enforced this way)");
	if (munmap(v, ps) == -1)
		die("munmap");
	say("MAP_SHARED_VALIDATE refuses any flag the file cannot honour (MAP_SYNC needs a DAX device)");
	mmap_case("MAP_SHARED_VALIDATE|MAP_SYNC", ps, RW, MAP_SHARED_VALIDATE | MAP_SYNC, rw, 0,
		  EOPNOTSUPP, "(not mentioned)");

	step("A file on descriptor 0 (\"fd must be > 0\").");
	/* BEGIN SOLUTION */
	if (close(0) == -1)
		die("close stdin");
	int zero = dup(rw); /* the lowest free number: 0 */
	if (zero == -1)
		die("dup");
	/* END SOLUTION */
	//> int zero = dup(rw); /* TODO: make this dup() land on descriptor 0 (close stdin first) */
	say("dup() gave descriptor %d", zero);
	check(zero == 0, "the file is on descriptor 0");
	mmap_case("fd 0 (a dup of the file)", ps, RW, MAP_SHARED, zero, 0,
		  0, "\"the file descriptor must be > 0\"");
	mmap_case("fd -1 without MAP_ANONYMOUS", ps, RW, MAP_SHARED, -1, 0,
		  EBADF, "(not mentioned)");

	step("A 1-byte mapping of a 1-byte file (\"length is allocated in whole pages\").");
	if (ftruncate(rw, 1) == -1)
		die("ftruncate");
	char *hole = reserve(2);
	/* BEGIN SOLUTION */
	char *p = mmap(hole, 1, RW, MAP_SHARED | MAP_FIXED, rw, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *p = hole; /* TODO: map 1 byte of rw MAP_SHARED, read-write, at hole (MAP_FIXED) */
	if (munmap(hole + ps, ps) == -1) /* the page after it: a hole */
		die("munmap");
	say("the notes: \"allocated in whole 4k\"; a 1-byte file still gives one whole accessible page");
	struct probe last = probe_write(p + ps - 1, 'L');
	say("write p[1 page - 1]: %s", probe_str(last));
	struct probe past = probe_read(p + ps);
	say("read p[1 page]: %s", probe_str(past));
	check(last.sig == 0 && past.sig == SIGSEGV && past.code == SEGV_MAPERR,
	      "the mapping was rounded up to one whole page, and it ends there");
	say("file size afterwards: %lld byte(s)", (long long)file_size(rw));
	check(file_size(rw) == 1, "the store past the end of the file did not grow it");
	if (ftruncate(rw, (off_t)(2 * ps)) == -1)
		die("ftruncate");

	step("p[1 page] past a one-page mapping, without the hole: a neighbour is mapped there.");
	char *nb = mmap(p + ps, ps, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (nb == MAP_FAILED)
		die("mmap neighbour");
	say("the notes: p[4k] past a 4k mapping is a segmentation fault");
	struct probe over = probe_write(p + ps, 'N');
	say("write p[1 page]: %s; the neighbour's first byte is now '%c'", probe_str(over), nb[0]);
	check(over.sig == 0 && nb[0] == 'N',
	      "no SIGSEGV: the overflow silently wrote the neighbour (\"it segfaults\" needs a hole)");
	if (munmap(nb, ps) == -1)
		die("munmap");

	step("munmap(p + 100): not page-aligned.");
	errno = 0;
	int r = munmap(p + 100, ps); /* EINVAL: addr not page-aligned */
	say("munmap(p + 100, 1 page) = %s", r == 0 ? "0" : errname(errno));
	say("the notes: \"the address must be the one mmap returned\"");
	check(r == -1 && errno == EINVAL, "expected EINVAL");
	errno = 0;
	r = munmap(p, 0); /* EINVAL: length 0 */
	say("munmap(p, 0) = %s", r == 0 ? "0" : errname(errno));
	check(r == -1 && errno == EINVAL, "expected EINVAL");

	step("Access after munmap (nothing is mapped in between).");
	if (munmap(p, ps) == -1)
		die("munmap");
	struct probe after = probe_read(p); /* the probe maps nothing */
	say("read p[0] after munmap: %s", probe_str(after));
	say("the notes: after munmap, touching the old address is a segmentation fault");
	check(after.sig == SIGSEGV && after.code == SEGV_MAPERR, "expected SIGSEGV (SEGV_MAPERR)");

	step("munmap of the middle page of a three-page mapping.");
	/* PROT_NONE pages on both sides: no neighbour can merge with it */
	char *five = reserve(5);
	char *three = mmap(five + ps, 3 * ps, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (three == MAP_FAILED)
		die("mmap");
	say("lines in /proc/self/maps for the range: %d", mappings_in(three, three + 3 * ps));
	say("the notes: munmap's address must be the one mmap returned, its length the mmap length");
	/* BEGIN SOLUTION */
	r = munmap(three + ps, ps); /* works: page-aligned, inside */
	/* END SOLUTION */
	//> r = -1; /* TODO: unmap only the middle page of three */
	say("munmap(p + 1 page, 1 page) = %s", r == 0 ? "0" : errname(errno));
	int pieces = mappings_in(three, three + 3 * ps);
	say("lines in /proc/self/maps for the range: %d", pieces);
	struct probe mid = probe_read(three + ps), first = probe_read(three), end = probe_read(three + 2 * ps);
	say("first page: %s, middle: %s, last: %s", probe_str(first), probe_str(mid), probe_str(end));
	check(r == 0 && pieces == 2 && mid.sig == SIGSEGV && first.sig == 0 && end.sig == 0,
	      "it works and splits the mapping in two: any page-aligned sub-range can be unmapped");
	if (munmap(five, 5 * ps) == -1) /* the whole range, hole included: fine */
		die("munmap");

	step("munmap with a length other than the mmap length.");
	char *four = reserve(4);
	char *two = mmap(four, 2 * ps, RW, MAP_SHARED | MAP_FIXED, rw, 0);
	if (two == MAP_FAILED)
		die("mmap");
	say("the notes: the length must be the one given to mmap");
	r = munmap(two, 1); /* works: 1 byte is rounded up to the page */
	say("two-page mapping, munmap(p, 1 byte) = %s", r == 0 ? "0" : errname(errno));
	first = probe_read(two), end = probe_read(two + ps);
	say("first page: %s, second page: %s", probe_str(first), probe_str(end));
	check(r == 0 && first.sig == SIGSEGV && end.sig == 0,
	      "not an error: the first whole page is gone, the second page stays");
	r = munmap(two, 4 * ps); /* works: covers the rest and a never-mapped hole */
	say("munmap(p, 4 pages), longer than what is left = %s", r == 0 ? "0" : errname(errno));
	check(r == 0, "not an error either: unmapping nothing is fine");
	if (munmap(four, 4 * ps) == -1)
		die("munmap");

	step("Clean up.");
	if (close(zero) == -1 || close(ro) == -1 || close(wo) == -1 || close(rw) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("closed and removed the file");
	return lab_end();
}
