/*
 * ring.h - a single-producer/single-consumer byte ring in shared memory.
 *
 * The ring lives in a MAP_SHARED mapping made before fork(), so both
 * processes see the same bytes.  head counts the bytes the writer has
 * published, tail the bytes the reader has consumed; both only grow
 * (mod 2^32), each is written by one side only and sits on a cache line
 * of its own.  The bytes from tail to head are written and not yet read;
 * the rest of the ring is free.  A side that must wait spins, or sleeps on
 * a futex, or spins for a while and then sleeps.  A sleeper says what it
 * waits for (what it wants, at most half the ring) and is woken only when
 * that is there: on one CPU the two sides then take turns every half ring,
 * not every piece.
 *
 * Two ways to use it:
 *   copy in, copy out:  ring_send() copies a buffer in, ring_recv() copies
 *                       it out (each byte is copied twice);
 *   zero copy:          ring_reserve() gives the writer room in the ring to
 *                       build a message in place, ring_commit() publishes it;
 *                       ring_peek() gives the reader the bytes in place,
 *                       ring_release() hands the space back.
 */
#ifndef SPEED_RING_H
#define SPEED_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAX (1024 * 1024) /* room for data in one ring */

struct ring {
	_Alignas(128) _Atomic uint32_t head;
	_Atomic uint32_t reader_sleeps; /* the reader is (about to be) in FUTEX_WAIT on head ... */
	_Atomic uint32_t reader_wants;  /* ... until head reaches this */
	_Alignas(128) _Atomic uint32_t tail;
	_Atomic uint32_t writer_sleeps; /* the writer waits on tail ... */
	_Atomic uint32_t writer_wants;  /* ... until tail reaches this */
	_Alignas(128) unsigned char data[RING_MAX];
};

/* What one process remembers about one ring: how it waits, its own
 * position, the last value it saw of the other side's (so it reads that
 * cache line rarely), and what its futex calls did. */
struct ring_end {
	struct ring *r;
	bool spin;           /* wait by spinning first ... */
	uint32_t spin_limit; /* ... for this many polls, then sleep; 0: spin only, never sleep */
	double nap;          /* seconds of one FUTEX_WAIT at most (a lost wake-up costs this) */
	uint32_t cap;        /* bytes of data in use: a power of two, at most RING_MAX */
	uint32_t chunk;      /* the writer publishes at least every chunk bytes */
	double stall;        /* seconds without progress that count as a timeout */
	uint32_t pos, seen;
	long woken, napped_out; /* FUTEX_WAITs that a FUTEX_WAKE ended / that the nap ended */
	long late;              /* naps in a row that ran out after the other side had moved */
	long wakes;             /* sleepers this side's FUTEX_WAKEs woke */
};

/* Seconds on CLOCK_MONOTONIC: every deadline below is a value of now(). */
double now(void);

/* An empty ring, nobody asleep.  Before the processes use it. */
void ring_reset(struct ring *r);

/* Can the other side of this ring sleep (so publishing must wake it)? */
bool ring_may_sleep(const struct ring_end *e);

/* Copy len bytes into the ring / out of it, waiting for room / data.
 * 0, or -1 at the deadline or after e->stall seconds without progress. */
int ring_send(struct ring_end *e, const void *buf, size_t len, double deadline);
int ring_recv(struct ring_end *e, void *buf, size_t len, double deadline);

/* Zero copy.  ring_reserve: room for up to want bytes at the writer's
 * position, contiguous, at most chunk; *n is how much; NULL on a timeout.
 * ring_commit: those n bytes are built, publish them.  ring_peek and
 * ring_release: the same for the reader. */
void *ring_reserve(struct ring_end *e, size_t want, size_t *n, double deadline);
void ring_commit(struct ring_end *e, size_t n);
const void *ring_peek(struct ring_end *e, size_t want, size_t *n, double deadline);
void ring_release(struct ring_end *e, size_t n);

#endif
