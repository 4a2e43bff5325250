/*
 * run.c - one producer/consumer run of lab 16 (see run.h).
 *
 * The parent is the producer (and times); a forked child is the consumer.
 * A pipe handshake starts the run ('r': the consumer is ready) and ends it
 * (the consumer's report), so nothing sleeps to synchronise.
 */
#include "lab.h"
#include "proc.h"
#include "pages.h"
#include "run.h"
#include "zc.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

const size_t msg_sizes[NSIZES] = {64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB};
const int lat_ch[NLAT] = {CH_SPIN, CH_RING, CH_PIPE, CH_UNIX, CH_MQ};

void size_str(size_t s, char *buf, size_t n)
{
	if (s >= MiB)
		snprintf(buf, n, "%zu MiB", s / MiB);
	else if (s >= KiB)
		snprintf(buf, n, "%zu KiB", s / KiB);
	else
		snprintf(buf, n, "%zu B", s);
}

/* ---- messages and their checks ------------------------------------------ *
 * CHECK_EVERY_BYTE makes every byte from (seed, sequence number); the
 * reader compares every byte and keeps a checksum.  CHECK_STAMPS writes the
 * sequence number into the first and the last 8 bytes and the reader checks
 * both: a lost, repeated, reordered or torn message is caught without a
 * checksum pass that would cost as much as the copy being measured.  A
 * message shorter than 16 bytes (a 1-byte ping) carries the low bytes of
 * its number in every byte. */
static void stamp(unsigned char *m, size_t size, uint64_t seq)
{
	if (size < 16) {
		for (size_t j = 0; j < size; j++)
			m[j] = (unsigned char)(seq >> (8 * (j % 8)));
		return;
	}
	uint64_t t = ~seq;
	memcpy(m, &seq, 8);
	memcpy(m + size - 8, &t, 8);
}

static bool stamp_ok(const unsigned char *m, size_t size, uint64_t seq)
{
	unsigned char want[16];
	if (size < 16) {
		stamp(want, size, seq);
		return memcmp(m, want, size) == 0;
	}
	uint64_t h, t;
	memcpy(&h, m, 8);
	memcpy(&t, m + size - 8, 8);
	return h == seq && t == ~seq;
}

/* Message i into m; with every byte, add it to the checksum *sum. */
static void make_message(const struct run_cfg *rc, unsigned char *m, size_t size, long i, uint64_t *sum)
{
	if (rc->check == CHECK_STAMPS) {
		stamp(m, size, (uint64_t)i);
		return;
	}
	fill_message(m, size, rc->seed, (uint64_t)i);
	*sum = fnv(*sum, m, size);
}

/* Keep the compiler from dropping a copy nobody reads. */
static void clobber(void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- where the processes run -------------------------------------------- */

void pin_to_cpu(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) == -1)
		die("sched_setaffinity(cpu %d)", cpu);
}

/* A run forks a child each time, hundreds per bench: rather than registering
 * each with cleanup_kill(), the kernel kills the child when its parent dies. */
void child_dies_with(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		die("prctl(PR_SET_PDEATHSIG)");
	if (getppid() != parent)
		_exit(2);
}

/* What the consumer sends back at the end of a run. */
struct report {
	int ok; /* every message checked out */
	int timeout;
	int cpu;
	long msgs;
	uint64_t sum;
	long bad_at; /* first bad message, or -1 */
};

/* The parent's end of a run: reap the child, fold its report in. */
static void finish(struct outcome *o, pid_t pid, const struct report *rep, const char *who)
{
	int mycpu = sched_getcpu();
	const char *how = wait_child(pid);
	if (strcmp(how, "exited 0") != 0)
		die_msg("%s %s", who, how);
	o->same_cpu = mycpu == rep->cpu;
	o->timeout = o->timeout || rep->timeout;
	o->got = rep->sum;
	if (o->bad_at < 0)
		o->bad_at = rep->bad_at;
}

/* ---- throughput ---------------------------------------------------------- */

static struct outcome run_memcpy(const struct run_cfg *rc, size_t size, long n, unsigned char *src,
				 unsigned char *dst)
{
	struct outcome o = {.ok = true, .bad_at = -1};
	uint64_t sent = FNV0, got = FNV0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		make_message(rc, src, size, i, &sent);
		memcpy(dst, src, size);
		clobber(dst);
		if (rc->check == CHECK_STAMPS ? !stamp_ok(dst, size, (uint64_t)i) : memcmp(dst, src, size) != 0) {
			o.ok = false;
			o.bad_at = i;
			break;
		}
		if (rc->check == CHECK_EVERY_BYTE)
			got = fnv(got, dst, size);
	}
	o.secs = now() - t0;
	o.sum = sent;
	o.got = got;
	if (rc->check == CHECK_EVERY_BYTE && got != sent)
		o.ok = false;
	return o;
}

/* The consumer: receive n messages, check each, report. */
static void consume(const struct run_cfg *rc, struct chan *c, struct pair *pr, size_t size, long n)
{
	unsigned char *buf = map_anon(MAX_MSG);
	unsigned char *want = rc->check == CHECK_EVERY_BYTE ? map_anon(MAX_MSG) : NULL;
	if (IS_RING(c->kind))
		for (size_t i = 0; i < sizeof(struct ring); i += page_size())
			((volatile unsigned char *)c->re[0].r)[i]; /* our page table entries, now */
	struct report rep;
	memset(&rep, 0, sizeof rep); /* padding too: it goes through a pipe */
	rep.ok = 1;
	rep.bad_at = -1;
	uint64_t sum = FNV0;
	pair_signal(pr, 'r');
	double deadline = now() + rc->limit;
	long i;
	for (i = 0; i < n; i++) {
		int good;
		if (c->kind == CH_ZC)
			good = zc_recv(rc, &c->re[0], size, i, &sum, deadline);
		else if (chan_recv(c, 0, buf, size, deadline))
			good = -1;
		else if (rc->check == CHECK_STAMPS)
			good = stamp_ok(buf, size, (uint64_t)i);
		else {
			fill_message(want, size, rc->seed, (uint64_t)i);
			good = memcmp(buf, want, size) == 0;
			sum = fnv(sum, buf, size);
		}
		if (good < 0) {
			rep.timeout = 1;
			rep.ok = 0;
			break;
		}
		if (!good && rep.bad_at < 0) {
			rep.bad_at = i;
			rep.ok = 0;
		}
	}
	rep.msgs = i;
	rep.sum = sum;
	rep.cpu = sched_getcpu();
	pair_send(pr, &rep, sizeof rep);
}

struct outcome run_tput(const struct run_cfg *rc, int kind, size_t size, long n, unsigned char *src,
			unsigned char *dst)
{
	if (kind == CH_MEMCPY)
		return run_memcpy(rc, size, n, src, dst);
	struct outcome o = {.bad_at = -1};
	struct chan c;
	chan_open(&c, rc->chan, kind, false);
	struct pair pr;
	pair_open(&pr);
	pid_t parent = getpid();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		child_dies_with(parent);
		pair_child(&pr);
		chan_side(&c, 1);
		pin_to_cpu(rc->consumer_cpu);
		consume(rc, &c, &pr, size, n);
		chan_close(&c);
		pair_close(&pr);
		_exit(0);
	}
	pair_parent(&pr);
	chan_side(&c, 0);
	if (pair_wait(&pr) != 'r')
		die_msg("consumer did not get ready");
	uint64_t sent = FNV0;
	double deadline = now() + rc->limit;
	double t0 = now();
	bool send_ok = true;
	for (long i = 0; i < n && send_ok; i++) {
		if (kind == CH_ZC) {
			send_ok = zc_send(rc, &c.re[0], size, i, &sent, deadline) == 0;
			continue;
		}
		make_message(rc, src, size, i, &sent);
		send_ok = chan_send(&c, 0, src, size, deadline) == 0;
	}
	struct report rep;
	pair_recv(&pr, &rep, sizeof rep);
	o.secs = now() - t0;
	finish(&o, pid, &rep, "consumer");
	chan_close(&c);
	pair_close(&pr);
	o.timeout = o.timeout || !send_ok;
	o.ok = send_ok && rep.ok && rep.msgs == n && (rc->check == CHECK_STAMPS || rep.sum == sent);
	o.sum = sent;
	return o;
}

/* ---- round trips ----------------------------------------------------------- *
 * Ping i carries the number seed + i, its reply the complement. */

/* The echo process: receive each ping, check it, answer with its complement. */
static void echo(const struct run_cfg *rc, struct chan *c, struct pair *pr, long n)
{
	unsigned char buf[LAT_SIZE];
	struct report rep;
	memset(&rep, 0, sizeof rep); /* padding too: it goes through a pipe */
	rep.ok = 1;
	rep.bad_at = -1;
	pair_signal(pr, 'r');
	double deadline = now() + rc->limit;
	long i;
	for (i = 0; i < n; i++) {
		uint64_t num = rc->seed + (uint64_t)i;
		if (chan_recv(c, 0, buf, LAT_SIZE, deadline)) {
			rep.timeout = 1;
			rep.ok = 0;
			break;
		}
		if (!stamp_ok(buf, LAT_SIZE, num) && rep.bad_at < 0) {
			rep.bad_at = i;
			rep.ok = 0;
		}
		stamp(buf, LAT_SIZE, ~num); /* the answer carries its own number */
		if (chan_send(c, 1, buf, LAT_SIZE, deadline)) {
			rep.timeout = 1;
			rep.ok = 0;
			break;
		}
	}
	rep.msgs = i;
	rep.cpu = sched_getcpu();
	pair_send(pr, &rep, sizeof rep);
}

struct outcome run_lat(const struct run_cfg *rc, int kind, long n)
{
	struct outcome o = {.bad_at = -1};
	struct chan c;
	chan_open(&c, rc->chan, kind, true);
	struct pair pr;
	pair_open(&pr);
	pid_t parent = getpid();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		child_dies_with(parent);
		pair_child(&pr);
		chan_side(&c, 1);
		pin_to_cpu(rc->consumer_cpu);
		echo(rc, &c, &pr, rc->warm + n);
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
	double deadline = now() + rc->limit;
	bool ok = true;
	uint64_t replies = FNV0;
	double t0 = now();
	for (long i = 0; i < rc->warm + n; i++) {
		if (i == rc->warm)
			t0 = now();
		uint64_t num = rc->seed + (uint64_t)i;
		stamp(buf, LAT_SIZE, num);
		if (chan_send(&c, 0, buf, LAT_SIZE, deadline) || chan_recv(&c, 1, buf, LAT_SIZE, deadline)) {
			o.timeout = true;
			ok = false;
			break;
		}
		replies = fnv(replies, buf, LAT_SIZE);
		if (!stamp_ok(buf, LAT_SIZE, ~num)) {
			ok = false;
			if (o.bad_at < 0)
				o.bad_at = i;
		}
	}
	o.secs = now() - t0;
	struct report rep;
	pair_recv(&pr, &rep, sizeof rep);
	finish(&o, pid, &rep, "echo process");
	chan_close(&c);
	pair_close(&pr);
	o.ok = ok && rep.ok && rep.msgs == rc->warm + n;
	o.sum = replies;
	return o;
}
