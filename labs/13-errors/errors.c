/*
 * errors - the table of bad mmap()/munmap() calls, one cause per case.
 *
 * Usage: errors [--bad-offset=B] [--small-bytes=N] [--shift=S] [--split-pages=M]
 *               [--hole-page=K] [--unmap-bytes=L]
 *        (defaults 2, 1, 100, 3, 1, 1; run by `make lab-13`)
 *
 * Story: study notes list many "rules" for mmap and munmap.  Each step here
 * breaks exactly one of them -- every other argument is valid -- and prints
 * what the kernel answers (the errno name, or that the call worked) beside
 * what the notes said.  The errno the lab expects is written next to each
 * call, as in the Linux Test Project.  Some rules hold (length 0, an
 * unaligned offset), some have the wrong errno (a read-only descriptor is
 * EACCES, not "invalid parameter"), some are no rules at all (offset 0,
 * fd 0, munmap of part of a mapping or with another length).  Faults are
 * caught with the probe; guard holes make them deterministic.  Last, what
 * the protections mean (PROT_NONE, PROT_READ, PROT_WRITE alone) and what
 * the address argument does (a hint; MAP_FIXED replaces, MAP_FIXED_NOREPLACE
 * refuses).  The parameters choose the sizes, offsets and pages involved.
 */
#include "extras.h"
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
static long B = 2, N = 1, S = 100, M = 3, K = 1, L = 1, V = 42, G = 1024;

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

/* "the middle page", "the first page", "page 3" of an m-page mapping */
static const char *page_name(long k, long m, bool article)
{
	static char buf[32];
	if (2 * k + 1 == m)
		return article ? "the middle page" : "middle";
	if (k == 0 || k == m - 1)
		snprintf(buf, sizeof buf, "%s%s", article ? "the " : "", k == 0 ? "first page" : "last");
	else
		snprintf(buf, sizeof buf, "page %ld", k + 1);
	if (article && k == m - 1)
		snprintf(buf, sizeof buf, "the last page");
	return buf;
}

static const char *bytes(long n)
{
	static char buf[2][32];
	static int i;
	i ^= 1;
	snprintf(buf[i], sizeof buf[i], "%ld byte%s", n, n == 1 ? "" : "s");
	return buf[i];
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
	const struct lab_option options[] = {
		{ "--bad-offset=B", &B, 1, 4000, .help = "the unaligned offset of step 3, in bytes" },
		{ "--small-bytes=N", &N, 1, 4000, .help = "step 13 maps N bytes of an N-byte file" },
		{ "--shift=S", &S, 1, 4000, .help = "step 15 unmaps from S bytes into the mapping" },
		{ "--split-pages=M", &M, 3, 6, .help = "step 17 maps M pages ..." },
		{ "--hole-page=K", &K, 0, 2, .help = "... and unmaps page K (from 0)" },
		{ "--unmap-bytes=L", &L, 1, 4000, .help = "step 18 unmaps L bytes of a two-page mapping" },
		{ "--code-value=V", &V, 0, 65535, .help = "step 21's copied function returns V" },
		{ "--big-mib=G", &G, 1, 2048, .help = "step 23 maps G MiB" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
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
	char what[64];
	snprintf(what, sizeof what, "offset %s", bytes(B));
	mmap_case(what, ps, RW, MAP_SHARED, rw, (off_t)B,
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

	step("A %ld-byte mapping of a %ld-byte file (\"length is allocated in whole pages\").", N, N);
	if (ftruncate(rw, (off_t)N) == -1)
		die("ftruncate");
	char *hole = reserve(2);
	/* BEGIN SOLUTION */
	char *p = mmap(hole, (size_t)N, RW, MAP_SHARED | MAP_FIXED, rw, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *p = hole; /* TODO: map N bytes of rw MAP_SHARED, read-write, at hole (MAP_FIXED) */
	if (munmap(hole + ps, ps) == -1) /* the page after it: a hole */
		die("munmap");
	say("the notes: \"allocated in whole 4k\"; a %ld-byte file still gives one whole accessible page", N);
	struct probe last = probe_write(p + ps - 1, 'L');
	say("write p[1 page - 1]: %s", probe_str(last));
	struct probe past = probe_read(p + ps);
	say("read p[1 page]: %s", probe_str(past));
	check(last.sig == 0 && past.sig == SIGSEGV && past.code == SEGV_MAPERR,
	      "the mapping was rounded up to one whole page, and it ends there");
	say("file size afterwards: %lld byte(s)", (long long)file_size(rw));
	check(file_size(rw) == N, "the store past the end of the file did not grow it");
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

	step("munmap(p + %ld): not page-aligned.", S);
	errno = 0;
	int r = munmap(p + S, ps); /* EINVAL: addr not page-aligned */
	say("munmap(p + %ld, 1 page) = %s", S, r == 0 ? "0" : errname(errno));
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

	static const char *const count[] = { "zero", "one", "two", "three", "four", "five", "six" };
	step("munmap of %s of a %s-page mapping.", page_name(K, M, true), count[M]);
	/* PROT_NONE pages on both sides: no neighbour can merge with it */
	char *fence = reserve((size_t)M + 2);
	size_t mlen = (size_t)M * ps;
	char *many = mmap(fence + ps, mlen, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (many == MAP_FAILED)
		die("mmap");
	say("lines in /proc/self/maps for the range: %d", mappings_in(many, many + mlen));
	say("the notes: munmap's address must be the one mmap returned, its length the mmap length");
	/* BEGIN SOLUTION */
	r = munmap(many + (size_t)K * ps, ps); /* works: page-aligned, inside */
	/* END SOLUTION */
	//> r = -1; /* TODO: unmap only page K of many */
	say("munmap(p + %ld page%s, 1 page) = %s", K, K == 1 ? "" : "s", r == 0 ? "0" : errname(errno));
	int pieces = mappings_in(many, many + mlen);
	say("lines in /proc/self/maps for the range: %d", pieces);
	char line[256];
	int n = 0;
	bool as_expected = true;
	for (long i = 0; i < M; i++) {
		struct probe t = probe_read(many + (size_t)i * ps);
		n += snprintf(line + n, sizeof line - (size_t)n, "%s%s: %s", i ? ", " : "", page_name(i, M, false),
			      probe_str(t));
		as_expected &= i == K ? t.sig == SIGSEGV : t.sig == 0;
	}
	say("%s", line);
	check(r == 0 && pieces == (K > 0) + (K < M - 1) && as_expected,
	      "it works and %s: any page-aligned sub-range can be unmapped",
	      K > 0 && K < M - 1 ? "splits the mapping in two" : "shortens the mapping");
	if (munmap(fence, mlen + 2 * ps) == -1) /* the whole range, hole included: fine */
		die("munmap");

	step("munmap with a length other than the mmap length.");
	char *four = reserve(4);
	char *two = mmap(four, 2 * ps, RW, MAP_SHARED | MAP_FIXED, rw, 0);
	if (two == MAP_FAILED)
		die("mmap");
	say("the notes: the length must be the one given to mmap");
	r = munmap(two, (size_t)L); /* works: L bytes are rounded up to the page */
	say("two-page mapping, munmap(p, %s) = %s", bytes(L), r == 0 ? "0" : errname(errno));
	struct probe first = probe_read(two), end = probe_read(two + ps);
	say("first page: %s, second page: %s", probe_str(first), probe_str(end));
	check(r == 0 && first.sig == SIGSEGV && end.sig == 0,
	      "not an error: the first whole page is gone, the second page stays");
	r = munmap(two, 4 * ps); /* works: covers the rest and a never-mapped hole */
	say("munmap(p, 4 pages), longer than what is left = %s", r == 0 ? "0" : errname(errno));
	check(r == 0, "not an error either: unmapping nothing is fine");
	if (munmap(four, 4 * ps) == -1)
		die("munmap");

	step("What the protections allow: one page of the file mapped PROT_NONE, PROT_READ, PROT_WRITE.");
	char *none = mmap(NULL, ps, PROT_NONE, MAP_SHARED, rw, 0);
	char *rdonly = mmap(NULL, ps, PROT_READ, MAP_SHARED, rw, 0);
	char *wronly = mmap(NULL, ps, PROT_WRITE, MAP_SHARED, rw, 0);
	if (none == MAP_FAILED || rdonly == MAP_FAILED || wronly == MAP_FAILED)
		die("mmap");
	struct probe nr = probe_read(none), nw = probe_write(none, 'n');
	struct probe rr = probe_read(rdonly), rwr = probe_write(rdonly, 'r');
	struct probe ww = probe_write(wronly, 'w'), wr = probe_read(wronly);
	say("PROT_NONE:  read %s, write %s", probe_str(nr), probe_str(nw));
	say("PROT_READ:  read %s, write %s", probe_str(rr), probe_str(rwr));
	say("PROT_WRITE: write %s, read %s", probe_str(ww), probe_str(wr));
	check(nr.sig == SIGSEGV && nr.code == SEGV_ACCERR && nw.sig == SIGSEGV && nw.code == SEGV_ACCERR,
	      "PROT_NONE: no access at all; SEGV_ACCERR says the page is mapped but the access is not allowed");
	check(rr.sig == 0 && rwr.sig == SIGSEGV && rwr.code == SEGV_ACCERR, "PROT_READ: loads work, a store is SEGV_ACCERR");
	check(ww.sig == 0 && wr.sig == 0 && wr.value == 'w',
	      "PROT_WRITE alone: the store works, and so does a load (x86-64 cannot map write-only; mmap(2) allows it)");
	if (munmap(none, ps) == -1 || munmap(rdonly, ps) == -1 || munmap(wronly, ps) == -1)
		die("munmap");

	step("The address argument: a hint, MAP_FIXED and MAP_FIXED_NOREPLACE.");
	char *range = reserve(4);
	char *free_page = range + ps; /* the lower page of a two-page gap: mmap(NULL, ...) would take the upper one */
	if (munmap(free_page, 2 * ps) == -1)
		die("munmap");
	char *got = mmap(free_page, ps, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (got == MAP_FAILED)
		die("mmap");
	got[0] = 'O';
	say("hint = a free page: mmap returned %s", got == free_page ? "the hint" : "another address");
	check(got == free_page, "a hint over a free range is taken as it is");
	char *again = mmap(free_page, ps, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (again == MAP_FAILED)
		die("mmap");
	say("hint = that page, now mapped: mmap returned %s; the old page still holds '%c'",
	    again == free_page ? "the hint" : "another address", free_page[0] ? free_page[0] : '0');
	check(again != free_page && free_page[0] == 'O', "a hint over a mapping is only a hint: elsewhere, nothing replaced");
	if (munmap(again, ps) == -1)
		die("munmap");
	errno = 0;
	char *noreplace = mmap(free_page, ps, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	int err = noreplace == MAP_FAILED ? errno : 0;
	say("MAP_FIXED_NOREPLACE over it: %s; the old page still holds '%c'", err ? errname(err) : "a mapping",
	    free_page[0] ? free_page[0] : '0');
	check(err == EEXIST && free_page[0] == 'O', "MAP_FIXED_NOREPLACE refuses: EEXIST");
	if (noreplace != MAP_FAILED && noreplace != free_page && munmap(noreplace, ps) == -1) /* valgrind ignores the flag */
		die("munmap");
	char *fixed = mmap(free_page, ps, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (fixed == MAP_FAILED)
		die("mmap MAP_FIXED");
	say("MAP_FIXED over it: mmap returned %s; the page now holds '%c'", fixed == free_page ? "the address" : "another",
	    fixed[0] ? fixed[0] : '0');
	check(fixed == free_page && fixed[0] == 0,
	      "MAP_FIXED replaces the old mapping silently: its contents are gone, no error (why it is not recommended)");
	if (munmap(range, 4 * ps) == -1)
		die("munmap");

	step("PROT_EXEC: machine code of a function returning %ld, copied into a PROT_READ|PROT_WRITE page, called.", V);
	prot_exec(ps, V);

	step("A mapping far larger than the memory behind it: %ld MiB; then one larger than the address space.", G);
	big_mapping(ps, G);

	step("Clean up.");
	if (close(zero) == -1 || close(ro) == -1 || close(wo) == -1 || close(rw) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("closed and removed the file");
	return lab_end();
}
