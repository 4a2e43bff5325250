/*
 * run.h - one run of lab 16: a producer process sends n messages to a
 * consumer process over one channel (throughput), or a small message goes
 * back and forth n times (round trips).  Every message is checked.
 */
#ifndef SPEED_RUN_H
#define SPEED_RUN_H

#include "chan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_MSG (1024 * 1024) /* the largest message */
#define LAT_SIZE 1            /* bytes in a round-trip message, as in lmbench's lat_pipe and lat_unix */
#define FNV0 0xcbf29ce484222325ull

/* The message sizes, 64 B to MAX_MSG, and "64 B", "4 KiB", "1 MiB" for them. */
#define NSIZES 8
extern const size_t msg_sizes[NSIZES];
void size_str(size_t size, char *buf, size_t n);
/* The channels of round trips: memcpy, the big pipe and the zero-copy ring make no sense there. */
#define NLAT 5
extern const int lat_ch[NLAT];

enum check {
	CHECK_EVERY_BYTE, /* make each message from the seed and its number, compare every byte, FNV-1a */
	CHECK_STAMPS,     /* its number in its first and last 8 bytes: cheap enough to time (the
			     zero-copy ring: the producer writes every word, the consumer sums them) */
};

struct run_cfg {
	const struct chan_cfg *chan;
	enum check check;
	int consumer_cpu; /* pin the consumer (or echo) process here; -1: where the producer may run */
	double limit;     /* seconds a whole run may take */
	uint64_t seed;    /* the data: message bytes and ping numbers follow from it */
	long warm;        /* round trips before the timed ones (checked, not timed): between two CPUs the
			     first tens of ms after the echo process starts are faster than what follows */
};

struct outcome {
	double secs;      /* producer's first send .. consumer's "all received" */
	bool ok, timeout;
	bool same_cpu;    /* both processes ended the run on the same CPU */
	uint64_t sum;     /* CHECK_EVERY_BYTE: FNV-1a of what was sent; round trips: of the replies */
	uint64_t got;     /* CHECK_EVERY_BYTE: FNV-1a of what the consumer received */
	long bad_at;      /* first bad message, or -1 */
};

/* n messages of size bytes; src and dst are MAX_MSG buffers of the caller
 * (dst is used by memcpy only). */
struct outcome run_tput(const struct run_cfg *rc, int kind, size_t size, long n, unsigned char *src,
			unsigned char *dst);
/* n round trips of LAT_SIZE bytes (the channels of lat_ch), timed after rc->warm more. */
struct outcome run_lat(const struct run_cfg *rc, int kind, long n);

/* Run on that CPU from now on; -1 does nothing. */
void pin_to_cpu(int cpu);
/* The kernel kills this (forked) process when its parent dies. */
void child_dies_with(pid_t parent);

#endif
