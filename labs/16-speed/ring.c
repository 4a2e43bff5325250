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
	atomic_store(&r->reader_wants, 0);
	atomic_store(&r->writer_wants, 0);
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

/* Has the index v reached target (both count modulo 2^32)? */
static bool reached(uint32_t v, uint32_t target)
{
	return (int32_t)(v - target) >= 0;
}

/* Sleep in FUTEX_WAIT while *word == v, at most e->nap seconds.  False
 * when the nap ran out although *word had reached the target: the other
 * side got there and did not wake us, a lost wake-up. */
static bool nap(struct ring_end *e, _Atomic uint32_t *word, uint32_t v, uint32_t target)
{
	double whole = (double)(time_t)e->nap;
	struct timespec ts = {(time_t)whole, (long)((e->nap - whole) * 1e9)};
	if (futex(word, FUTEX_WAIT, v, &ts) == 0) {
		e->woken++;
		e->late = 0;
	} else if (errno == ETIMEDOUT) {
		e->napped_out++;
		if (reached(atomic_load(word), target))
			return ++e->late < 3;
	} else if (errno != EAGAIN && errno != EINTR)
		die("futex(FUTEX_WAIT)");
	return true;
}

/* Wait for the other side's index *word, now old.  Spinning: until it
 * moves; poll, pausing; every 1024 polls look at the clock and give the
 * CPU away once (sched_yield, not a sleep) in case the other side is
 * queued behind us; after spin_limit polls (when it is not 0) sleep like
 * the futex ring.  Sleeping: until it reaches target; announce target in
 * *wants and the sleep in *sleeps, look again, then FUTEX_WAIT (the kernel
 * rechecks the value atomically).  Returns -1 at the deadline, when the
 * other side has not got there for e->stall seconds (a broken ring fails
 * fast, a slow one does not), or after three lost wake-ups in a row. */
static int ring_wait(struct ring_end *e, _Atomic uint32_t *word, uint32_t old, uint32_t target,
		     _Atomic uint32_t *sleeps, _Atomic uint32_t *wants, double deadline)
{
	double stalled = now() + e->stall;
	if (stalled < deadline)
		deadline = stalled;
	for (uint32_t polls = 1;; polls++) {
		uint32_t v = atomic_load_explicit(word, memory_order_acquire);
		if (e->spin && (e->spin_limit == 0 || polls < e->spin_limit)) {
			if (v != old)
				return 0;
			cpu_relax();
			if ((polls & 1023) == 0) {
				if (now() > deadline)
					return -1;
				sched_yield();
			}
			continue;
		}
		if (reached(v, target))
			return 0;
		atomic_store_explicit(wants, target, memory_order_relaxed);
		atomic_store(sleeps, 1); /* seq_cst: after wants, before the load below */
		v = atomic_load(word);
		bool woken = reached(v, target) || nap(e, word, v, target);
		atomic_store_explicit(sleeps, 0, memory_order_relaxed);
		if (!woken || (now() > deadline && !reached(atomic_load(word), target)))
			return -1;
	}
}

/* After publishing pos (and a full fence): does a sleeper wait for a value
 * pos has reached?  Taking its flag (exchange with 0) wakes it once: until
 * it sleeps again, the next publishes make no system call. */
static bool take_sleeper(_Atomic uint32_t *sleeps, _Atomic uint32_t *wants, uint32_t pos)
{
	if (!atomic_load_explicit(sleeps, memory_order_acquire))
		return false;
	if (!reached(pos, atomic_load_explicit(wants, memory_order_relaxed)))
		return false; /* not what it waits for yet: a later publish wakes it */
	return atomic_exchange_explicit(sleeps, 0, memory_order_relaxed) != 0;
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
		 * reader could go to sleep on the old head and never wake. */
		atomic_thread_fence(memory_order_seq_cst);
		if (take_sleeper(&r->reader_sleeps, &r->reader_wants, e->pos))
			futex_wake(e, &r->head);
	}
	/* END SOLUTION */
	//> /* TODO: publish e->pos as the new head (which memory order?), and wake a reader sleeping on the futex */
	//> (void)r;
	//> (void)futex_wake; /* yours to call, with take_sleeper(), when ring_may_sleep(e) */
	//> (void)take_sleeper;
}

void *ring_reserve(struct ring_end *e, size_t want, size_t *n, double deadline)
{
	struct ring *r = e->r;
	uint32_t room = e->cap - (e->pos - e->seen);
	while (room == 0) {
		e->seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		room = e->cap - (e->pos - e->seen);
		size_t need = want < e->cap / 2 ? want : e->cap / 2; /* a sleeper waits for this much room */
		if (room == 0 && ring_wait(e, &r->tail, e->seen, e->pos - e->cap + (uint32_t)need, &r->writer_sleeps,
					   &r->writer_wants, deadline))
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
		if (take_sleeper(&r->writer_sleeps, &r->writer_wants, e->pos))
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
		size_t need = want < e->cap / 2 ? want : e->cap / 2; /* a sleeper waits for this many bytes */
		if (avail == 0 && ring_wait(e, &r->head, e->pos, e->pos + (uint32_t)need, &r->reader_sleeps,
					    &r->reader_wants, deadline))
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
