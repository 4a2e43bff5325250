/*
 * ringview.c - the ring of lab 16 at three moments, and a reader asleep
 * on it (see ringview.h).
 *
 * The parent writes, a forked child reads; a pipe handshake orders every
 * stage, so the picture is the same on every run: the parent draws head
 * (its own index) and tail (the child's, read from the shared mapping)
 * once the child has said it is done.
 *
 * A broken ring stops here at its first stall: a side that gives up (the
 * other side's index stood still for the ring's stall limit) ends the
 * exchange, and the step says who gave up, once.  Every limit is a quiet
 * machine's time scaled by this one's slowness (limit_ms).
 */
#include "lab.h"
#include "proc.h"
#include "pages.h"
#include "ringview.h"
#include "run.h"

#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KiB 1024u
#define FIRST (40 * KiB) /* the writer sends this, the reader takes TAKE of it, the writer sends FIRST again */
#define TAKE (24 * KiB)
#define LAST (1 * KiB)   /* what the sleeping reader waits for */
#define TOTAL (2 * FIRST + LAST)

void ring_picture(uint32_t tail, uint32_t head, uint32_t cap, char *bar, char *marks, size_t cols)
{
	uint32_t per = cap / (uint32_t)cols, used = head - tail;
	bar[0] = '[';
	for (size_t c = 0; c < cols; c++) {
		uint32_t from = (uint32_t)c * per;               /* this column's first byte in the ring */
		uint32_t ahead = (from - tail) & (cap - 1);      /* how far past tail it is */
		bar[1 + c] = ahead < used ? '#' : '.';
		marks[1 + c] = ' ';
	}
	bar[1 + cols] = ']';
	bar[2 + cols] = '\0';
	marks[0] = ' ';
	size_t t = (tail & (cap - 1)) / per, h = (head & (cap - 1)) / per;
	marks[1 + t] = 'T';
	marks[1 + h] = t == h ? '*' : 'H';
	size_t end = 2 + (t > h ? t : h);
	marks[end] = '\0';
}

static void draw(const char *what, const struct ring *r)
{
	char bar[VIEW_COLS + 3], marks[VIEW_COLS + 3];
	uint32_t t = atomic_load(&r->tail), h = atomic_load(&r->head);
	ring_picture(t, h, VIEW_RING, bar, marks, VIEW_COLS);
	say("%-28s %s  tail %2u KiB, head %2u KiB%s", what, bar, t / KiB, h / KiB,
	    h - t == 0 ? ": empty" : h / VIEW_RING != t / VIEW_RING ? ": head wrapped past the end" : "");
	say("%-28s %s", "", marks);
}

/* The reader's state letter (proc_state); dies if /proc cannot tell it. */
static char reader_state(pid_t pid)
{
	char state = proc_state(pid);
	if (state == '?')
		die_msg("cannot read /proc/%ld/stat", (long)pid);
	return state;
}

/* Until the reader has announced its sleep and sleeps (then it is inside
 * FUTEX_WAIT: nothing else can put it to sleep after the announcement);
 * polling, giving the CPU away, for at most 5 s of a quiet machine, and not
 * after the reader has reported (it gave up: its report is waiting in the
 * pipe). */
static bool reader_asleep(const struct ring *r, pid_t pid, int report_fd)
{
	double end = now() + limit_s(5.0);
	while (now() < end) {
		if (atomic_load(&r->reader_sleeps) && reader_state(pid) == 'S')
			return true;
		struct pollfd p = {.fd = report_fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 1)
			return false;
		sched_yield();
	}
	return false;
}

struct reader_report {
	long taken;      /* bytes read */
	uint64_t sum;    /* FNV-1a of them */
	long woken, napped_out;
	int timeout;
};

/* The child: take TAKE bytes on 'a'; on 'b' take the rest, then LAST more,
 * which are not there yet: it sleeps until the writer sends them.  On 'q'
 * (the exchange ended early: someone gave up) it stops. */
static void reader(struct ring_end *e, struct pair *pr)
{
	unsigned char *buf = map_anon(TOTAL);
	struct reader_report rep;
	memset(&rep, 0, sizeof rep);
	pair_signal(pr, 'r');
	double deadline = now() + limit_s(30.0);
	char go = pair_wait(pr);
	if (go == 'q')
		_exit(0);
	if (go != 'a')
		_exit(3);
	rep.timeout = ring_recv(e, buf, TAKE, deadline) != 0;
	rep.taken = rep.timeout ? 0 : TAKE;
	pair_send(pr, &rep, sizeof rep);
	go = pair_wait(pr);
	if (go == 'q')
		_exit(0);
	if (go != 'b')
		_exit(3);
	if (ring_recv(e, buf + TAKE, TOTAL - TAKE, deadline) == 0)
		rep.taken = TOTAL;
	else
		rep.timeout = 1;
	rep.sum = fnv(FNV0, buf, (size_t)rep.taken);
	rep.woken = e->woken;
	rep.napped_out = e->napped_out;
	pair_send(pr, &rep, sizeof rep);
}

/* The step's two checks (failed at once when a side gives up). */
static const char ARRIVED[] = "the writer's process sees the tail the reader's process published, and every byte arrived";
static const char WOKEN[] = "the reader slept in FUTEX_WAIT until the writer's FUTEX_WAKE, not until its nap ran out";

/* A side gave up at its first stall: say so, stop the reader ('q', or it
 * has stopped), and fail both checks of the step: the rest of the exchange
 * would only stall again. */
static bool gave_up(const char *who, const char *what, const struct ring_end *e, struct pair *pr, pid_t pid)
{
	say("the %s gave up: %s within {stall_s=%.1f} s; the exchange ends here", who, what, e->stall);
	pair_signal(pr, 'q');
	const char *how = wait_child(pid);
	if (strcmp(how, "exited 0") != 0)
		say("the reader process %s", how);
	check(false, "%s", ARRIVED);
	check(false, "%s", WOKEN);
	return false;
}

bool ring_show(const struct chan_cfg *cfg, uint64_t seed)
{
	struct ring *r = &cfg->rings[0];
	ring_reset(r);
	/* Sleep at once when empty; a nap of 1 s (of a quiet machine): a missing
	 * FUTEX_WAKE shows as a nap that ran out. */
	struct ring_end e = {.r = r,
			     .nap = limit_s(1.0),
			     .cap = VIEW_RING,
			     .chunk = VIEW_RING,
			     .stall = cfg->ring_stall};
	unsigned char *data = map_anon(TOTAL);
	fill_message(data, TOTAL, seed, 0);
	struct pair pr;
	pair_open(&pr);
	pid_t parent = getpid();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		child_dies_with(parent);
		pair_child(&pr);
		reader(&e, &pr);
		_exit(0);
	}
	cleanup_kill(pid);
	pair_parent(&pr);
	if (pair_wait(&pr) != 'r')
		die_msg("the reader did not get ready");
	say("a %u KiB ring in %d columns of %u KiB: # written and not yet read, . free; T tail, H head",
	    VIEW_RING / KiB, VIEW_COLS, VIEW_RING / VIEW_COLS / KiB);
	double deadline = now() + limit_s(30.0);
	bool ok = false;
	/* 40 KiB into an empty 64 KiB ring: no waiting, whatever the reader does. */
	if (ring_send(&e, data, FIRST, deadline) != 0) {
		gave_up("writer", "the empty ring had no room for 40 KiB", &e, &pr, pid);
		goto out;
	}
	draw("the writer sent 40 KiB", r);
	struct reader_report rep;
	pair_signal(&pr, 'a');
	pair_recv(&pr, &rep, sizeof rep);
	draw("the reader took 24 KiB", r);
	if (rep.timeout) {
		gave_up("reader", "head did not bring its 24 KiB", &e, &pr, pid);
		goto out;
	}
	uint32_t tail_seen = atomic_load(&r->tail);
	bool sent = ring_send(&e, data + FIRST, FIRST, deadline) == 0;
	draw("the writer sent 40 KiB more", r);
	if (!sent) {
		gave_up("writer", "tail did not make room for the other 40 KiB", &e, &pr, pid);
		goto out;
	}
	pair_signal(&pr, 'b');
	bool asleep = reader_asleep(r, pid, pr.in);
	say("the reader takes the rest and waits for %u KiB more: %s", LAST / KiB,
	    asleep ? "it sleeps in FUTEX_WAIT on head" : "it never went to sleep");
	sent = ring_send(&e, data + 2 * FIRST, LAST, deadline) == 0;
	pair_recv(&pr, &rep, sizeof rep);
	const char *how = wait_child(pid);
	uint64_t want = fnv(FNV0, data, TOTAL);
	say("the writer sent %u KiB, FNV-1a %016llx; the reader read %ld KiB, FNV-1a %016llx", TOTAL / KiB,
	    (unsigned long long)want, rep.taken / (long)KiB, (unsigned long long)rep.sum);
	bool arrived = sent && !rep.timeout && tail_seen == TAKE && rep.sum == want && strcmp(how, "exited 0") == 0;
	check(arrived, "%s", ARRIVED);
	say("sleepers woken by the writer's FUTEX_WAKE: %ld; the reader's FUTEX_WAITs ended by a wake-up: %ld, "
	    "by the end of their nap: %ld",
	    e.wakes, rep.woken, rep.napped_out);
	bool woke = asleep && e.wakes == 1 && rep.woken == 1 && rep.napped_out == 0;
	check(woke, "%s", WOKEN);
	ok = arrived && woke;
out:
	pair_close(&pr);
	munmap(data, TOTAL);
	return ok;
}
