/*
 * ring.c - the shared-memory ring of lab 16 (see ring.h).
 *
 * Writing is: wait for room, build or memcpy into the ring, publish the new
 * head.  Reading is: wait for data, use or memcpy out of the ring, publish
 * the new tail.  The publishing is where the lab's exercise is: the memory
 * order that makes the bytes visible with the index, and the wake-up of a
 * sleeper.
 */
#include "lab.h"
#include "ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ring_reset(struct ring *r)
{
	atomic_store(&r->head, 0);
	atomic_store(&r->tail, 0);
	atomic_store(&r->reader_sleeps, 0);
	atomic_store(&r->writer_sleeps, 0);
}

bool ring_may_sleep(const struct ring_end *e)
{
	return !e->spin || e->spin_limit > 0;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is in a MAP_SHARED mapping seen by two processes. */
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

static void futex_wake(struct ring_end *e, _Atomic uint32_t *addr)
{
	long n = futex(addr, FUTEX_WAKE, 1, NULL);
	if (n == -1)
		die("futex(FUTEX_WAKE)");
	e->wakes += n;
}

/* Sleep in FUTEX_WAIT while *word == old, at most e->nap seconds.  False
 * when the nap ran out although *word had changed: the other side moved
 * and did not wake us, a lost wake-up. */
static bool nap(struct ring_end *e, _Atomic uint32_t *word, uint32_t old)
{
	double whole = (double)(time_t)e->nap;
	struct timespec ts = {(time_t)whole, (long)((e->nap - whole) * 1e9)};
	if (futex(word, FUTEX_WAIT, old, &ts) == 0) {
		e->woken++;
		e->late = 0;
	} else if (errno == ETIMEDOUT) {
		e->napped_out++;
		if (atomic_load(word) != old)
			return ++e->late < 3;
	} else if (errno != EAGAIN && errno != EINTR)
		die("futex(FUTEX_WAIT)");
	return true;
}

/* Wait until *word != old.  Spinning: poll, pausing; every 1024 polls look
 * at the clock and give the CPU away once (sched_yield, not a sleep) in case
 * the other side is queued behind us; after spin_limit polls (when it is
 * not 0) sleep like the futex ring.  Sleeping: announce in *sleeps, look
 * again, then FUTEX_WAIT (the kernel rechecks *word == old atomically).
 * Returns -1 at the deadline, when the other side has not moved for
 * e->stall seconds (a broken ring fails fast, a slow one does not), or
 * after three lost wake-ups in a row. */
static int ring_wait(struct ring_end *e, _Atomic uint32_t *word, uint32_t old, _Atomic uint32_t *sleeps,
		     double deadline)
{
	double stalled = now() + e->stall;
	if (stalled < deadline)
		deadline = stalled;
	for (uint32_t polls = 1;; polls++) {
		if (atomic_load_explicit(word, memory_order_acquire) != old)
			return 0;
		if (e->spin && (e->spin_limit == 0 || polls < e->spin_limit)) {
			cpu_relax();
			if ((polls & 1023) == 0) {
				if (now() > deadline)
					return -1;
				sched_yield();
			}
			continue;
		}
		atomic_store(sleeps, 1); /* seq_cst: ordered before the load below */
		bool woken = atomic_load(word) != old || nap(e, word, old);
		atomic_store_explicit(sleeps, 0, memory_order_relaxed);
		if (!woken || (now() > deadline && atomic_load(word) == old))
			return -1;
	}
}

/* ---- the writer --------------------------------------------------------- */

/* The bytes up to e->pos are written: hand them to the reader. */
static void publish_head(struct ring_end *e)
{
	struct ring *r = e->r;
	/* BEGIN SOLUTION */
	/* The release store orders the bytes written into the ring before the
	 * new head, so a reader that sees head also sees the bytes. */
	atomic_store_explicit(&r->head, e->pos, memory_order_release);
	if (ring_may_sleep(e)) {
		/* Store head, then look at reader_sleeps: a full fence, or the
		 * reader could go to sleep on the old head and never wake.
		 * Taking the flag (exchange with 0) wakes a sleeper once: until
		 * it runs again, the next publishes make no system call. */
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_exchange_explicit(&r->reader_sleeps, 0, memory_order_relaxed))
			futex_wake(e, &r->head);
	}
	/* END SOLUTION */
	//> /* TODO: publish e->pos as the new head (which memory order?), and wake a reader sleeping on the futex */
	//> (void)r;
	//> (void)futex_wake; /* yours to call when ring_may_sleep(e) */
}

void *ring_reserve(struct ring_end *e, size_t want, size_t *n, double deadline)
{
	struct ring *r = e->r;
	uint32_t room = e->cap - (e->pos - e->seen);
	while (room == 0) {
		e->seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		room = e->cap - (e->pos - e->seen);
		if (room == 0 && ring_wait(e, &r->tail, e->seen, &r->writer_sleeps, deadline))
			return NULL;
	}
	size_t off = e->pos & (e->cap - 1), k = want;
	if (k > room)
		k = room;
	if (k > e->cap - off)
		k = e->cap - off;
	if (k > e->chunk)
		k = e->chunk;
	*n = k;
	return r->data + off;
}

void ring_commit(struct ring_end *e, size_t n)
{
	e->pos += (uint32_t)n;
	publish_head(e);
}

int ring_send(struct ring_end *e, const void *buf, size_t len, double deadline)
{
	const unsigned char *src = buf;
	while (len > 0) {
		size_t n;
		void *room = ring_reserve(e, len, &n, deadline);
		if (!room)
			return -1;
		memcpy(room, src, n);
		src += n;
		len -= n;
		ring_commit(e, n);
	}
	return 0;
}

/* ---- the reader --------------------------------------------------------- */

/* The bytes up to e->pos are read: give their space back to the writer. */
static void publish_tail(struct ring_end *e)
{
	struct ring *r = e->r;
	/* BEGIN SOLUTION */
	/* Release: our reads of that space are done before the writer may
	 * reuse it; then wake a writer that sleeps because the ring was full. */
	atomic_store_explicit(&r->tail, e->pos, memory_order_release);
	if (ring_may_sleep(e)) {
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_exchange_explicit(&r->writer_sleeps, 0, memory_order_relaxed))
			futex_wake(e, &r->tail);
	}
	/* END SOLUTION */
	//> /* TODO: give the consumed bytes back to the writer (the new tail), and wake it if it sleeps */
	//> (void)r;
}

const void *ring_peek(struct ring_end *e, size_t want, size_t *n, double deadline)
{
	struct ring *r = e->r;
	uint32_t avail = e->seen - e->pos;
	while (avail == 0) {
		e->seen = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = e->seen - e->pos;
		if (avail == 0 && ring_wait(e, &r->head, e->pos, &r->reader_sleeps, deadline))
			return NULL;
	}
	size_t off = e->pos & (e->cap - 1), k = want;
	if (k > avail)
		k = avail;
	if (k > e->cap - off)
		k = e->cap - off;
	*n = k;
	return r->data + off;
}

void ring_release(struct ring_end *e, size_t n)
{
	e->pos += (uint32_t)n;
	publish_tail(e);
}

int ring_recv(struct ring_end *e, void *buf, size_t len, double deadline)
{
	unsigned char *dst = buf;
	while (len > 0) {
		size_t n;
		const void *bytes = ring_peek(e, len, &n, deadline);
		if (!bytes)
			return -1;
		memcpy(dst, bytes, n);
		dst += n;
		len -= n;
		ring_release(e, n);
	}
	return 0;
}
