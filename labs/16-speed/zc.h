/*
 * zc.h - the zero-copy ring: the producer builds each message in place in
 * the ring (ring_reserve, ring_commit), the consumer checks it in place
 * (ring_peek, ring_release).  Nothing is copied in or out, so the ring's
 * ceiling is one memcpy of the message, not half of one.
 */
#ifndef SPEED_ZC_H
#define SPEED_ZC_H

#include "run.h"

/* Build message i of size bytes in the ring; with CHECK_EVERY_BYTE add its
 * bytes to the FNV-1a *sum.  0, or -1 on a timeout. */
int zc_send(const struct run_cfg *rc, struct ring_end *e, size_t size, long i, uint64_t *sum, double deadline);
/* Check message i in place and hand its space back; with CHECK_EVERY_BYTE
 * add its bytes to *sum.  1 it is right, 0 it is not, -1 a timeout. */
int zc_recv(const struct run_cfg *rc, struct ring_end *e, size_t size, long i, uint64_t *sum, double deadline);

/* The timed build and use: words first, first + 1, ... into p[0..n);
 * the sum of the 8-byte words of p[0..n).  Vector code, as fast as memcpy's
 * stores and loads, so they measure the ring, not the arithmetic. */
void zc_build(unsigned char *p, size_t n, uint64_t first);
uint64_t zc_sum(const unsigned char *p, size_t n);

#endif
