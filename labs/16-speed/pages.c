/*
 * pages.c - page faults of fresh mappings, and files copied and read
 * (see pages.h).
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "pages.h"
#include "ring.h" /* now() */

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap %zu bytes", len);
	memset(p, 1, len); /* fault it in now, not while we time */
	return p;
}

struct gen gen_start(uint64_t seed, uint64_t seq)
{
	uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull + seed * 0xD1B54A32D192ED03ull;
	return (struct gen){x ? x : 0x9E3779B97F4A7C15ull}; /* xorshift never leaves 0 */
}

static uint64_t gen_next(struct gen *g)
{
	g->x ^= g->x << 13;
	g->x ^= g->x >> 7;
	g->x ^= g->x << 17;
	return g->x;
}

void gen_fill(struct gen *g, unsigned char *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w = gen_next(g);
		memcpy(p + i, &w, 8);
	}
}

bool gen_check(struct gen *g, const unsigned char *p, size_t n)
{
	bool same = true;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w = gen_next(g), got;
		memcpy(&got, p + i, 8);
		same = same && got == w;
	}
	return same;
}

void fill_message(unsigned char *m, size_t size, uint64_t seed, uint64_t seq)
{
	struct gen g = gen_start(seed, seq);
	gen_fill(&g, m, size);
}

uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* ---- page faults -------------------------------------------------------- */

const char *const pf_name[NPF] = {"anonymous, MAP_PRIVATE",  "/dev/zero, MAP_PRIVATE", "anonymous, MAP_SHARED",
				  "/dev/zero, MAP_SHARED",   "file, MAP_SHARED",       "anonymous + MAP_POPULATE",
				  "/dev/zero + MAP_POPULATE"};
const char *const pf_key[NPF] = {"anon-private", "zero-private",  "anon-shared",  "zero-shared",
				 "file-shared",  "anon-populate", "zero-populate"};

struct pf_result touch_twice(int kind, size_t npages, int zero_fd, int file_fd)
{
	size_t ps = page_size(), len = npages * ps;
	int flags = 0, fd = -1;
	switch (kind) {
	case FT_ANON: flags = MAP_PRIVATE | MAP_ANONYMOUS; break;
	case FT_ZERO: flags = MAP_PRIVATE; fd = zero_fd; break;
	case FT_ANON_SH: flags = MAP_SHARED | MAP_ANONYMOUS; break;
	case FT_ZERO_SH: flags = MAP_SHARED; fd = zero_fd; break;
	case FT_FILE: flags = MAP_SHARED; fd = file_fd; break;
	case FT_ANON_POP: flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE; break;
	case FT_ZERO_POP: flags = MAP_PRIVATE | MAP_POPULATE; fd = zero_fd; break;
	}
	bool populate = PF_POPULATE(kind);
	long f0 = minor_faults();
	double t0 = now();
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s", pf_name[kind]);
	double tm = now();
	long fm = minor_faults();
	if (!populate && (flags & MAP_PRIVATE)) {
		/* Page by page, not 2 MiB at a time: we are timing 4 KiB faults. */
		if (madvise(p, len, MADV_NOHUGEPAGE) == -1)
			die("madvise(MADV_NOHUGEPAGE)");
	}
	if (!populate) {
		t0 = tm = now();
		f0 = fm = minor_faults();
	}
	for (size_t i = 0; i < len; i += ps)
		((volatile unsigned char *)p)[i] = 1;
	double t1 = now();
	long f1 = minor_faults();
	for (size_t i = 0; i < len; i += ps)
		((volatile unsigned char *)p)[i] = 2;
	double t2 = now();
	long f2 = minor_faults();
	if (munmap(p, len) == -1)
		die("munmap");
	return (struct pf_result){
		.map_ns = (tm - t0) * 1e9 / (double)npages,
		.first_ns = (t1 - t0) * 1e9 / (double)npages,
		.second_ns = (t2 - t1) * 1e9 / (double)npages,
		.map_faults = fm - f0,
		.first_faults = f1 - fm,
		.second_faults = f2 - f1,
	};
}

/* ---- files -------------------------------------------------------------- */

const char *const fc_name[NFC] = {"mmap both + memcpy", "read/write, 128 KiB buffer", "copy_file_range"};
const char *const fc_key[NFC] = {"copy-mmap", "copy-readwrite", "copy-file-range"};
const char *const fr_name[NFR] = {"mmap + sum", "read 128 KiB + sum"};
const char *const fr_key[NFR] = {"read-mmap", "read-read"};

void write_file(const char *path, size_t len, uint64_t seed, bool sync)
{
	const size_t piece = 1024 * 1024;
	int fd = create_file(path, 0);
	unsigned char *buf = map_anon(piece);
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		fill_message(buf, n, seed, off / piece);
		if (write(fd, buf, n) != (ssize_t)n)
			die("write %s", path);
	}
	/* Clean pages can be dropped from the cache without root (cold reads). */
	if (sync && fdatasync(fd) == -1)
		die("fdatasync");
	munmap(buf, piece);
	close(fd);
}

static void copy_by_mmap(int in, int out, size_t len)
{
	if (ftruncate(out, (off_t)len) == -1)
		die("ftruncate");
	void *s = mmap(NULL, len, PROT_READ, MAP_SHARED, in, 0);
	void *d = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
	if (s == MAP_FAILED || d == MAP_FAILED)
		die("mmap for copy");
	memcpy(d, s, len);
	if (munmap(s, len) == -1 || munmap(d, len) == -1)
		die("munmap");
}

void copy_file(int how, const char *from, const char *to, size_t len, unsigned char *iobuf)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in == -1)
		die("open %s", from);
	int out = open(to, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out == -1)
		die("open %s", to); /* the caller registered `to` for cleanup, once */
	if (how == FC_MMAP)
		copy_by_mmap(in, out, len);
	else if (how == FC_RW) {
		for (;;) {
			ssize_t n = read(in, iobuf, IO_BUF);
			if (n == -1)
				die("read");
			if (n == 0)
				break;
			if (write(out, iobuf, (size_t)n) != n)
				die("write");
		}
	} else {
		for (size_t left = len; left > 0;) {
			ssize_t n = copy_file_range(in, NULL, out, NULL, left, 0);
			if (n == -1)
				die("copy_file_range");
			if (n == 0)
				break;
			left -= (size_t)n;
		}
	}
	close(in);
	close(out);
}

bool same_file(const char *a, const char *b, size_t len)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	if (fa == -1 || fb == -1)
		die("open for compare");
	bool same = false;
	if ((size_t)file_size(fb) == len) {
		void *pa = mmap(NULL, len, PROT_READ, MAP_SHARED, fa, 0);
		void *pb = mmap(NULL, len, PROT_READ, MAP_SHARED, fb, 0);
		if (pa == MAP_FAILED || pb == MAP_FAILED)
			die("mmap for compare");
		same = memcmp(pa, pb, len) == 0;
		munmap(pa, len);
		munmap(pb, len);
	}
	close(fa);
	close(fb);
	return same;
}

static uint64_t sum_words(uint64_t s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		s += w;
	}
	return s;
}

uint64_t read_file(int how, const char *path, size_t len, unsigned char *iobuf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	uint64_t s = 0;
	if (how == FR_MMAP) {
		unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap for read");
		s = sum_words(s, p, len);
		munmap(p, len);
	} else {
		for (;;) {
			ssize_t n = read(fd, iobuf, IO_BUF);
			if (n == -1)
				die("read");
			if (n == 0)
				break;
			s = sum_words(s, iobuf, (size_t)n);
		}
	}
	close(fd);
	return s;
}
