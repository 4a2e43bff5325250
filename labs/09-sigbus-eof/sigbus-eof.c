/*
 * sigbus-eof - what happens when you touch a file mapping where the file
 * has no bytes.
 *
 * Usage: sigbus-eof [--map-pages=P] [--grow-pages=K] [--short-by=T] [--value=V]
 *        (run by `make lab-9`; the defaults 1, 1, 0, 65 are the public transcript)
 *
 * Story: an empty file can be mapped (P pages); touching the mapping is
 * SIGBUS, not SIGSEGV, because the page exists in the address space but the
 * file has nothing behind it.  Growing the file with ftruncate (to K pages
 * minus T bytes) makes the pages that now hold file bytes work, a byte V
 * written through the mapping is what read() returns; shrinking it under a
 * live mapping brings SIGBUS back.  A length of 0 is refused up front
 * (EINVAL).  One byte past the end of the *mapping* is a different fault:
 * SIGSEGV with SEGV_MAPERR, until mremap makes the mapping longer.  A new
 * POSIX shm object has 0 bytes too, and faults the same way.  A strip
 * (strip.h) draws the file, the mapping and each page's touch at each stage.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "strip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* "one page", "3 pages", "2 pages - 100 bytes": a size in words. */
static const char *pages_text(long pages, long short_by)
{
	static char buf[2][64];
	static int which;
	char *b = buf[which++ % 2];
	if (pages == 1 && short_by == 0)
		snprintf(b, sizeof buf[0], "one page");
	else
		snprintf(b, sizeof buf[0], "%ld page%s", pages, pages == 1 ? "" : "s");
	if (short_by)
		snprintf(b + strlen(b), sizeof buf[0] - strlen(b), " - %ld bytes", short_by);
	return b;
}

/* Each page of the mapping: does reading it work?  The pages that should are
 * those holding a file byte (the first `ok_pages`); the rest raise SIGBUS. */
static bool pages_as_expected(const char *p, size_t pages, size_t ok_pages)
{
	bool all = true;
	for (size_t i = 0; i < pages; i++) {
		struct probe r = probe_read(p + i * page_size());
		all &= i < ok_pages ? r.sig == 0 : r.sig == SIGBUS && r.code == BUS_ADRERR;
	}
	return all;
}

int main(int argc, char **argv)
{
	long P = 1, K = 1, T = 0, V = 'A';
	const struct lab_option options[] = {
		{ "--map-pages=P", &P, 1, 4, .help = "map P pages of the empty file" },
		{ "--grow-pages=K", &K, 1, 4, .help = "then grow the file to K pages ..." },
		{ "--short-by=T", &T, 0, 1000000, .help = "... minus T bytes (less than a page)" },
		{ "--value=V", &V, 33, 126, .help = "the byte (a printable character code) written through the mapping" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	size_t ps = page_size();
	if ((size_t)T >= ps)
		die_msg("sigbus-eof: --short-by=%ld: must be less than a page (%zu bytes)", T, ps);
	lab_begin(LAB_TITLE);
	size_t np = (size_t)P;
	off_t grown = (off_t)K * (off_t)ps - T;
	char path[128];
	unique_name("empty", path, sizeof path);

	step("Create an empty file and map %s of it MAP_SHARED.", pages_text(P, 0));
	int fd = create_file(path, 0);
	say("file size: %lld bytes {fs=%s}", (long long)file_size(fd), fs_type("."));

	/* Reserve one page more than we map, put the file mapping in the first
	 * pages and free the last: the page after the mapping is then certainly
	 * a hole. */
	char *hole = mmap(NULL, (np + 1) * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED)
		die("mmap reserve");
	/* BEGIN SOLUTION */
	char *p = mmap(hole, np * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *p = hole; /* TODO: map np pages of fd MAP_SHARED, read-write, into the first reserved pages (MAP_FIXED) */
	if (munmap(hole + np * ps, ps) == -1)
		die("munmap guard");
	check(p == hole, "mmap of a 0-byte file succeeds: the kernel does not look at the size yet");
	struct strip pic = { .base = p, .columns = np + 1, .file_offset = 0 };

	step("Read the first byte of the mapping.");
	struct probe r = probe_read(p);
	say("read p[0]: %s", probe_str(r));
	check(r.sig == SIGBUS && r.code == BUS_ADRERR && r.addr_matches,
	      "SIGBUS with BUS_ADRERR at p[0]: the page is mapped, the file has no byte there");
	pic.file_size = file_size(fd);
	strip_say(&pic);

	step("Grow the file to %s with ftruncate and touch the same byte again.", pages_text(K, T));
	if (ftruncate(fd, grown) == -1)
		die("ftruncate");
	pic.file_size = file_size(fd);
	if (pic.file_size % (off_t)ps == 0)
		say("file size: %lld page(s)", (long long)(pic.file_size / (off_t)ps));
	else
		say("file size: %lld page(s) - %lld bytes", (long long)(pic.file_size / (off_t)ps + 1),
		    (long long)(ps - (size_t)(pic.file_size % (off_t)ps)));
	r = probe_read(p);
	say("read p[0]: %s, value %d", probe_str(r), r.value);
	check(r.sig == 0 && r.value == 0, "the read works and sees the zero the new file page holds");
	r = probe_write(p, (unsigned char)V);
	say("write p[0] = '%c': %s", (char)V, probe_str(r));
	char c = 0;
	if (pread(fd, &c, 1, 0) != 1)
		die("pread");
	check(r.sig == 0 && c == (char)V, "the write works and read() of the file sees '%c'", (char)V);
	size_t file_pages = (size_t)((grown + (off_t)ps - 1) / (off_t)ps);
	strip_say(&pic);
	if (np > file_pages) {
		char which[64];
		snprintf(which, sizeof which, np == file_pages + 1 ? "page %zu" : "pages %zu-%zu", file_pages + 1, np);
		check(pages_as_expected(p, np, file_pages),
		      "%s of the mapping, past the file's last page, still raise%s SIGBUS", which,
		      np == file_pages + 1 ? "s" : "");
	}

	step("Shrink the file back to 0 bytes while the mapping is still there.");
	if (ftruncate(fd, 0) == -1)
		die("ftruncate");
	say("file size: %lld bytes", (long long)file_size(fd));
	r = probe_read(p);
	say("read p[0]: %s", probe_str(r));
	check(r.sig == SIGBUS && r.code == BUS_ADRERR,
	      "SIGBUS is back: truncation removed the page from the mapping too");
	pic.file_size = file_size(fd);
	strip_say(&pic);

	step("Ask for a mapping of length 0.");
	errno = 0;
	void *q = mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0); /* EINVAL: length 0 */
	say("mmap(length 0): %s", q == MAP_FAILED ? errname(errno) : "succeeded");
	check(q == MAP_FAILED && errno == EINVAL, "a length of 0 is EINVAL, whatever the file size");
	if (q != MAP_FAILED)
		munmap(q, 0);

	if (np == 1)
		step("Touch the first byte after the one-page mapping (a hole is reserved there).");
	else
		step("Touch the first byte after the %zu-page mapping (a hole is reserved there).", np);
	if (ftruncate(fd, (off_t)((np + 1) * ps)) == -1)
		die("ftruncate");
	say("file size: %zu pages, so the file is not what stops us", np + 1);
	r = probe_read(p + np * ps);
	say("read p[%zu page%s]: %s", np, np == 1 ? "" : "s", probe_str(r));
	check(r.sig == SIGSEGV && r.code == SEGV_MAPERR,
	      "past the end of the mapping it is SIGSEGV (SEGV_MAPERR), not SIGBUS");
	pic.file_size = file_size(fd);
	strip_say(&pic);

	step("Make the mapping one page longer with mremap, then shorter again.");
	/* BEGIN SOLUTION */
	char *longer = mremap(p, np * ps, (np + 1) * ps, MREMAP_MAYMOVE);
	if (longer == MAP_FAILED)
		die("mremap");
	/* END SOLUTION */
	//> char *longer = p; /* TODO: grow the mapping by one page (mremap, it may move) */
	p = longer;
	pic.base = p;
	r = probe_read(p + np * ps);
	say("mremap to %zu pages: read p[%zu page%s]: %s", np + 1, np, np == 1 ? "" : "s", probe_str(r));
	strip_say(&pic);
	check(r.sig == 0, "a mapping's length is not fixed: after mremap the page past its old end works");
	char *shorter = mremap(p, (np + 1) * ps, np * ps, 0);
	if (shorter == MAP_FAILED)
		die("mremap");
	r = probe_read(p + np * ps);
	say("mremap back to %s: read p[%zu page%s]: %s", pages_text(P, 0), np, np == 1 ? "" : "s", probe_str(r));
	check(r.sig == SIGSEGV && r.code == SEGV_MAPERR, "shrunk in place, the page past its end is a hole again");

	step("A new POSIX shm object has 0 bytes too: map one page of it before ftruncate.");
	char name[128];
	unique_shm_name("empty", name, sizeof name);
	int sfd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (sfd == -1)
		die("shm_open %s", name);
	cleanup_shm_unlink(name);
	say("shm object size: %lld bytes", (long long)file_size(sfd));
	char *s = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (s == MAP_FAILED)
		die("mmap shm");
	r = probe_read(s);
	say("read s[0]: %s", probe_str(r));
	check(r.sig == SIGBUS && r.code == BUS_ADRERR,
	      "SIGBUS as for the file: a reader that maps before the creator's ftruncate dies of it");
	if (munmap(s, ps) == -1 || close(sfd) == -1 || shm_unlink(name) == -1)
		die("munmap/close/shm_unlink");

	step("Clean up.");
	if (munmap(p, np * ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("unmapped, closed and removed the file and the shm object");
	return lab_end();
}
