/*
 * ring.h - a single-producer/single-consumer byte ring in shared memory.
 *
 * The ring lives in a MAP_SHARED mapping made before fork(), so both
 * processes see the same bytes.  head counts the bytes the writer has
 * published, tail the bytes the reader has consumed; both only grow
 * (mod 2^32), each is written by one side only and sits on a cache line
 * of its own.  A side that must wait either spins or sleeps on a futex.
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
	_Atomic uint32_t reader_sleeps; /* the reader is (about to be) in FUTEX_WAIT on head */
	_Alignas(128) _Atomic uint32_t tail;
	_Atomic uint32_t writer_sleeps; /* the writer waits on tail */
	_Alignas(128) unsigned char data[RING_MAX];
};

/* What one process remembers about one ring: how it uses it, its own
 * position and the last value it saw of the other side's (so it reads
 * that cache line rarely). */
struct ring_end {
	struct ring *r;
	bool spin;      /* wait by spinning, not on a futex */
	uint32_t cap;   /* bytes of data in use: a power of two, at most RING_MAX */
	uint32_t chunk; /* the writer publishes at least every chunk bytes */
	double stall;   /* seconds without progress that count as a timeout */
	uint32_t pos, seen;
};

/* Seconds on CLOCK_MONOTONIC: every deadline below is a value of now(). */
double now(void);

/* An empty ring, nobody asleep.  Before the processes use it. */
void ring_reset(struct ring *r);

/* Copy len bytes into the ring / out of it, waiting for room / data.
 * 0, or -1 at the deadline or after e->stall seconds without progress. */
int ring_send(struct ring_end *e, const void *buf, size_t len, double deadline);
int ring_recv(struct ring_end *e, void *buf, size_t len, double deadline);

#endif
