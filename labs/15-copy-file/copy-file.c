/*
 * copy-file - copy a file through two MAP_SHARED mappings, window by window.
 *
 * Usage: copy-file [--sizes=LIST] [--window-pages=N] [--seed=S]    (run by `make lab-15`)
 *   LIST  comma-separated sizes, each bytes (B) or pages (Np, Np+B, Np-B; "p" = 1 page);
 *         default 0,1,p-1,p,p+1,256p
 *   N     pages per window (default 16)
 *   S     fill the sources from a generator seeded with S and show the FNV-1a
 *         of the first bytes of each copy (default 0: a fixed pattern, no line)
 *
 * Story: the notes copy a file by mapping the whole source and a destination
 * of the same size (ftruncate first) and doing one memcpy.  That breaks on an
 * empty file (mmap of length 0 is EINVAL) and cannot work for a file larger
 * than the address space or memory you want to spend.  Here the copy maps W
 * pages of each file at a time at the same page-aligned offset, memcpy()s
 * the window and unmaps it; an empty file needs no mapping at all.  Each copy
 * is checked by read()ing both files and comparing them byte for byte.  The
 * source is mapped from a read-only descriptor: the notes open it O_RDWR and
 * map it writable, which fails for a file you may only read (the last step
 * shows it as an ordinary user; a root run drops to uid 65534 in a child).
 */
#include "lab.h"
#include "names.h"
#include "options.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER_UID 65534 /* the ordinary user a root run becomes in a child */

struct size { long pages, bytes; }; /* pages * page_size() + bytes */

static size_t ps;
static off_t moved; /* bytes memcpy() moved during one copy */
static long seed;   /* 0: the fixed pattern */

static off_t bytes_of(struct size s) { return (off_t)s.pages * (off_t)ps + s.bytes; }

/* "1 page - 1 byte", "256 pages", "0 bytes" */
static const char *size_str(struct size s)
{
	static char bufs[2][64];
	static int k;
	char *buf = bufs[k ^= 1];
	int n = 0;
	if (s.pages)
		n = snprintf(buf, sizeof bufs[0], "%ld page%s", s.pages, s.pages == 1 ? "" : "s");
	if (s.bytes || !s.pages)
		snprintf(buf + n, sizeof bufs[0] - n, "%s%ld byte%s", !s.pages ? "" : s.bytes < 0 ? " - " : " + ",
			 s.pages ? labs(s.bytes) : s.bytes, labs(s.bytes) == 1 ? "" : "s");
	return buf;
}

/* "64p", "p-1", "3p+5", a plain byte count: false when the word is none
 * of these (or a negative size). */
static bool parse_size(const char *word, struct size *s)
{
	*s = (struct size){ 0, 0 };
	const char *p = strchr(word, 'p');
	if (p) {
		char pages[16];
		size_t n = (size_t)(p - word);
		if (n >= sizeof pages)
			return false;
		memcpy(pages, word, n);
		pages[n] = '\0';
		if (n == 0)
			s->pages = 1;
		else if (!parse_long(pages, 0, 1000000, &s->pages))
			return false;
		if (p[1] == '\0')
			return true;
		if (p[1] != '-' && !(p[1] == '+' && p[2] != '-'))
			return false;
		word = p[1] == '+' ? p + 2 : p + 1;
	}
	return parse_long(word, -1000000000, 1000000000, &s->bytes) && bytes_of(*s) >= 0;
}

/* Every size in the list, or the program stops before it makes anything. */
static void check_sizes(const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		die("strdup");
	struct size s;
	for (char *save, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
		if (!parse_size(w, &s))
			die_msg("--sizes: bad size '%s' (bytes, or pages: Np, Np+B, Np-B, p = 1 page)", w);
	free(copy);
}

/* FNV-1a over the file's first limit bytes (-1: all of it), read() in
 * chunks; how many bytes were read goes to *len. */
static uint32_t checksum(int fd, off_t limit, off_t *len)
{
	unsigned char buf[8192];
	uint32_t h = 2166136261u;
	for (*len = 0; limit < 0 || *len < limit;) {
		size_t want = limit >= 0 && limit - *len < (off_t)sizeof buf ? (size_t)(limit - *len) : sizeof buf;
		ssize_t n = pread(fd, buf, want, *len);
		if (n == -1)
			die("read");
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 16777619u;
		*len += n;
	}
	return h;
}

/* True when the two files hold the same bytes (read() both, compare). */
static bool same_bytes(int a, int b)
{
	unsigned char x[8192], y[8192];
	for (off_t off = 0;; off += (off_t)sizeof x) {
		ssize_t n = pread(a, x, sizeof x, off), m = pread(b, y, sizeof y, off);
		if (n == -1 || m == -1)
			die("read");
		if (n != m || memcmp(x, y, (size_t)n) != 0)
			return false;
		if (n == 0)
			return true;
	}
}

/* The source's byte at off: a fixed pattern that differs on every page, or
 * (seed > 0) the next byte of a xorshift32 generator seeded with seed. */
static unsigned char source_byte(off_t off, uint32_t *state)
{
	if (seed == 0)
		return (unsigned char)(off * 131 / 7 + off / 4093);
	uint32_t x = *state;
	x ^= x << 13, x ^= x >> 17, x ^= x << 5;
	*state = x;
	return (unsigned char)(x >> 24);
}

/* Write a source file of the given size (mode 0600, or mode if not 0);
 * return a read-only descriptor of it: the copy needs no more. */
static int make_source(const char *path, off_t size, mode_t mode)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	unsigned char buf[8192];
	static uint32_t made; /* each source its own stream: the n-th source of a run is the same everywhere */
	uint32_t state = ((uint32_t)seed * 2654435761u ^ made++ * 0x9e3779b9u) | 1;
	for (off_t off = 0; off < size;) {
		size_t n = size - off < (off_t)sizeof buf ? (size_t)(size - off) : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = source_byte(off + (off_t)i, &state);
		if (write(fd, buf, n) != (ssize_t)n)
			die("write");
		off += (off_t)n;
	}
	if ((mode && fchmod(fd, mode) == -1) || close(fd) == -1)
		die("fchmod/close %s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	return fd;
}

/* Copy src to dst through windows of w pages; returns how many windows. */
static long copy_by_windows(int src, int dst, off_t size, size_t w, size_t *widest)
{
	long windows = 0;
	*widest = 0; /* the longest window mapped, in bytes */
	/* BEGIN SOLUTION */
	if (ftruncate(dst, size) == -1) /* the destination must have the pages first */
		die("ftruncate");
	for (off_t off = 0; off < size; off += (off_t)(w * ps)) {
		size_t len = size - off < (off_t)(w * ps) ? (size_t)(size - off) : w * ps;
		char *from = mmap(NULL, len, PROT_READ, MAP_SHARED, src, off);
		if (from == MAP_FAILED)
			die("mmap source");
		char *to = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, dst, off);
		if (to == MAP_FAILED)
			die("mmap destination");
		memcpy(to, from, len);
		moved += (off_t)len;
		if (munmap(from, len) == -1 || munmap(to, len) == -1)
			die("munmap");
		windows++;
		if (len > *widest)
			*widest = len;
	}
	/* END SOLUTION */
	//> (void)src; (void)dst; (void)size; (void)w; /* TODO: ftruncate dst, then map, memcpy and unmap window by window */
	return windows;
}

/* The notes open the source O_RDWR and map it PROT_READ|PROT_WRITE,
 * MAP_SHARED.  For a source its user may only read (mode 0444), as an
 * ordinary user: a child of a root run drops to uid 65534 (the file is in
 * /dev/shm, where that user can reach it); root itself is not refused. */
static void read_only_source(long wpages)
{
	step("The notes open the source O_RDWR and map it writable: a source you may only read (mode 0444).");
	char path[160], name[128];
	unique_shm_name("read-only", name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	cleanup_unlink(path);
	off_t size = (off_t)wpages * (off_t)ps + 1;
	int fd = make_source(path, size, 0444);
	bool root = geteuid() == 0;
	int root_rw = -1;
	if (root && (root_rw = open(path, O_RDWR | O_CLOEXEC)) != -1 && close(root_rw) == -1)
		die("close");
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		if (root && (setgroups(0, NULL) == -1 || setgid(OTHER_UID) == -1 || setuid(OTHER_UID) == -1))
			die("drop to uid %d", OTHER_UID);
		int res[3], rw = open(path, O_RDWR | O_CLOEXEC), ro = open(path, O_RDONLY | O_CLOEXEC);
		res[0] = rw == -1 ? errno : 0;
		if (ro == -1)
			die("open %s", path);
		for (int i = 1; i < 3; i++) {
			void *m = mmap(NULL, (size_t)size, i == 1 ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, ro, 0);
			res[i] = m == MAP_FAILED ? errno : 0;
			if (m != MAP_FAILED && munmap(m, (size_t)size) == -1)
				die("munmap");
		}
		pair_send(&p, res, sizeof res);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	int res[3];
	pair_recv(&p, res, sizeof res);
	say("an ordinary user's child %s", wait_child(pid));
	pair_close(&p);
	say("open(O_RDWR) = %s; open(O_RDONLY) = a descriptor", res[0] ? errname(res[0]) : "a descriptor");
	say("mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of it = %s; mmap(PROT_READ, MAP_SHARED) = %s",
	    res[1] ? errname(res[1]) : "a mapping", res[2] ? errname(res[2]) : "a mapping");
	say("root's own open(O_RDWR): {root=%s}",
	    !root ? "not shown: this run is not root" : root_rw != -1 ? "a descriptor: CAP_DAC_OVERRIDE ignores the mode" : errname(errno));
	check(res[0] == EACCES && res[1] == EACCES && res[2] == 0,
	      "the notes' copy cannot even open a file its user may only read; a PROT_READ mapping, as above, works");
	if (close(fd) == -1 || unlink(path) == -1)
		die("close/unlink %s", path);
}

int main(int argc, char **argv)
{
	const char *list = "0,1,p-1,p,p+1,256p";
	long wpages = 16;
	const struct lab_option options[] = {
		{ "--sizes=LIST", .text = &list, .help = "file sizes to copy, comma-separated: bytes, or pages as Np, Np+B, Np-B" },
		{ "--window-pages=N", &wpages, 1, 1000000, .help = "pages mapped of each file at a time" },
		{ "--seed=S", &seed, 0, 999999999, .help = "fill the sources from seed S and show a checksum of each copy's first bytes" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	ps = page_size();
	check_sizes(list);
	lab_begin(LAB_TITLE);
	char src_path[128], dst_path[128];
	unique_name("source", src_path, sizeof src_path);
	unique_name("copy", dst_path, sizeof dst_path);
	cleanup_unlink(src_path); /* each size reuses the two names */
	cleanup_unlink(dst_path);

	step("The notes' way on an empty file: map the whole source, length = file size.");
	if (seed)
		say("(every source below is filled from seed %ld)", seed);
	int src = make_source(src_path, 0, 0);
	off_t size = lseek(src, 0, SEEK_END);
	errno = 0;
	void *whole = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, src, 0); /* EINVAL: length 0 */
	say("file size %s; mmap(length = file size) = %s", size_str((struct size){ 0, size }),
	    whole == MAP_FAILED ? errname(errno) : "a mapping");
	check(whole == MAP_FAILED && errno == EINVAL,
	      "mmap of length 0 is EINVAL: the naive copy fails on an empty file; the copy below maps nothing for it");
	if (close(src) == -1 || unlink(src_path) == -1)
		die("close/unlink");

	char *copy = strdup(list);
	if (!copy)
		die("strdup");
	for (char *save, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		struct size s;
		parse_size(w, &s); /* checked by check_sizes() */
		size = bytes_of(s);
		struct size win = { wpages, 0 };
		step("Copy a file of %s, windows of %s.", size_str(s), size_str(win));
		src = make_source(src_path, size, 0);
		int dst = open(dst_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (dst == -1)
			die("open %s", dst_path);
		size_t widest;
		moved = 0;
		long windows = copy_by_windows(src, dst, size, (size_t)wpages, &widest);
		/* the widest window is the whole file, or a full window */
		if (windows == 0)
			say("no window: an empty file needs no mapping, only the ftruncate");
		else
			say("%ld window(s), the widest %s; memcpy moved %s in all", windows,
			    (off_t)widest == size ? size_str(s) : size_str(win),
			    moved == size ? size_str(s) : "a wrong amount");
		check((off_t)widest <= bytes_of(win) && moved == size,
		      "no mapping is longer than one window, and memcpy moved each byte exactly once");
		off_t ls, ld;
		uint32_t hs = checksum(src, -1, &ls), hd = checksum(dst, -1, &ld);
		say("read() gets %s back from the source and %s from the copy {checksum=%08x/%08x}",
		    ls == size ? size_str(s) : "a wrong length", ld == ls ? "the same" : "a different length", hs, hd);
		check(ls == size && ld == size && hs == hd && same_bytes(src, dst),
		      "read() of both files gives the same bytes");
		if (seed) { /* the first bytes are the same on every page size */
			off_t n;
			uint32_t h = checksum(dst, 4000, &n);
			say("FNV-1a of %s %s of the copy, read(): %08x", n < 4000 ? "all" : "the first",
			    size_str((struct size){ 0, n }), h);
		}
		if (close(src) == -1 || close(dst) == -1 || unlink(src_path) == -1 || unlink(dst_path) == -1)
			die("close/unlink");
	}
	free(copy);

	read_only_source(wpages);

	step("Clean up.");
	say("every source and copy was removed after its check");
	return lab_end();
}
