/*
 * zc.c - the zero-copy ring of lab 16 (see zc.h): each message is built in
 * the ring by the producer and used there by the consumer.
 */
#include "lab.h"
#include "pages.h"
#include "zc.h"

#include <string.h>

/* ---- zero copy: the message is built in the ring and used there ---------- *
 * With CHECK_EVERY_BYTE the producer writes the seed's words and the
 * consumer compares them in place; with CHECK_STAMPS (timed) word k of
 * message i is base(i) + k, written by the producer and summed by the
 * consumer, which compares the sum with the one it expects: every byte is
 * written once in the ring and read once there, nothing is copied. */
typedef uint64_t u64x2 __attribute__((vector_size(16)));

static uint64_t zc_base(long i)
{
	return ((uint64_t)i + 1) * 0x9E3779B97F4A7C15ull;
}

void zc_build(unsigned char *p, size_t n, uint64_t first)
{
	u64x2 v = {first, first + 1}, two = {2, 2};
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		memcpy(p + i, &v, 16);
		v += two;
		memcpy(p + i + 16, &v, 16);
		v += two;
		memcpy(p + i + 32, &v, 16);
		v += two;
		memcpy(p + i + 48, &v, 16);
		v += two;
	}
	for (uint64_t w = first + i / 8; i + 8 <= n; i += 8, w++)
		memcpy(p + i, &w, 8);
}

uint64_t zc_sum(const unsigned char *p, size_t n)
{
	u64x2 a = {0, 0}, b = a, c = a, d = a, x;
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		memcpy(&x, p + i, 16);
		a += x;
		memcpy(&x, p + i + 16, 16);
		b += x;
		memcpy(&x, p + i + 32, 16);
		c += x;
		memcpy(&x, p + i + 48, 16);
		d += x;
	}
	a += b + c + d;
	uint64_t s = a[0] + a[1], w;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	return s;
}

/* Build message i of size bytes in the ring, a piece at a time. */
int zc_send(const struct run_cfg *rc, struct ring_end *e, size_t size, long i, uint64_t *sum,
		   double deadline)
{
	struct gen g = gen_start(rc->seed, (uint64_t)i);
	for (size_t done = 0; done < size;) {
		size_t n;
		unsigned char *p = ring_reserve(e, size - done, &n, deadline);
		if (!p)
			return -1;
		if (rc->check == CHECK_STAMPS)
			zc_build(p, n, zc_base(i) + done / 8);
		else {
			gen_fill(&g, p, n);
			*sum = fnv(*sum, p, n);
		}
		ring_commit(e, n);
		done += n;
	}
	return 0;
}

/* Use message i in place: 1 it is right, 0 it is not, -1 a timeout. */
int zc_recv(const struct run_cfg *rc, struct ring_end *e, size_t size, long i, uint64_t *sum,
		   double deadline)
{
	struct gen g = gen_start(rc->seed, (uint64_t)i);
	uint64_t words = 0;
	bool good = true;
	for (size_t done = 0; done < size;) {
		size_t n;
		const unsigned char *p = ring_peek(e, size - done, &n, deadline);
		if (!p)
			return -1;
		if (rc->check == CHECK_STAMPS)
			words += zc_sum(p, n);
		else {
			good = gen_check(&g, p, n) && good;
			*sum = fnv(*sum, p, n);
		}
		ring_release(e, n);
		done += n;
	}
	uint64_t m = size / 8;
	return rc->check == CHECK_STAMPS ? words == m * zc_base(i) + m * (m - 1) / 2 : good;
}
