/*
 * speed - is shared memory really "10-100x faster than a pipe"?  Measure it.
 *
 * Usage: speed                      quick mode (`make lab-16`, `make test`):
 *                                   small transfers over every channel, every
 *                                   byte checked, the structure of the bench
 *                                   printed, no timings at all.
 *        speed --bench [--csv FILE] [--gnuplot FILE.gp] [--pin] [--reps N]
 *                                   the measurement (`make bench`): tables,
 *                                   ratios, verdicts on the source notes' claims
 *                                   and PASS/MISS against the lab's targets.
 *
 * Story: one producer process hands messages to one consumer process over
 *   - a single-producer/single-consumer byte ring in a MAP_SHARED mapping
 *     (C11 atomics; the reader sleeps on a futex when the ring is empty, the
 *     writer when it is full; a second variant only spins),
 *   - a pipe, as created and grown with F_SETPIPE_SZ,
 *   - a Unix domain stream socket,
 *   - a POSIX message queue,
 * and single-thread memcpy of the same sizes is the ceiling.  Then a small
 * message ping-pongs between the two processes (latency), fresh mappings are
 * touched twice (what a page fault costs: anonymous, /dev/zero, a file,
 * MAP_POPULATE) and a file is copied and read through mmap and through
 * read/write/copy_file_range.  The shared-memory ring still copies every byte
 * twice (into the ring, out of it) and still needs the kernel to wake a
 * sleeping reader: "zero copy" and "no kernel" are both only half true.
 *
 * Method (the bench): every channel of one experiment runs once per round,
 * interleaved, after a warm-up round that also sizes the runs (~25 ms each);
 * medians and min..max of the rounds are reported, and ratios are the median
 * of the per-round ratios, so machine noise that hits one round cancels.
 * Every spin loop and every wait has a deadline: a starved machine reports a
 * timeout instead of hanging.  No sleeping anywhere.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <mqueue.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define RING_MAX MiB            /* room for data in one ring */
static size_t ring_chunk = 32 * KiB; /* the writer publishes at least this often (--chunk-kib) */
static uint32_t ring_cap = 1024 * KiB; /* bytes of data in use (power of two; --ring-kib) */
#define MQ_PIECE_MAX 8192       /* unprivileged default of fs.mqueue.msgsize_max */
#define LAT_SIZE 64             /* bytes in a ping-pong message */
#define IO_BUF (128 * KiB)      /* the "good buffer" of read/write */

static const size_t sizes[] = {64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB};
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define MAX_MSG MiB

/* ---- channels ---------------------------------------------------------- */

enum { CH_MEMCPY, CH_RING, CH_SPIN, CH_PIPE, CH_PIPE_BIG, CH_UNIX, CH_MQ, NCH };
static const char *ch_name[NCH] = {"memcpy (ceiling)", "shm ring (futex)", "shm ring (spin)",
				   "pipe (default)",   "pipe (1 MiB)",     "unix stream",
				   "posix mq"};
static const char *ch_key[NCH] = {"memcpy", "ring", "ring-spin", "pipe", "pipe-1m", "unix", "mq"};
/* The channels of the latency experiment (memcpy and the big pipe make no sense there). */
static const int lat_ch[] = {CH_SPIN, CH_RING, CH_PIPE, CH_UNIX, CH_MQ};
#define NLAT (sizeof lat_ch / sizeof lat_ch[0])

static bool bench_mode, opt_pin;
static long mq_piece = MQ_PIECE_MAX, mq_depth = 10;
static int pipe_big = (int)MiB;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Keep the compiler from dropping a copy nobody reads. */
static void clobber(void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- the shared-memory ring -------------------------------------------- *
 * A byte stream of ring_cap bytes.  head = bytes the writer has published,
 * tail = bytes the reader has consumed; both only grow (mod 2^32), each is
 * written by one side only and sits on its own cache line. */
struct ring {
	_Alignas(128) _Atomic uint32_t head;
	_Atomic uint32_t reader_sleeps; /* the reader is (about to be) in FUTEX_WAIT on head */
	_Alignas(128) _Atomic uint32_t tail;
	_Atomic uint32_t writer_sleeps; /* the writer waits on tail */
	_Alignas(128) unsigned char data[RING_MAX];
};

/* What one process remembers about one ring: its own position and the
 * last value it saw of the other side's (so it reads that line rarely). */
struct ring_end {
	struct ring *r;
	bool spin;
	uint32_t pos, seen;
};

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is in a MAP_SHARED mapping seen by two processes. */
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
	if (futex(addr, FUTEX_WAKE, 1, NULL) == -1)
		die("futex(FUTEX_WAKE)");
}

/* Wait until *word != old.  Spinning: poll, pausing; every 1024 polls look
 * at the clock and give the CPU away once (sched_yield, not a sleep) in case
 * the other side is queued behind us.  Blocking: announce in *sleeps, look
 * again, then FUTEX_WAIT (the kernel rechecks *word == old atomically).
 * Returns -1 at the deadline. */
static double stall_limit = 2.0; /* seconds without progress that count as a timeout */

static int ring_wait(_Atomic uint32_t *word, uint32_t old, _Atomic uint32_t *sleeps, bool spin,
		     double deadline)
{
	/* Give up when the whole run is out of time, or when the other side has
	 * not moved for stall_limit: a broken ring fails fast, a slow one does not. */
	double stalled = now() + stall_limit;
	if (stalled < deadline)
		deadline = stalled;
	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(word, memory_order_acquire) != old)
			return 0;
		if (spin) {
			cpu_relax();
			if ((i & 1023) == 0) {
				if (now() > deadline)
					return -1;
				sched_yield();
			}
			continue;
		}
		atomic_store(sleeps, 1); /* seq_cst: ordered before the load below */
		if (atomic_load(word) == old) {
			struct timespec ts = {0, 20 * 1000 * 1000};
			if (futex(word, FUTEX_WAIT, old, &ts) == -1 && errno != EAGAIN && errno != EINTR &&
			    errno != ETIMEDOUT)
				die("futex(FUTEX_WAIT)");
		}
		atomic_store_explicit(sleeps, 0, memory_order_relaxed);
		if (now() > deadline && atomic_load(word) == old)
			return -1;
	}
}

static int ring_send(struct ring_end *e, const void *buf, size_t len, double deadline)
{
	struct ring *r = e->r;
	const unsigned char *src = buf;
	while (len > 0) {
		uint32_t room = ring_cap - (e->pos - e->seen);
		if (room == 0) {
			e->seen = atomic_load_explicit(&r->tail, memory_order_acquire);
			room = ring_cap - (e->pos - e->seen);
			if (room == 0) {
				if (ring_wait(&r->tail, e->seen, &r->writer_sleeps, e->spin, deadline))
					return -1;
				continue;
			}
		}
		size_t off = e->pos & (ring_cap - 1);
		size_t n = len;
		if (n > room)
			n = room;
		if (n > ring_cap - off)
			n = ring_cap - off;
		if (n > ring_chunk)
			n = ring_chunk;
		memcpy(r->data + off, src, n);
		src += n;
		len -= n;
		e->pos += (uint32_t)n;
		/* BEGIN SOLUTION */
		/* Publish: the release store orders the memcpy above before the new
		 * head, so a reader that sees head also sees the bytes. */
		atomic_store_explicit(&r->head, e->pos, memory_order_release);
		if (!e->spin) {
			/* Store head, then load reader_sleeps: a full fence, or the
			 * reader could go to sleep on the old head and never wake. */
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load_explicit(&r->reader_sleeps, memory_order_relaxed))
				futex_wake(&r->head);
		}
		/* END SOLUTION */
		//> /* TODO: publish e->pos as the new head (which memory order?), and wake a reader sleeping on the futex */
		//> (void)futex_wake; /* yours to call */
	}
	return 0;
}

static int ring_recv(struct ring_end *e, void *buf, size_t len, double deadline)
{
	struct ring *r = e->r;
	unsigned char *dst = buf;
	while (len > 0) {
		uint32_t avail = e->seen - e->pos;
		if (avail == 0) {
			e->seen = atomic_load_explicit(&r->head, memory_order_acquire);
			avail = e->seen - e->pos;
			if (avail == 0) {
				if (ring_wait(&r->head, e->pos, &r->reader_sleeps, e->spin, deadline))
					return -1;
				continue;
			}
		}
		size_t off = e->pos & (ring_cap - 1);
		size_t n = len;
		if (n > avail)
			n = avail;
		if (n > ring_cap - off)
			n = ring_cap - off;
		memcpy(dst, r->data + off, n);
		dst += n;
		len -= n;
		e->pos += (uint32_t)n;
		/* BEGIN SOLUTION */
		/* Hand the space back (release: our reads of it are done), and wake
		 * a writer that sleeps because the ring was full. */
		atomic_store_explicit(&r->tail, e->pos, memory_order_release);
		if (!e->spin) {
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load_explicit(&r->writer_sleeps, memory_order_relaxed))
				futex_wake(&r->tail);
		}
		/* END SOLUTION */
		//> /* TODO: give the consumed bytes back to the writer (the new tail), and wake it if it sleeps */
	}
	return 0;
}

/* ---- one channel, both directions, both processes ---------------------- */

struct chan {
	int kind;
	bool duplex;         /* latency: a second direction back */
	struct ring_end re[2]; /* [0] parent->child, [1] child->parent */
	int pfd[2][2];       /* pipes, same directions */
	int sv[2];           /* socketpair: [0] parent, [1] child */
	mqd_t mq[2];
	char *mqbuf;         /* a piece that does not fit the destination */
	int side;            /* 0 parent, 1 child, after chan_side() */
};

static struct ring *rings; /* two rings in one MAP_SHARED|MAP_ANONYMOUS mapping */

static void mq_make(mqd_t *out)
{
	char name[256];
	unique_shm_name("mq", name, sizeof name);
	struct mq_attr a = {.mq_maxmsg = mq_depth, .mq_msgsize = mq_piece};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
	if (q == (mqd_t)-1)
		die("mq_open");
	/* Like an unlinked file: the queue lives on while a descriptor is open. */
	if (mq_unlink(name) == -1)
		die("mq_unlink");
	*out = q;
}

static void chan_open(struct chan *c, int kind, bool duplex)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->duplex = duplex;
	int dirs = duplex ? 2 : 1;
	switch (kind) {
	case CH_RING:
	case CH_SPIN:
		for (int d = 0; d < dirs; d++) {
			struct ring *r = &rings[d];
			atomic_store(&r->head, 0);
			atomic_store(&r->tail, 0);
			atomic_store(&r->reader_sleeps, 0);
			atomic_store(&r->writer_sleeps, 0);
			c->re[d] = (struct ring_end){.r = r, .spin = kind == CH_SPIN};
		}
		break;
	case CH_PIPE:
	case CH_PIPE_BIG:
		for (int d = 0; d < dirs; d++) {
			if (pipe2(c->pfd[d], O_CLOEXEC) == -1)
				die("pipe2");
			if (kind == CH_PIPE_BIG && fcntl(c->pfd[d][1], F_SETPIPE_SZ, pipe_big) == -1)
				die("fcntl(F_SETPIPE_SZ)");
		}
		break;
	case CH_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sv) == -1)
			die("socketpair");
		break;
	case CH_MQ:
		for (int d = 0; d < dirs; d++)
			mq_make(&c->mq[d]);
		c->mqbuf = malloc((size_t)mq_piece);
		if (!c->mqbuf)
			die("malloc");
		break;
	}
}

/* After fork: keep this side's ends (EOF then tells a reader its peer died). */
static void chan_side(struct chan *c, int side)
{
	c->side = side;
	int dirs = c->duplex ? 2 : 1;
	if (c->kind == CH_PIPE || c->kind == CH_PIPE_BIG) {
		for (int d = 0; d < dirs; d++) {
			/* direction d is written by side d */
			int unused = (side == d) ? c->pfd[d][0] : c->pfd[d][1];
			if (close(unused) == -1)
				die("close");
			if (side == d)
				c->pfd[d][0] = -1;
			else
				c->pfd[d][1] = -1;
		}
	} else if (c->kind == CH_UNIX) {
		if (close(c->sv[1 - side]) == -1)
			die("close");
		c->sv[1 - side] = -1;
	}
}

static void chan_close(struct chan *c)
{
	int dirs = c->duplex ? 2 : 1;
	for (int d = 0; d < dirs; d++)
		for (int i = 0; i < 2; i++)
			if (c->pfd[d][i] > 0)
				close(c->pfd[d][i]);
	for (int i = 0; i < 2; i++)
		if (c->sv[i] > 0)
			close(c->sv[i]);
	if (c->kind == CH_MQ)
		for (int d = 0; d < dirs; d++)
			mq_close(c->mq[d]);
	free(c->mqbuf);
	c->mqbuf = NULL;
}

static struct timespec realtime_deadline(double deadline)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double left = deadline - now();
	if (left < 0)
		left = 0;
	ts.tv_sec += (time_t)left;
	ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Send len bytes in direction d.  0, or -1 on timeout / a peer that went away. */
static int chan_send(struct chan *c, int d, const void *buf, size_t len, double deadline)
{
	const char *p = buf;
	switch (c->kind) {
	case CH_RING:
	case CH_SPIN:
		return ring_send(&c->re[d], buf, len, deadline);
	case CH_MQ: {
		struct timespec ts = realtime_deadline(deadline);
		while (len > 0) {
			size_t n = len < (size_t)mq_piece ? len : (size_t)mq_piece;
			if (mq_timedsend(c->mq[d], p, n, 0, &ts) == -1) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			p += n;
			len -= n;
		}
		return 0;
	}
	default: {
		int fd = c->kind == CH_UNIX ? c->sv[c->side] : c->pfd[d][1];
		while (len > 0) {
			ssize_t n = write(fd, p, len);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			p += n;
			len -= (size_t)n;
		}
		return 0;
	}
	}
}

static int chan_recv(struct chan *c, int d, void *buf, size_t len, double deadline)
{
	char *p = buf;
	switch (c->kind) {
	case CH_RING:
	case CH_SPIN:
		return ring_recv(&c->re[d], buf, len, deadline);
	case CH_MQ: {
		struct timespec ts = realtime_deadline(deadline);
		while (len > 0) {
			/* mq_receive wants room for a whole piece: straight into the
			 * destination when it has that room, else via mqbuf. */
			bool direct = len >= (size_t)mq_piece;
			ssize_t n = mq_timedreceive(c->mq[d], direct ? p : c->mqbuf, (size_t)mq_piece, NULL, &ts);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0 || (size_t)n > len)
				return -1;
			if (!direct)
				memcpy(p, c->mqbuf, (size_t)n);
			p += n;
			len -= (size_t)n;
		}
		return 0;
	}
	default: {
		int fd = c->kind == CH_UNIX ? c->sv[c->side] : c->pfd[d][0];
		while (len > 0) {
			ssize_t n = read(fd, p, len);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			p += n;
			len -= (size_t)n;
		}
		return 0;
	}
	}
}

/* ---- messages and their checks ----------------------------------------- *
 * Quick mode fills every byte from (sequence number, offset) and the reader
 * compares every byte and keeps a checksum.  The bench stamps the sequence
 * number into the first and the last 8 bytes of each message and the reader
 * checks both: a lost, repeated, reordered or torn message is caught without
 * a checksum pass that would cost as much as the copy being measured. */
static void fill_message(unsigned char *m, size_t size, uint64_t seq)
{
	uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i + 8 <= size; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(m + i, &x, 8);
	}
}

static void stamp(unsigned char *m, size_t size, uint64_t seq)
{
	uint64_t t = ~seq;
	memcpy(m, &seq, 8);
	memcpy(m + size - 8, &t, 8);
}

static bool stamp_ok(const unsigned char *m, size_t size, uint64_t seq)
{
	uint64_t h, t;
	memcpy(&h, m, 8);
	memcpy(&t, m + size - 8, 8);
	return h == seq && t == ~seq;
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}
#define FNV0 0xcbf29ce484222325ull

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap %zu bytes", len);
	memset(p, 1, len); /* fault it in now, not while we time */
	return p;
}

/* ---- where the processes run ------------------------------------------- */

static long ncpus;
static long runs_apart, runs_together;

static void pin_to(int cpu)
{
	if (!opt_pin || ncpus < 2)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) == -1)
		die("sched_setaffinity(cpu %d)", cpu);
}

/* A run forks a child each time, hundreds per bench: rather than registering
 * each with cleanup_kill(), the kernel kills the child when its parent dies. */
static void child_dies_with(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		die("prctl(PR_SET_PDEATHSIG)");
	if (getppid() != parent)
		_exit(2);
}

/* The child's report, in shared memory. */
struct report {
	int ok;        /* 1 when every message checked out */
	int timeout;
	int cpu;
	long msgs;
	uint64_t sum;
	long bad_at;   /* first bad message, or -1 */
};
static struct report *rep;

/* ---- throughput: one run ------------------------------------------------ */

struct outcome {
	double secs;  /* producer's first send .. consumer's "all received" */
	bool ok, timeout;
	uint64_t sum; /* quick mode: checksum of what was sent */
	long bad_at;
};

static double run_deadline(void)
{
	return now() + (bench_mode ? 10.0 : 30.0);
}

static struct outcome run_memcpy(size_t size, long n, unsigned char *src, unsigned char *dst)
{
	struct outcome o = {.ok = true, .bad_at = -1};
	uint64_t sent = FNV0, got = FNV0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		if (bench_mode)
			stamp(src, size, (uint64_t)i);
		else {
			fill_message(src, size, (uint64_t)i);
			sent = fnv(sent, src, size);
		}
		memcpy(dst, src, size);
		clobber(dst);
		if (bench_mode ? !stamp_ok(dst, size, (uint64_t)i) : memcmp(dst, src, size) != 0) {
			o.ok = false;
			o.bad_at = i;
			break;
		}
		if (!bench_mode)
			got = fnv(got, dst, size);
	}
	o.secs = now() - t0;
	o.sum = sent;
	if (!bench_mode && got != sent)
		o.ok = false;
	return o;
}

static struct outcome run_tput(int kind, size_t size, long n, unsigned char *src, unsigned char *dst)
{
	if (kind == CH_MEMCPY)
		return run_memcpy(size, n, src, dst);
	struct outcome o = {.bad_at = -1};
	struct chan c;
	chan_open(&c, kind, false);
	memset(rep, 0, sizeof *rep);
	rep->bad_at = -1;
	struct pair pr;
	pair_open(&pr);
	pid_t parent = getpid();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		child_dies_with(parent);
		pair_child(&pr);
		chan_side(&c, 1);
		pin_to(1);
		unsigned char *buf = map_anon(MAX_MSG);
		unsigned char *want = bench_mode ? NULL : map_anon(MAX_MSG);
		if (kind == CH_RING || kind == CH_SPIN)
			for (size_t i = 0; i < sizeof rings[0]; i += page_size())
				((volatile unsigned char *)rings)[i]; /* our page table entries, now */
		uint64_t sum = FNV0;
		bool ok = true;
		pair_signal(&pr, 'r');
		double deadline = run_deadline();
		long i;
		for (i = 0; i < n; i++) {
			if (chan_recv(&c, 0, buf, size, deadline)) {
				rep->timeout = 1;
				ok = false;
				break;
			}
			bool good;
			if (bench_mode)
				good = stamp_ok(buf, size, (uint64_t)i);
			else {
				fill_message(want, size, (uint64_t)i);
				good = memcmp(buf, want, size) == 0;
				sum = fnv(sum, buf, size);
			}
			if (!good && rep->bad_at < 0) {
				rep->bad_at = i;
				ok = false;
			}
		}
		rep->msgs = i;
		rep->sum = sum;
		rep->ok = ok;
		rep->cpu = sched_getcpu();
		pair_signal(&pr, 'd');
		chan_close(&c);
		pair_close(&pr);
		_exit(0);
	}
	pair_parent(&pr);
	chan_side(&c, 0);
	if (pair_wait(&pr) != 'r')
		die_msg("consumer did not get ready");
	uint64_t sent = FNV0;
	double deadline = run_deadline();
	double t0 = now();
	bool send_ok = true;
	for (long i = 0; i < n; i++) {
		if (bench_mode)
			stamp(src, size, (uint64_t)i);
		else {
			fill_message(src, size, (uint64_t)i);
			sent = fnv(sent, src, size);
		}
		if (chan_send(&c, 0, src, size, deadline)) {
			send_ok = false;
			break;
		}
	}
	char done = pair_wait(&pr);
	o.secs = now() - t0;
	int mycpu = sched_getcpu();
	const char *how = wait_child(pid);
	if (strcmp(how, "exited 0") != 0)
		die_msg("consumer %s", how);
	chan_close(&c);
	pair_close(&pr);
	if (mycpu == rep->cpu)
		runs_together++;
	else
		runs_apart++;
	o.timeout = rep->timeout || !send_ok;
	o.ok = done == 'd' && send_ok && rep->ok && rep->msgs == n && (bench_mode || rep->sum == sent);
	o.sum = sent;
	o.bad_at = rep->bad_at;
	return o;
}

/* ---- latency: one run of n round trips --------------------------------- */

static struct outcome run_lat(int kind, long n)
{
	struct outcome o = {.bad_at = -1};
	struct chan c;
	chan_open(&c, kind, true);
	memset(rep, 0, sizeof *rep);
	rep->bad_at = -1;
	struct pair pr;
	pair_open(&pr);
	pid_t parent = getpid();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		child_dies_with(parent);
		pair_child(&pr);
		chan_side(&c, 1);
		pin_to(1);
		unsigned char buf[LAT_SIZE];
		bool ok = true;
		pair_signal(&pr, 'r');
		double deadline = run_deadline();
		long i;
		for (i = 0; i < n; i++) {
			if (chan_recv(&c, 0, buf, LAT_SIZE, deadline)) {
				rep->timeout = 1;
				ok = false;
				break;
			}
			if (!stamp_ok(buf, LAT_SIZE, (uint64_t)i) && rep->bad_at < 0) {
				rep->bad_at = i;
				ok = false;
			}
			stamp(buf, LAT_SIZE, ~(uint64_t)i); /* the answer carries its own number */
			if (chan_send(&c, 1, buf, LAT_SIZE, deadline)) {
				rep->timeout = 1;
				ok = false;
				break;
			}
		}
		rep->msgs = i;
		rep->ok = ok;
		rep->cpu = sched_getcpu();
		pair_signal(&pr, 'd');
		chan_close(&c);
		pair_close(&pr);
		_exit(0);
	}
	pair_parent(&pr);
	chan_side(&c, 0);
	if (pair_wait(&pr) != 'r')
		die_msg("echo process did not get ready");
	unsigned char buf[LAT_SIZE];
	memset(buf, 0, sizeof buf);
	double deadline = run_deadline();
	bool ok = true;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		stamp(buf, LAT_SIZE, (uint64_t)i);
		if (chan_send(&c, 0, buf, LAT_SIZE, deadline) || chan_recv(&c, 1, buf, LAT_SIZE, deadline)) {
			o.timeout = true;
			ok = false;
			break;
		}
		if (!stamp_ok(buf, LAT_SIZE, ~(uint64_t)i)) {
			ok = false;
			if (o.bad_at < 0)
				o.bad_at = i;
		}
	}
	o.secs = now() - t0;
	char done = pair_wait(&pr);
	int mycpu = sched_getcpu();
	const char *how = wait_child(pid);
	if (strcmp(how, "exited 0") != 0)
		die_msg("echo process %s", how);
	chan_close(&c);
	pair_close(&pr);
	if (mycpu == rep->cpu)
		runs_together++;
	else
		runs_apart++;
	o.timeout = o.timeout || rep->timeout;
	o.ok = ok && done == 'd' && rep->ok && rep->msgs == n;
	if (o.bad_at < 0)
		o.bad_at = rep->bad_at;
	return o;
}

/* ---- page faults -------------------------------------------------------- */

enum { FT_ANON, FT_ZERO, FT_ANON_SH, FT_ZERO_SH, FT_FILE, FT_ANON_POP, FT_ZERO_POP, NPF };
static const char *pf_name[NPF] = {
	"anonymous, MAP_PRIVATE",  "/dev/zero, MAP_PRIVATE",   "anonymous, MAP_SHARED",
	"/dev/zero, MAP_SHARED",   "file, MAP_SHARED",         "anonymous + MAP_POPULATE",
	"/dev/zero + MAP_POPULATE"};
static const char *pf_key[NPF] = {"anon-private", "zero-private", "anon-shared", "zero-shared",
				  "file-shared", "anon-populate", "zero-populate"};

struct pf_result {
	double first_ns, second_ns; /* per page; populate rows: mmap + first pass */
	long first_faults, second_faults; /* in the first and second pass */
	double map_ns;     /* per page, in mmap (MAP_POPULATE does the faults there) */
	long map_faults;
};

static int zero_fd = -1, pf_file_fd = -1;

/* Map npages of the given kind, write one byte per page twice; time and
 * count the minor faults of each pass. */
static struct pf_result run_faults(int kind, size_t npages)
{
	size_t ps = page_size(), len = npages * ps;
	int prot = PROT_READ | PROT_WRITE, flags = 0, fd = -1;
	switch (kind) {
	case FT_ANON: flags = MAP_PRIVATE | MAP_ANONYMOUS; break;
	case FT_ZERO: flags = MAP_PRIVATE; fd = zero_fd; break;
	case FT_ANON_SH: flags = MAP_SHARED | MAP_ANONYMOUS; break;
	case FT_ZERO_SH: flags = MAP_SHARED; fd = zero_fd; break;
	case FT_FILE: flags = MAP_SHARED; fd = pf_file_fd; break;
	case FT_ANON_POP: flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE; break;
	case FT_ZERO_POP: flags = MAP_PRIVATE | MAP_POPULATE; fd = zero_fd; break;
	}
	struct pf_result res;
	bool populate = kind == FT_ANON_POP || kind == FT_ZERO_POP;
	long f0 = minor_faults();
	double t0 = now();
	unsigned char *p = mmap(NULL, len, prot, flags, fd, 0);
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
	res.map_faults = fm - f0;
	res.map_ns = (tm - t0) * 1e9 / (double)npages;
	res.first_ns = (t1 - t0) * 1e9 / (double)npages;
	res.second_ns = (t2 - t1) * 1e9 / (double)npages;
	res.first_faults = f1 - fm;
	res.second_faults = f2 - f1;
	if (munmap(p, len) == -1)
		die("munmap");
	return res;
}

/* ---- files -------------------------------------------------------------- */

enum { FC_MMAP, FC_RW, FC_CFR, NFC };
static const char *fc_name[NFC] = {"mmap both + memcpy", "read/write, 128 KiB buffer", "copy_file_range"};
static const char *fc_key[NFC] = {"copy-mmap", "copy-readwrite", "copy-file-range"};
enum { FR_MMAP, FR_READ, NFR };
static const char *fr_name[NFR] = {"mmap + sum", "read 128 KiB + sum"};
static const char *fr_key[NFR] = {"read-mmap", "read-read"};

static uint64_t sum_words(uint64_t s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		s += w;
	}
	return s;
}

static void write_file(const char *path, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	unsigned char *buf = map_anon(MiB);
	for (size_t off = 0; off < len; off += MiB) {
		size_t n = len - off < MiB ? len - off : MiB;
		fill_message(buf, n, off / MiB);
		if (write(fd, buf, n) != (ssize_t)n)
			die("write %s", path);
	}
	/* Clean pages can be dropped from the cache without root (cold reads). */
	if (bench_mode && fdatasync(fd) == -1)
		die("fdatasync");
	munmap(buf, MiB);
	close(fd);
}

static void copy_file(int how, const char *from, const char *to, size_t len, unsigned char *iobuf)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in == -1)
		die("open %s", from);
	int out = open(to, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out == -1)
		die("open %s", to); /* the caller registered `to` for cleanup, once */
	if (how == FC_MMAP) {
		if (ftruncate(out, (off_t)len) == -1)
			die("ftruncate");
		void *s = mmap(NULL, len, PROT_READ, MAP_SHARED, in, 0);
		void *d = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
		if (s == MAP_FAILED || d == MAP_FAILED)
			die("mmap for copy");
		memcpy(d, s, len);
		if (munmap(s, len) == -1 || munmap(d, len) == -1)
			die("munmap");
	} else if (how == FC_RW) {
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
		size_t left = len;
		while (left > 0) {
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

static bool same_file(const char *a, const char *b, size_t len)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	if (fa == -1 || fb == -1)
		die("open for compare");
	struct stat st;
	if (fstat(fb, &st) == -1)
		die("fstat");
	bool same = false;
	if ((size_t)st.st_size == len) {
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

static uint64_t read_file(int how, const char *path, size_t len, unsigned char *iobuf)
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

/* Drop the file's clean pages from the page cache (no root needed);
 * returns the fraction still resident afterwards. */
static double drop_cache(const char *path, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	int e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (e)
		return 1.0;
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

/* ---- statistics --------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double t[64];
	int m = 0;
	for (int i = 0; i < n && m < 64; i++)
		if (!isnan(v[i]))
			t[m++] = v[i];
	if (m == 0)
		return NAN;
	qsort(t, (size_t)m, sizeof t[0], cmp_dbl);
	return m % 2 ? t[m / 2] : (t[m / 2 - 1] + t[m / 2]) / 2;
}

static void minmax(const double *v, int n, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int i = 0; i < n; i++)
		if (!isnan(v[i])) {
			if (v[i] < *lo)
				*lo = v[i];
			if (v[i] > *hi)
				*hi = v[i];
		}
	if (*lo > *hi)
		*lo = *hi = NAN;
}

/* Median over rounds of a[r]/b[r]: both were measured in the same round. */
static double ratio(const double *a, const double *b, int n)
{
	double t[64];
	int m = 0;
	for (int i = 0; i < n && m < 64; i++)
		t[m++] = (isnan(a[i]) || isnan(b[i]) || b[i] == 0) ? NAN : a[i] / b[i];
	return median(t, m);
}

static void size_str(size_t s, char *buf, size_t n)
{
	if (s >= MiB)
		snprintf(buf, n, "%zu MiB", s / MiB);
	else if (s >= KiB)
		snprintf(buf, n, "%zu KiB", s / KiB);
	else
		snprintf(buf, n, "%zu B", s);
}

/* ---- quick mode ---------------------------------------------------------- */

static long quick_msgs(size_t size)
{
	long n = (long)(256 * KiB / size);
	return n < 4 ? 4 : n;
}

static int quick(void)
{
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	unsigned char *src = map_anon(MAX_MSG), *dst = map_anon(MAX_MSG);

	step("The channels: one producer process, one consumer process, and memcpy as the ceiling.");
	int probe[2];
	if (pipe2(probe, O_CLOEXEC) == -1)
		die("pipe2");
	int def = fcntl(probe[1], F_GETPIPE_SZ);
	int big = fcntl(probe[1], F_SETPIPE_SZ, pipe_big);
	if (def == -1)
		die("fcntl(F_GETPIPE_SZ)");
	close(probe[0]);
	close(probe[1]);
	for (int k = 0; k < NCH; k++)
		say("%-17s %s", ch_name[k],
		    k == CH_MEMCPY ? "one thread copies each message from one buffer to another"
		    : k == CH_RING ? "a 1 MiB ring in MAP_SHARED memory: copied in, copied out; an empty ring sleeps in FUTEX_WAIT"
		    : k == CH_SPIN ? "the same ring, but an empty (or full) ring spins on the other side's index"
		    : k == CH_PIPE ? "pipe2(), as created"
		    : k == CH_PIPE_BIG ? "pipe2(), grown with F_SETPIPE_SZ"
		    : k == CH_UNIX ? "socketpair(AF_UNIX, SOCK_STREAM)"
				   : "mq_open(), larger messages sent in pieces");
	say("a new pipe holds %d pages; F_SETPIPE_SZ to 1 MiB: %s", def / (int)ps,
	    big >= pipe_big ? "granted" : errname(errno));
	say("posix mq pieces: {mq_piece=%ld} bytes; CPUs online: {cpus=%ld}", mq_piece, ncpus);
	check(def > 0 && big >= pipe_big, "both pipe sizes are available");

	step("Throughput: each channel carries messages of 64 B to 1 MiB; every byte is checked.");
	say("%-17s %-7s %s", "channel", "size", "result");
	bool all_ok = true;
	for (int k = 0; k < NCH; k++) {
		bool dead = false;
		for (size_t s = 0; s < NSIZES; s++) {
			char sz[32];
			size_str(sizes[s], sz, sizeof sz);
			long n = quick_msgs(sizes[s]);
			if (dead) {
				say("%-17s %-7s skipped after a timeout", ch_name[k], sz);
				continue;
			}
			struct outcome o = run_tput(k, sizes[s], n, src, dst);
			if (o.ok)
				say("%-17s %-7s delivered %ld messages, checksum ok", ch_name[k], sz, n);
			else if (o.timeout) {
				say("%-17s %-7s TIMEOUT: nothing moved for 2 s", ch_name[k], sz);
				dead = true;
			} else
				say("%-17s %-7s WRONG DATA from message %ld on", ch_name[k], sz, o.bad_at);
			all_ok = all_ok && o.ok;
		}
	}
	check(all_ok, "every channel delivered every byte of every message, in order");

	step("Latency: a 64 B message goes back and forth; every reply carries its sequence number.");
	all_ok = true;
	for (size_t j = 0; j < NLAT; j++) {
		long n = 2000;
		struct outcome o = run_lat(lat_ch[j], n);
		if (o.ok)
			say("%-17s %ld round trips, every reply the right one", ch_name[lat_ch[j]], n);
		else
			say("%-17s %s", ch_name[lat_ch[j]], o.timeout ? "TIMEOUT" : "WRONG REPLY");
		all_ok = all_ok && o.ok;
	}
	check(all_ok, "every channel answered every ping, in order");

	step("Page faults: write one byte per page of a fresh 256-page mapping, twice.");
	char fpath[128];
	unique_name("faults", fpath, sizeof fpath);
	size_t npages = 256;
	write_file(fpath, npages * ps);
	pf_file_fd = open(fpath, O_RDWR | O_CLOEXEC);
	zero_fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (pf_file_fd == -1 || zero_fd == -1)
		die("open");
	bool pf_ok = true;
	for (int k = 0; k < NPF; k++) {
		struct pf_result r = run_faults(k, npages);
		bool populate = k == FT_ANON_POP || k == FT_ZERO_POP;
		bool good = populate ? r.map_faults > 0 && r.first_faults == 0 : r.first_faults > 0;
		good = good && r.second_faults == 0;
		say("%-26s %sfirst pass %s, second pass %s", pf_name[k], populate ? "mmap faulted, " : "",
		    r.first_faults == 0 ? "no faults" : "faulted",
		    r.second_faults == 0 ? "no faults" : "faulted");
		pf_ok = pf_ok && good;
	}
	check(pf_ok, "the first touch of a page faults (unless MAP_POPULATE did it in mmap), the second does not");

	step("Files: copy a 256-page file three ways and read it two ways.");
	char cpath[128];
	unique_name("copy", cpath, sizeof cpath);
	cleanup_unlink(cpath);
	unsigned char *iobuf = map_anon(IO_BUF);
	bool fc_ok = true;
	for (int k = 0; k < NFC; k++) {
		copy_file(k, fpath, cpath, npages * ps, iobuf);
		bool same = same_file(fpath, cpath, npages * ps);
		say("%-26s the copy is %s", fc_name[k], same ? "identical to the source" : "DIFFERENT");
		if (unlink(cpath) == -1)
			die("unlink");
		fc_ok = fc_ok && same;
	}
	uint64_t s0 = read_file(FR_MMAP, fpath, npages * ps, iobuf);
	uint64_t s1 = read_file(FR_READ, fpath, npages * ps, iobuf);
	say("%-26s and %s: %s", fr_name[FR_MMAP], fr_name[FR_READ], s0 == s1 ? "same sum" : "DIFFERENT sums");
	check(fc_ok && s0 == s1, "every copy is byte for byte the source, both reads see the same bytes");

	step("What `make bench` measures with these channels, and the claims it decides.");
	say("throughput table: MB/s per channel and size, ratio to the shm ring and to memcpy");
	say("claim 'shared memory is 10-100x faster than a pipe': row pipe (default), column x ring(futex)");
	say("claim 'shared memory is the fastest IPC': the fastest channel at each size");
	say("claim 'a message queue sits between pipe and shared memory': row posix mq");
	say("claim 'shared memory is zero copy': the shm ring against memcpy, and mmap vs read of a file");
	say("claim 'shared memory needs no kernel': latency table, shm ring (futex) vs (spin)");
	say("claim '/dev/zero maps slower than MAP_ANONYMOUS': page-fault table, first touch");
	say("claim 'copying a file through two mappings is less work': file copy table");
	say("targets: ring >= 60%% of memcpy and >= 4x a pipe at 64 KiB-1 MiB; futex ring within 15%% of spin;");
	say("         spinning round trip >= 10x below the pipe's; futex round trip close to the pipe's");

	step("Clean up.");
	close(pf_file_fd);
	close(zero_fd);
	if (unlink(fpath) == -1)
		die("unlink");
	munmap(iobuf, IO_BUF);
	munmap(src, MAX_MSG);
	munmap(dst, MAX_MSG);
	say("removed the files; the message queues were unlinked as soon as they were opened");
	return lab_end();
}

/* ---- the bench ---------------------------------------------------------- */

#define MAXR 31
static int reps = 9;
static double t_start;
static int failures, timeouts;
static FILE *csv;

static void csv_row(const char *exp, const char *chan, size_t size, const char *unit, const double *v,
		    int n, double vs_ring, double vs_memcpy)
{
	if (!csv)
		return;
	double lo, hi;
	minmax(v, n, &lo, &hi);
	fprintf(csv, "%s,%s,%zu,%s,%.6g,%.6g,%.6g,%d,%.4g,%.4g\n", exp, chan, size, unit, median(v, n), lo,
		hi, n, vs_ring, vs_memcpy);
}

static double loadavg(void)
{
	double l = NAN;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = NAN;
		fclose(f);
	}
	return l;
}

static const char *pass(bool ok)
{
	return ok ? "PASS" : "MISS";
}

/* n so that one run takes about target seconds, from a warm-up run. */
static long size_run(double secs, long n0, double target, long lo, long hi)
{
	double n = secs > 0 ? (double)n0 * target / secs : (double)hi;
	if (n < (double)lo)
		n = (double)lo;
	if (n > (double)hi)
		n = (double)hi;
	return (long)n;
}

static bool out_of_time(void)
{
	return now() - t_start > 100.0;
}

static double tp[NCH][NSIZES][MAXR]; /* MB/s */
static double lat[NLAT][MAXR];       /* microseconds per round trip */
static double pff[NPF][MAXR], pfs[NPF][MAXR], pfn[NPF][MAXR]; /* ns/page first, second; faults */
static double fc[NFC][MAXR], frw[NFR][MAXR], frc[NFR][MAXR]; /* ms */

static void bench_throughput(unsigned char *src, unsigned char *dst)
{
	long n[NCH][NSIZES];
	bool dead[NCH] = {false};
	printf("\n== Throughput: one producer process -> one consumer process\n");
	printf("   warm-up round sizes each run to ~30 ms; then %d rounds, every channel and size once per round\n",
	       reps);
	for (int r = -1; r < reps; r++) {
		if (out_of_time())
			break;
		for (size_t s = 0; s < NSIZES; s++)
			for (int k = 0; k < NCH; k++) {
				long cnt;
				if (dead[k])
					continue;
				if (r < 0) {
					cnt = (long)(4 * MiB / sizes[s]);
					if (cnt > 20000)
						cnt = 20000;
					if (cnt < 8)
						cnt = 8;
				} else
					cnt = n[k][s];
				struct outcome o = run_tput(k, sizes[s], cnt, src, dst);
				if (!o.ok) {
					if (o.timeout)
						timeouts++;
					else
						failures++;
					fprintf(stderr, "%s, %zu B: %s%s\n", ch_name[k], sizes[s],
						o.timeout ? "TIMEOUT" : "WRONG DATA",
						o.timeout ? "; this channel is skipped from now on" : "");
					dead[k] = o.timeout;
				}
				if (r < 0)
					n[k][s] = size_run(o.secs, cnt, 0.03, 16, 5000000);
				else
					tp[k][s][r] = o.ok ? (double)cnt * (double)sizes[s] / o.secs / 1e6 : NAN;
			}
	}
	for (size_t s = 0; s < NSIZES; s++) {
		char sz[32];
		size_str(sizes[s], sz, sizeof sz);
		printf("\n  %s messages          MB/s median  [min .. max]        x ring(futex)  x memcpy\n", sz);
		for (int k = 0; k < NCH; k++) {
			double lo, hi, m = median(tp[k][s], reps);
			minmax(tp[k][s], reps, &lo, &hi);
			double vr = ratio(tp[k][s], tp[CH_RING][s], reps);
			double vm = ratio(tp[k][s], tp[CH_MEMCPY][s], reps);
			printf("  %-20s %12.0f  [%8.0f .. %8.0f]  %10.3f  %9.3f\n", ch_name[k], m, lo, hi, vr, vm);
			csv_row("throughput", ch_key[k], sizes[s], "MB/s", tp[k][s], reps, vr, vm);
		}
	}
}

static void bench_latency(void)
{
	long n[NLAT];
	bool dead[NLAT] = {false};
	printf("\n== Latency: round trip of a %d B message (parent -> child -> parent)\n", LAT_SIZE);
	for (int r = -1; r < reps; r++) {
		if (out_of_time())
			break;
		for (size_t j = 0; j < NLAT; j++) {
			if (dead[j])
				continue;
			long cnt = r < 0 ? 300 : n[j];
			struct outcome o = run_lat(lat_ch[j], cnt);
			if (!o.ok) {
				if (o.timeout)
					timeouts++;
				else
					failures++;
				fprintf(stderr, "latency %s: %s\n", ch_name[lat_ch[j]], o.timeout ? "TIMEOUT" : "WRONG REPLY");
				dead[j] = o.timeout;
			}
			if (r < 0)
				n[j] = size_run(o.secs, cnt, 0.025, 50, 2000000);
			else
				lat[j][r] = o.ok ? o.secs / (double)cnt * 1e6 : NAN;
		}
	}
	printf("  %-20s %10s  [%8s .. %8s]  %12s  %10s\n", "channel", "us median", "min", "max", "x ring(spin)",
	       "x pipe");
	for (size_t j = 0; j < NLAT; j++) {
		double lo, hi, m = median(lat[j], reps);
		minmax(lat[j], reps, &lo, &hi);
		double vs = ratio(lat[j], lat[0], reps), vp = ratio(lat[j], lat[2], reps);
		printf("  %-20s %10.2f  [%8.2f .. %8.2f]  %12.2f  %10.2f\n", ch_name[lat_ch[j]], m, lo, hi, vs, vp);
		csv_row("latency", ch_key[lat_ch[j]], LAT_SIZE, "us/roundtrip", lat[j], reps, NAN, NAN);
	}
}

static void bench_faults(const char *dir_fs)
{
	size_t npages = 32 * MiB / page_size();
	char fpath[128];
	unique_name("faults", fpath, sizeof fpath);
	write_file(fpath, npages * page_size());
	pf_file_fd = open(fpath, O_RDWR | O_CLOEXEC);
	zero_fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (pf_file_fd == -1 || zero_fd == -1)
		die("open");
	for (int r = -1; r < reps; r++)
		for (int k = 0; k < NPF; k++) {
			struct pf_result x = run_faults(k, npages);
			if (r < 0)
				continue;
			pff[k][r] = x.first_ns;
			pfs[k][r] = x.second_ns;
			pfn[k][r] = (double)(x.first_faults + x.map_faults);
		}
	printf("\n== Page faults: write one byte per page of a fresh mapping of %zu pages (32 MiB), twice\n", npages);
	printf("   (anonymous/dev-zero private: MADV_NOHUGEPAGE, so 4 KiB pages; file on %s)\n", dir_fs);
	printf("  %-26s %12s %10s %10s %14s %12s\n", "mapping", "1st ns/page", "faults", "ns/fault",
	       "x anon private", "2nd ns/page");
	for (int k = 0; k < NPF; k++) {
		double m = median(pff[k], reps), f = median(pfn[k], reps);
		double per = f > 0 ? m * (double)npages / f : NAN;
		printf("  %-26s %12.0f %10.0f %10.0f %14.2f %12.1f\n", pf_name[k], m, f, per,
		       ratio(pff[k], pff[FT_ANON], reps), median(pfs[k], reps));
		csv_row("fault-first", pf_key[k], npages, "ns/page", pff[k], reps, NAN, NAN);
		csv_row("fault-second", pf_key[k], npages, "ns/page", pfs[k], reps, NAN, NAN);
	}
	printf("   (MAP_POPULATE rows: the mmap call itself, which faults everything in, plus the first pass)\n");
	close(pf_file_fd);
	close(zero_fd);
	if (unlink(fpath) == -1)
		die("unlink");
}

static size_t file_len;
static double cold_left = 1.0;
static bool cold_ok;

static void bench_files(void)
{
	/* 128 MiB, or an eighth of the available memory on a small machine. */
	file_len = 128 * MiB;
	long avail = sysconf(_SC_AVPHYS_PAGES);
	if (avail > 0 && (size_t)avail * page_size() / 8 < file_len)
		file_len = (size_t)avail * page_size() / 8 / MiB * MiB;
	char src[128], dst[128];
	unique_name("src", src, sizeof src);
	unique_name("dst", dst, sizeof dst);
	cleanup_unlink(dst);
	write_file(src, file_len);
	unsigned char *iobuf = map_anon(IO_BUF);
	uint64_t want = read_file(FR_READ, src, file_len, iobuf);
	for (int r = -1; r < reps; r++) {
		if (out_of_time())
			break;
		for (int k = 0; k < NFC; k++) {
			double t0 = now();
			copy_file(k, src, dst, file_len, iobuf);
			double t = now() - t0;
			if (!same_file(src, dst, file_len)) {
				failures++;
				fprintf(stderr, "%s: the copy differs\n", fc_name[k]);
			}
			if (unlink(dst) == -1)
				die("unlink");
			if (r >= 0)
				fc[k][r] = t * 1e3;
		}
		for (int k = 0; k < NFR; k++) {
			double t0 = now();
			uint64_t s = read_file(k, src, file_len, iobuf);
			double t = now() - t0;
			if (s != want) {
				failures++;
				fprintf(stderr, "%s: wrong sum\n", fr_name[k]);
			}
			if (r >= 0)
				frw[k][r] = t * 1e3;
		}
	}
	/* Cold: POSIX_FADV_DONTNEED drops the clean pages; 3 rounds. */
	int cold_reps = 3;
	cold_ok = true;
	for (int r = 0; r < cold_reps; r++)
		for (int k = 0; k < NFR; k++) {
			double left = drop_cache(src, file_len);
			if (left > cold_left || r == 0)
				cold_left = left;
			if (left > 0.05)
				cold_ok = false;
			double t0 = now();
			uint64_t s = read_file(k, src, file_len, iobuf);
			frc[k][r] = (now() - t0) * 1e3;
			if (s != want)
				failures++;
		}
	printf("\n== Files: a %zu MiB file in the page cache (nothing is fsync'ed: page-cache work only)\n",
	       file_len / MiB);
	printf("  %-28s %10s  [%8s .. %8s]  %8s  %14s\n", "copy", "ms median", "min", "max", "MB/s",
	       "x read/write");
	for (int k = 0; k < NFC; k++) {
		double lo, hi, m = median(fc[k], reps);
		minmax(fc[k], reps, &lo, &hi);
		printf("  %-28s %10.1f  [%8.1f .. %8.1f]  %8.0f  %14.2f\n", fc_name[k], m, lo, hi,
		       (double)file_len / m / 1e3, ratio(fc[k], fc[FC_RW], reps));
		csv_row("file-copy", fc_key[k], file_len, "ms", fc[k], reps, NAN, NAN);
	}
	printf("  %-28s %10s  [%8s .. %8s]  %8s  %14s\n", "read (warm cache)", "ms median", "min", "max", "MB/s",
	       "x read()");
	for (int k = 0; k < NFR; k++) {
		double lo, hi, m = median(frw[k], reps);
		minmax(frw[k], reps, &lo, &hi);
		printf("  %-28s %10.1f  [%8.1f .. %8.1f]  %8.0f  %14.2f\n", fr_name[k], m, lo, hi,
		       (double)file_len / m / 1e3, ratio(frw[k], frw[FR_READ], reps));
		csv_row("file-read-warm", fr_key[k], file_len, "ms", frw[k], reps, NAN, NAN);
	}
	printf("  %-28s %10s  [%8s .. %8s]  %8s  %14s\n", "read (cold: FADV_DONTNEED)", "ms median", "min", "max",
	       "MB/s", "x read()");
	for (int k = 0; k < NFR; k++) {
		double lo, hi, m = median(frc[k], cold_reps);
		minmax(frc[k], cold_reps, &lo, &hi);
		printf("  %-28s %10.1f  [%8.1f .. %8.1f]  %8.0f  %14.2f\n", fr_name[k], m, lo, hi,
		       (double)file_len / m / 1e3, ratio(frc[k], frc[FR_READ], cold_reps));
		csv_row("file-read-cold", fr_key[k], file_len, "ms", frc[k], cold_reps, NAN, NAN);
	}
	printf("   cold: POSIX_FADV_DONTNEED (no root needed) left %.0f%% of the file cached%s\n", cold_left * 100,
	       cold_ok ? "; on a VM the host may still cache the disk, so \"cold\" can be faster than a real disk"
		       : "; the drop did not work here, so these are not cold reads");
	munmap(iobuf, IO_BUF);
	if (unlink(src) == -1)
		die("unlink");
}

static void write_gnuplot(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("fopen %s", path);
	char png[512];
	snprintf(png, sizeof png, "%.*s.png", (int)(strlen(path) > 3 ? strlen(path) - 3 : strlen(path)), path);
	fprintf(f, "# written by speed --bench; run: gnuplot %s\n", path);
	fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		   "  set terminal pngcairo size 1000,650 noenhanced\n} else {\n"
		   "  set terminal png size 1000,650 noenhanced\n}\nset output '%s'\n", png);
	fprintf(f, "set title \"One producer process to one consumer process\\nmedian and min..max of %d rounds, %s\"\n",
		reps, opt_pin ? "pinned to CPUs 0 and 1" : "placement left to the scheduler");
	fprintf(f, "set xrange [40:1600000]\n");
	fprintf(f, "set logscale xy\nset xlabel 'message size (bytes)'\nset ylabel 'throughput (MB/s)'\n");
	fprintf(f, "set key outside right\nset grid\n");
	fprintf(f, "set xtics (");
	for (size_t s = 0; s < NSIZES; s++) {
		char sz[32];
		size_str(sizes[s], sz, sizeof sz);
		fprintf(f, "%s'%s' %zu", s ? ", " : "", sz, sizes[s]);
	}
	fprintf(f, ")\n");
	for (int k = 0; k < NCH; k++) {
		fprintf(f, "$c%d << EOD\n", k);
		for (size_t s = 0; s < NSIZES; s++) {
			double lo, hi, m = median(tp[k][s], reps);
			minmax(tp[k][s], reps, &lo, &hi);
			if (!isnan(m))
				fprintf(f, "%zu %.3f %.3f %.3f\n", sizes[s], m, lo, hi);
		}
		fprintf(f, "EOD\n");
	}
	fprintf(f, "plot ");
	for (int k = 0; k < NCH; k++)
		fprintf(f, "%s$c%d using 1:2:3:4 with yerrorlines lw 2 title '%s'", k ? ", \\\n     " : "", k,
			ch_name[k]);
	fprintf(f, "\n");
	if (fclose(f) != 0)
		die("fclose %s", path);
}

static int bench(const char *csv_path, const char *gp_path)
{
	lab_begin(LAB_TITLE);
	t_start = now();
	if (csv_path) {
		csv = fopen(csv_path, "w");
		if (!csv)
			die("fopen %s", csv_path);
		fprintf(csv, "experiment,channel,size_bytes,unit,median,min,max,reps,x_ring,x_memcpy\n");
	}
	printf("machine: %ld CPUs online, page size %zu, work directory on %s\n", ncpus, page_size(),
	       fs_type("."));
	double load0 = loadavg();
	printf("load average: %.1f on %ld CPUs%s\n", load0, ncpus,
	       load0 > (double)ncpus ? " -- the machine is busy: expect wide spreads; the per-round ratios suffer least" : "");
	printf("placement: %s\n", opt_pin ? "pinned: producer on CPU 0, consumer on CPU 1 (--pin)"
					  : "left to the scheduler (make bench ARGS=--pin pins to CPUs 0 and 1)");
	printf("ring: %zu KiB of data; pipe (1 MiB): F_SETPIPE_SZ %d; posix mq pieces of %ld B, %ld deep\n",
	       ring_cap / KiB, pipe_big, mq_piece, mq_depth);
	printf("checks: each message carries its sequence number in its first and last 8 bytes (make test checks every byte)\n");
	pin_to(0);
	unsigned char *src = map_anon(MAX_MSG), *dst = map_anon(MAX_MSG);
	/* A round that never ran (out of time, a dead channel) is NaN, which the statistics skip. */
	double *all[] = {&tp[0][0][0], &lat[0][0], &pff[0][0], &pfs[0][0], &pfn[0][0],
			 &fc[0][0],    &frw[0][0], &frc[0][0]};
	size_t count[] = {sizeof tp, sizeof lat, sizeof pff, sizeof pfs, sizeof pfn, sizeof fc, sizeof frw, sizeof frc};
	for (size_t a = 0; a < sizeof all / sizeof all[0]; a++)
		for (size_t i = 0; i < count[a] / sizeof(double); i++)
			all[a][i] = NAN;

	bench_throughput(src, dst);
	long tput_apart = runs_apart, tput_together = runs_together;
	bench_latency();
	long lat_apart = runs_apart - tput_apart, lat_together = runs_together - tput_together;
	bench_faults(fs_type("."));
	bench_files();
	printf("\n== Where the two processes ran (sched_getcpu at the end of each run)\n");
	printf("  throughput runs: %ld on different CPUs, %ld on the same CPU\n", tput_apart, tput_together);
	printf("  latency runs:    %ld on different CPUs, %ld on the same CPU\n", lat_apart, lat_together);

	/* ---- verdicts ---- */
	printf("\n== The source notes' claims, as measured here\n");
	size_t s64k = 5;
	char line[512];
	int len = 0;
	for (size_t s = 0; s < NSIZES; s++) {
		char sz[32];
		size_str(sizes[s], sz, sizeof sz);
		len += snprintf(line + len, sizeof line - (size_t)len, "%s%s %.1fx", s ? ", " : "", sz,
				ratio(tp[CH_RING][s], tp[CH_PIPE][s], reps));
	}
	double rp64 = ratio(tp[CH_RING][s64k], tp[CH_PIPE][s64k], reps);
	printf("* \"shared memory is 10-100x faster than a pipe\": shm ring vs default pipe at 64 KiB messages: %.1fx here"
	       " -- %s\n  (%s)\n",
	       rp64, rp64 >= 10 ? "holds here" : rp64 >= 1.5 ? "wrong here: faster, but not 10-100x" : "wrong here: about the same",
	       line);
	len = 0;
	int ring_best = 0;
	for (size_t s = 0; s < NSIZES; s++) {
		int best = CH_RING;
		for (int k = CH_RING; k < NCH; k++)
			if (median(tp[k][s], reps) > median(tp[best][s], reps))
				best = k;
		if (best == CH_RING || best == CH_SPIN)
			ring_best++;
		char sz[32];
		size_str(sizes[s], sz, sizeof sz);
		len += snprintf(line + len, sizeof line - (size_t)len, "%s%s: %s", s ? ", " : "", sz, ch_key[best]);
	}
	printf("* \"shared memory is the fastest IPC\": a shm ring was the fastest channel at %d of %zu sizes (%s)\n",
	       ring_best, NSIZES, line);
	double mq_pipe = ratio(tp[CH_MQ][s64k], tp[CH_PIPE][s64k], reps);
	double mq_pipe_small = ratio(tp[CH_MQ][0], tp[CH_PIPE][0], reps);
	printf("* \"a message queue is medium speed, between pipe and shared memory\": posix mq / pipe = %.2fx at 64 B,"
	       " %.2fx at 64 KiB -- %s\n",
	       mq_pipe_small, mq_pipe,
	       mq_pipe_small >= 1 && mq_pipe >= 1 ? "holds here" : "holds only at some sizes here");
	double rm64 = ratio(tp[CH_RING][s64k], tp[CH_MEMCPY][s64k], reps);
	printf("* \"zero copy\": the shm ring copies each byte twice (in and out) and reaches %.0f%% of one memcpy at 64 KiB;"
	       " reading a cached file by mmap takes %.2fx the time of read()\n",
	       rm64 * 100, ratio(frw[FR_MMAP], frw[FR_READ], reps));
	double lf = ratio(lat[1], lat[0], reps), lp = ratio(lat[1], lat[2], reps);
	printf("* \"with shared memory the kernel is not involved\": only while spinning; the futex ring's round trip"
	       " is %.1fx the spinning one and %.2fx the pipe's\n",
	       lf, lp);
	double zr = ratio(pff[FT_ZERO], pff[FT_ANON], reps), zs = ratio(pff[FT_ZERO_SH], pff[FT_ANON_SH], reps);
	printf("* \"/dev/zero is slower than MAP_ANONYMOUS\": first touch /dev/zero vs anonymous: %.2fx private,"
	       " %.2fx shared -- %s\n",
	       zr, zs,
	       (zr < 1.25 && zs < 1.25) ? "wrong here: after mmap it is the same kernel path; the difference is noise"
					: "slower in this run (the kernel path is the same: look at the spread)");
	double cm = ratio(fc[FC_MMAP], fc[FC_RW], reps), cc = ratio(fc[FC_CFR], fc[FC_RW], reps);
	printf("* \"copying a file through two mappings is less work\": mmap copy takes %.2fx the time of read/write,"
	       " copy_file_range %.2fx -- %s\n",
	       cm, cc, cm < 0.9 ? "faster here" : cm <= 1.1 ? "no faster here" : "slower here");

	/* ---- targets ---- */
	printf("\n== Targets (ratios from the same rounds)\n");
	bool t1 = true, t1b = true, t2 = true;
	for (size_t s = 5; s < NSIZES; s++) {
		char sz[32];
		size_str(sizes[s], sz, sizeof sz);
		double a = ratio(tp[CH_RING][s], tp[CH_MEMCPY][s], reps);
		double b = ratio(tp[CH_RING][s], tp[CH_PIPE][s], reps);
		double c = ratio(tp[CH_RING][s], tp[CH_SPIN][s], reps);
		printf("  %-4s %-7s ring(futex) = %3.0f%% of memcpy (>= 60%%), %5.1fx pipe (>= 4x), %3.0f%% of ring(spin) (>= 85%%)\n",
		       pass(a >= 0.6 && b >= 4 && c >= 0.85), sz, a * 100, b, c * 100);
		t1 = t1 && a >= 0.6;
		t1b = t1b && b >= 4;
		t2 = t2 && c >= 0.85;
	}
	printf("  %s ring >= 60%% of memcpy at 64 KiB-1 MiB\n", pass(t1));
	printf("  %s ring >= 4x a default pipe at 64 KiB-1 MiB\n", pass(t1b));
	printf("  %s futex ring within 15%% of the spinning ring for bulk transfer\n", pass(t2));
	double sp = ratio(lat[2], lat[0], reps);
	printf("  %s spinning round trip at least 10x below the pipe's: pipe/spin = %.1fx\n", pass(sp >= 10), sp);
	printf("  %s futex round trip close to the pipe's (0.5x-1.5x): %.2fx\n", pass(lp >= 0.5 && lp <= 1.5), lp);
	printf("  %s method: warm-up, %d interleaved rounds, medians [min..max], per-round ratios, placement reported\n",
	       pass(reps >= 5), reps);
	double total = now() - t_start;
	printf("  (load average at the end: %.1f on %ld CPUs)\n", loadavg(), ncpus);
	printf("  %s whole bench under two minutes: %.0f s\n", pass(total < 120), total);
	printf("  %s correctness: %d wrong transfers, %d timeouts\n", pass(failures == 0 && timeouts == 0), failures,
	       timeouts);

	if (csv) {
		if (fclose(csv) != 0)
			die("fclose %s", csv_path);
		printf("\nCSV: %s\n", csv_path);
	}
	if (gp_path)
		write_gnuplot(gp_path);
	munmap(src, MAX_MSG);
	munmap(dst, MAX_MSG);
	return failures || timeouts ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------- */

static long read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "r");
	long v = dflt;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = dflt;
		fclose(f);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *csv_path = NULL, *gp_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--bench") == 0)
			bench_mode = true;
		else if (strcmp(argv[i], "--pin") == 0)
			opt_pin = true;
		else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--gnuplot") == 0 && i + 1 < argc)
			gp_path = argv[++i];
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = atoi(argv[++i]);
			if (reps < 1 || reps > MAXR)
				die_msg("--reps: 1 to %d", MAXR);
		} else if (strcmp(argv[i], "--chunk-kib") == 0 && i + 1 < argc) {
			long k = atol(argv[++i]);
			if (k < 1 || (size_t)k * KiB > RING_MAX)
				die_msg("--chunk-kib: 1 to %zu", RING_MAX / KiB);
			ring_chunk = (size_t)k * KiB;
		} else if (strcmp(argv[i], "--ring-kib") == 0 && i + 1 < argc) {
			long k = atol(argv[++i]);
			if (k < 4 || (size_t)k * KiB > RING_MAX || (k & (k - 1)))
				die_msg("--ring-kib: a power of two from 4 to %zu", RING_MAX / KiB);
			ring_cap = (uint32_t)(k * (long)KiB);
		} else
			die_msg("usage: speed [--bench [--csv FILE] [--gnuplot FILE.gp] [--pin] [--reps N] [--ring-kib N]]");
	}
	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (bench_mode)
		stall_limit = 5.0;
	long ms = read_long("/proc/sys/fs/mqueue/msgsize_max", MQ_PIECE_MAX);
	if (ms < mq_piece)
		mq_piece = ms;
	long mm = read_long("/proc/sys/fs/mqueue/msg_max", 10);
	if (mm < mq_depth)
		mq_depth = mm;
	long pm = read_long("/proc/sys/fs/pipe-max-size", (long)MiB);
	if (pm < pipe_big)
		pipe_big = (int)pm;

	size_t shared = 2 * sizeof(struct ring) + page_size();
	void *m = mmap(NULL, shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap shared");
	memset(m, 0, shared);
	rings = m;
	rep = (struct report *)((char *)m + 2 * sizeof(struct ring));

	int status = bench_mode ? bench(csv_path, gp_path) : quick();
	munmap(m, shared);
	return status;
}
