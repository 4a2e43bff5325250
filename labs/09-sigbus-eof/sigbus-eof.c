/*
 * sigbus-eof - what happens when you touch a file mapping where the file
 * has no bytes.
 *
 * Usage: sigbus-eof            (run by `make lab-9`)
 *
 * Story: an empty file can be mapped; touching the mapping is SIGBUS, not
 * SIGSEGV, because the page exists in the address space but the file has
 * nothing behind it.  Growing the file with ftruncate makes the same access
 * work; shrinking it under a live mapping brings SIGBUS back.  A length of
 * 0 is refused up front (EINVAL).  One byte past the end of the *mapping*
 * is a different fault: SIGSEGV with SEGV_MAPERR.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	char path[128];
	unique_name("empty", path, sizeof path);

	step("Create an empty file and map one page of it MAP_SHARED.");
	int fd = create_file(path, 0);
	say("file size: %lld bytes {fs=%s}", (long long)file_size(fd), fs_type("."));

	/* Reserve two pages, then put the file mapping in the first and free
	 * the second: the page after the mapping is then certainly a hole. */
	char *hole = mmap(NULL, 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED)
		die("mmap reserve");
	/* BEGIN SOLUTION */
	char *p = mmap(hole, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *p = hole; /* TODO: map one page of fd MAP_SHARED, read-write, into the first reserved page (MAP_FIXED) */
	if (munmap(hole + ps, ps) == -1)
		die("munmap guard");
	check(p == hole, "mmap of a 0-byte file succeeds: the kernel does not look at the size yet");

	step("Read the first byte of the mapping.");
	struct probe r = probe_read(p);
	say("read p[0]: %s", probe_str(r));
	check(r.sig == SIGBUS && r.code == BUS_ADRERR && r.addr_matches,
	      "SIGBUS with BUS_ADRERR at p[0]: the page is mapped, the file has no byte there");

	step("Grow the file to one page with ftruncate and touch the same byte again.");
	if (ftruncate(fd, (off_t)ps) == -1)
		die("ftruncate");
	say("file size: %lld page(s)", (long long)(file_size(fd) / (off_t)ps));
	r = probe_read(p);
	say("read p[0]: %s, value %d", probe_str(r), r.value);
	check(r.sig == 0 && r.value == 0, "the read works and sees the zero the new file page holds");
	r = probe_write(p, 'A');
	say("write p[0] = 'A': %s", probe_str(r));
	char c = 0;
	if (pread(fd, &c, 1, 0) != 1)
		die("pread");
	check(r.sig == 0 && c == 'A', "the write works and read() of the file sees 'A'");

	step("Shrink the file back to 0 bytes while the mapping is still there.");
	if (ftruncate(fd, 0) == -1)
		die("ftruncate");
	say("file size: %lld bytes", (long long)file_size(fd));
	r = probe_read(p);
	say("read p[0]: %s", probe_str(r));
	check(r.sig == SIGBUS && r.code == BUS_ADRERR,
	      "SIGBUS is back: truncation removed the page from the mapping too");

	step("Ask for a mapping of length 0.");
	errno = 0;
	void *q = mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0); /* EINVAL: length 0 */
	say("mmap(length 0): %s", q == MAP_FAILED ? errname(errno) : "succeeded");
	check(q == MAP_FAILED && errno == EINVAL, "a length of 0 is EINVAL, whatever the file size");
	if (q != MAP_FAILED)
		munmap(q, 0);

	step("Touch the first byte after the one-page mapping (a hole is reserved there).");
	if (ftruncate(fd, (off_t)(2 * ps)) == -1)
		die("ftruncate");
	say("file size: 2 pages, so the file is not what stops us");
	r = probe_read(p + ps);
	say("read p[1 page]: %s", probe_str(r));
	check(r.sig == SIGSEGV && r.code == SEGV_MAPERR,
	      "past the end of the mapping it is SIGSEGV (SEGV_MAPERR), not SIGBUS");

	step("Clean up.");
	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
