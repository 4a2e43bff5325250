/*
 * race.c - lab 14's machinery (race.h): two processes counting together,
 * a child and a mutex the parent holds.  Whether a child sleeps in the
 * kernel is asleep.c; the timelines are timeline.c.
 */
#include "race.h"
#include "lab.h"
#include "proc.h"
#include "shm_com.h"

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* How long a counting loop of n increments may take before it counts as
 * broken, in milliseconds of a quiet 2-CPU machine (limit_ms() scales it by
 * the machine's measured slowness): a fixed part for the about 2 x 100 times
 * a process waits for the other in the pacing loop, where one sched_yield on
 * a busy CPU can give another program a whole time slice, and 10 us per
 * increment.  Quietly 2 x 200000 increments take 4-200 ms (a contended mutex
 * on 2 CPUs is the slowest), also beside stress-ng --cpu 4; their limit is
 * 3 s.  A broken lock (a waiter nobody wakes) runs into it. */
#define COUNT_LIMIT_MS(n) (1000 + (n) / 100)

void pt(int r, const char *what)
{
	if (r != 0) {
		errno = r;
		die("%s", what);
	}
}

const char *rc_str(int r)
{
	return r == 0 ? "0" : errname(r);
}

void init_mutex(pthread_mutex_t *m, bool robust)
{
	pthread_mutexattr_t a;
	pt(pthread_mutexattr_init(&a), "pthread_mutexattr_init");
	pt(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED), "pthread_mutexattr_setpshared");
	if (robust)
		pt(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST), "pthread_mutexattr_setrobust");
	pt(pthread_mutex_init(m, &a), "pthread_mutex_init");
	pt(pthread_mutexattr_destroy(&a), "pthread_mutexattr_destroy");
}

/* ---- [3]-[5]: two processes count together ------------------------------ */


/* [3], [4] The handshake that makes a missing lock show on every run.  The
 * parent calls it in its first increment, inside its critical section: it has
 * loaded the counter (before) and not stored yet.  It tells the child it may
 * start (holding), then waits until either the child has announced its first
 * lock call (arriving) and sleeps in the kernel in it (for a mutex m, also
 * with the lock word at 2), or the counter moved away from before.  With the
 * lock the counter cannot move: the child sleeps on the lock, and the
 * parent's store and unlock wake it.  Without the lock the child's increments
 * land between the parent's load and store, and the parent's store of
 * before + 1 overwrites them: an update is lost on every run. */
static enum handshake hold_open(struct shared *s, pid_t child, pthread_mutex_t *m, long *counter, long before,
				const struct timespec *deadline)
{
	atomic_store(&s->holding, 1);
	for (int in_call = 0;;) {
		if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) != before)
			return HS_MOVED;
		if (!atomic_load(&s->arriving))
			in_call = 0;
		else if (seen_asleep(child, m, &in_call))
			return HS_ASLEEP;
		if (past(deadline, CLOCK_REALTIME))
			return HS_GAVE_UP;
		sched_yield();
	}
}

/* [3], [4] The parent's first increment, under its own lock call, with the
 * handshake (hold_open) between its load and its store.  *before: what it
 * loaded; returns 0, or why the lock call failed. */
static int first_increment(struct shared *s, enum method how, pid_t child, const struct timespec *deadline,
			   long *before, enum handshake *hs)
{
	if (how == BY_MUTEX) {
		int r = pthread_mutex_timedlock(&s->mutex, deadline);
		if (r)
			return r;
		*before = s->by_mutex; /* counter++, under the lock, held open */
		*hs = hold_open(s, child, &s->mutex, &s->by_mutex, *before, deadline);
		s->by_mutex = *before + 1;
		pthread_mutex_unlock(&s->mutex);
		return 0;
	}
	if (sem_timedwait(&s->sem, deadline) == -1)
		return errno;
	*before = s->by_sem; /* counter++, under the semaphore, held open */
	*hs = hold_open(s, child, NULL, &s->by_sem, *before, deadline);
	s->by_sem = *before + 1;
	sem_post(&s->sem);
	return 0;
}

/* n increments of one counter by one method.  me is 0 (parent) or 1 (child).
 * Pacing: neither process may run lead or more increments ahead of the
 * other, so the two loops overlap even on a busy machine or a single CPU
 * (the one that is ahead yields until the other catches up).  With a lock,
 * the parent's first increment holds it open until the child waits on it
 * (first_increment; child is the child's pid), and the child starts its
 * loop only once the parent holds the lock and has loaded. */
static struct tally count_loop(struct shared *s, enum method how, int me, pid_t child, long n, long lead)
{
	struct tally t = { 0, 0, 0, HS_NONE };
	struct timespec deadline = deadline_after_ms(limit_ms(COUNT_LIMIT_MS(n)));
	long mine = 0; /* the value this process last stored */
	long i = 0;
	if (how != BY_ATOMIC && me == 1) {
		while (!atomic_load(&s->holding)) { /* the parent holds the lock, has loaded */
			if (past(&deadline, CLOCK_REALTIME)) {
				t.err = ETIMEDOUT;
				return t;
			}
			sched_yield();
		}
		atomic_store(&s->arriving, 1); /* the next thing the child does is take the lock */
	} else if (how != BY_ATOMIC && n > 0) {
		long before = 0;
		t.err = first_increment(s, how, child, &deadline, &before, &t.handshake);
		if (t.err)
			return t;
		mine = before + 1;
		t.done = i = 1;
		atomic_store(&s->progress[me], t.done);
		if (t.handshake == HS_GAVE_UP) {
			t.err = ETIMEDOUT;
			return t;
		}
	}
	for (; i < n; i++) {
		while (i - atomic_load(&s->progress[!me]) >= lead) {
			if (past(&deadline, CLOCK_REALTIME)) {
				t.err = ETIMEDOUT;
				return t;
			}
			sched_yield();
		}
		long before;
		switch (how) {
		case BY_MUTEX:
			t.err = pthread_mutex_timedlock(&s->mutex, &deadline);
			if (t.err)
				return t;
			before = s->by_mutex; /* counter++, under the lock */
			s->by_mutex = before + 1;
			pthread_mutex_unlock(&s->mutex);
			break;
		case BY_SEM:
			if (sem_timedwait(&s->sem, &deadline) == -1) {
				t.err = errno;
				return t;
			}
			before = s->by_sem; /* counter++, under the semaphore */
			s->by_sem = before + 1;
			sem_post(&s->sem);
			break;
		default:
			before = atomic_fetch_add(&s->by_atomic, 1); /* one indivisible counter++ */
			break;
		}
		if (i > 0 && before != mine)
			t.handoffs++; /* the other process incremented since our last turn */
		mine = before + 1;
		t.done++;
		atomic_store(&s->progress[me], t.done);
	}
	return t;
}

static struct tally count_up(struct shared *s, enum method how, int me, pid_t child, long n)
{
	long lead = n / 100 > 0 ? n / 100 : 1;
	/* A loop that fails does not release the other one (progress stays
	 * where it stopped): the other stops at its own limit, at the same point
	 * on every run, whichever of the two gave up first. */
	return count_loop(s, how, me, child, n, lead);
}

/* Spin until *flag is set, for at most 2 s of a quiet machine, scaled (then
 * false).  A spin, not a blocking wait, so that both processes are on a CPU
 * when the race starts. */
static bool spin_until(_Atomic int *flag)
{
	struct timespec end = deadline_on(CLOCK_MONOTONIC, limit_ms(SPIN_MS));
	for (unsigned long i = 1;; i++) {
		if (atomic_load(flag))
			return true;
		if (i % 1024 == 0 && past(&end, CLOCK_MONOTONIC))
			return false;
	}
}

void race(struct shared *s, enum method how, long n)
{
	atomic_store(&s->ready, 0);
	atomic_store(&s->go, 0);
	atomic_store(&s->holding, 0);
	atomic_store(&s->arriving, 0);
	atomic_store(&s->progress[0], 0);
	atomic_store(&s->progress[1], 0);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		atomic_store(&s->ready, 1); /* the child is running ... */
		if (!spin_until(&s->go))    /* ... and stays on its CPU until "go" */
			die_msg("child: no start signal within its limit");
		s->child = count_up(s, how, 1, 0, n);
		_exit(0);
	}
	cleanup_kill(pid);
	if (!spin_until(&s->ready))
		say("the child did not start spinning within its limit");
	atomic_store(&s->go, 1);
	/* [3], [4] The first round is contended for sure (hold_open): the
	 * parent holds the lock until the child sleeps on it, so the unlock or
	 * post must wake a process asleep in another address space, and an
	 * increment made without the lock lands inside the parent's. */
	struct tally parent = count_up(s, how, 0, pid, n);
	if (how == BY_SEM)
		say("the child's first sem_wait found the semaphore taken and slept in the kernel: %s",
		    handshake_str(parent.handshake));
	else if (how == BY_MUTEX && parent.handshake != HS_ASLEEP)
		say("the child's first pthread_mutex_timedlock found the mutex taken and slept in the kernel: %s",
		    handshake_str(parent.handshake));
	const char *status = wait_child(pid);
	say("parent: %ld increments, child: %ld increments (child %s)", parent.done, s->child.done, status);
	long handoffs = parent.handoffs + s->child.handoffs;
	say("the counter changed hands between them {handoffs=%ld} times", handoffs);
	check(handoffs > 0, "the two loops overlapped (neither may run %ld increments ahead)", n / 100 > 0 ? n / 100 : 1);
	if (parent.err)
		say("parent stopped early: %s", errname(parent.err));
	if (s->child.err)
		say("child stopped early: %s", errname(s->child.err));
}

void say_total(long got, long want)
{
	if (got == want)
		say("counter: %ld", got);
	else
		say("counter: {counter=%ld}, not %ld", got, want);
}

const char *handshake_str(enum handshake h)
{
	switch (h) {
	case HS_ASLEEP:
		return "yes";
	case HS_MOVED:
		return "no: it got in, the counter moved between the parent's load and store";
	case HS_GAVE_UP:
		return "NO, gave up waiting";
	default:
		return "no: there was no handshake";
	}
}

/* ---- [7]-[10]: a child and a mutex the parent holds, or held ---------- */

/* [7]-[9] A child takes a mutex and dies holding it. */
void lock_and_die(pthread_mutex_t *m)
{
	pid_t pid = fork_or_die();
	if (pid == 0) {
		int r = pthread_mutex_lock(m);
		say("child: pthread_mutex_lock: %s, now exiting without unlocking", rc_str(r));
		_exit(0);
	}
	say("child %s", wait_child(pid));
}

/* [10] The parent holds m; a child waits for it with a limit; once the child
 * is asleep in the kernel the parent unlocks.  The child reports what its
 * lock call returned and keeps the lock (if it got it) until the parent has
 * read the lock word.  Returns the child's result; *blocked: it was asleep. */
int hand_over(pthread_mutex_t *m, long quiet_ms, bool *blocked)
{
	pt(pthread_mutex_lock(m), "pthread_mutex_lock");
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		struct timespec deadline = deadline_after_ms(limit_ms(quiet_ms));
		int r = pthread_mutex_timedlock(m, &deadline);
		pair_send(&p, &r, sizeof r);
		pair_wait(&p);
		if (r == 0)
			pthread_mutex_unlock(m);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	*blocked = wait_until_blocked(pid, m);
	say("child asleep in the kernel, lock word 2 (locked, waiter): %s", *blocked ? "yes" : "NO, gave up waiting");
	pt(pthread_mutex_unlock(m), "pthread_mutex_unlock");
	int r = -1;
	pair_recv(&p, &r, sizeof r);
	int word = lock_word(m);
	say("parent unlocked; the child's pthread_mutex_timedlock returned %s; lock word now %d (%s)", rc_str(r), word,
	    word == 0 ? "free" : "the child holds it");
	pair_signal(&p, 'q');
	say("child %s", wait_child(pid));
	pair_close(&p);
	return r;
}
