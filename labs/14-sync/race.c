/*
 * race.c - lab 14's machinery (race.h): counting together, waiting until a
 * child sleeps, timelines.
 */
#include "race.h"
#include "lab.h"
#include "proc.h"
#include "shm_com.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define COUNT_LIMIT_MS 2000 /* a counting run that takes longer is broken */

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

static bool past(const struct timespec *deadline, clockid_t clock)
{
	struct timespec now;
	clock_gettime(clock, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static struct timespec two_seconds(void)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 2;
	return end;
}

/* n increments of one counter by one method.  me is 0 (parent) or 1 (child).
 * Pacing: neither process may run lead or more increments ahead of the
 * other, so the two loops overlap even on a busy machine or a single CPU
 * (the one that is ahead yields until the other catches up). */
static struct tally count_loop(struct shared *s, enum method how, int me, long n, long lead)
{
	struct tally t = { 0, 0, 0 };
	struct timespec deadline = deadline_after_ms(COUNT_LIMIT_MS);
	long mine = 0; /* the value this process last stored */
	for (long i = 0; i < n; i++) {
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

static struct tally count_up(struct shared *s, enum method how, int me, long n)
{
	long lead = n / 100 > 0 ? n / 100 : 1;
	struct tally t = count_loop(s, how, me, n, lead);
	atomic_store(&s->progress[me], n); /* finished or failed: never hold the other back */
	return t;
}

/* Spin until *flag is set, for at most 2 s (then false).  A spin, not a
 * blocking wait, so that both processes are on a CPU when the race starts. */
static bool spin_until(_Atomic int *flag)
{
	struct timespec end = two_seconds();
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
	atomic_store(&s->progress[0], 0);
	atomic_store(&s->progress[1], 0);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		atomic_store(&s->ready, 1); /* the child is running ... */
		if (!spin_until(&s->go))    /* ... and stays on its CPU until "go" */
			die_msg("child: no start signal within 2 s");
		s->child = count_up(s, how, 1, n);
		_exit(0);
	}
	if (!spin_until(&s->ready))
		say("the child did not start spinning within 2 s");
	/* [4] The first round is contended for sure: the parent holds the
	 * semaphore until the child sleeps on it, so the post must wake a
	 * process that is asleep in another address space. */
	if (how == BY_SEM && sem_wait(&s->sem) == -1)
		die("sem_wait");
	atomic_store(&s->go, 1);
	if (how == BY_SEM) {
		bool slept = wait_until_blocked(pid, NULL);
		if (sem_post(&s->sem) == -1)
			die("sem_post");
		say("the child's first sem_wait found the semaphore taken and slept in the kernel: %s", slept ? "yes" : "no");
	}
	struct tally parent = count_up(s, how, 0, n);
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

/* ---- is the child asleep in the kernel yet? ----------------------------- */

/* The first line of /proc/PID/<what> into buf ("" if it cannot be read). */
static void proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, what);
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* The state letter of /proc/PID/stat: R running, S sleeping, ... */
static char proc_state(pid_t pid)
{
	char line[512];
	proc_read(pid, "stat", line, sizeof line);
	char *paren = strrchr(line, ')'); /* the name may hold spaces */
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

static char wchan[64];

const char *wchan_seen(void)
{
	return wchan;
}

int lock_word(pthread_mutex_t *m)
{
	return __atomic_load_n(&m->__data.__lock, __ATOMIC_ACQUIRE);
}

/* Is pid asleep in a futex wait?  /proc/PID/wchan names the kernel function
 * it sleeps in ("futex_wait_queue" on 6.1, "futex_do_wait" on 6.18), but
 * reads "0" until the task has left the CPU; /proc/PID/syscall (readable by
 * its parent) starts with the number of the call it is in.  2: wchan says
 * futex; 1: only the system call does; 0: neither. */
static int in_futex(pid_t pid)
{
	proc_read(pid, "wchan", wchan, sizeof wchan);
	if (strstr(wchan, "futex"))
		return 2;
	char call[256];
	long nr;
	proc_read(pid, "syscall", call, sizeof call);
	return sscanf(call, "%ld", &nr) == 1 && nr == SYS_futex;
}

/* Until wchan names the futex wait; where it never does (a kernel without
 * symbols), 100 looks in a row that find the task asleep in futex() do. */
bool wait_until_blocked(pid_t pid, pthread_mutex_t *m)
{
	struct timespec end = two_seconds();
	for (int in_call = 0;;) {
		int how = (m == NULL || lock_word(m) == 2) && proc_state(pid) == 'S' ? in_futex(pid) : 0;
		in_call = how ? in_call + 1 : 0;
		if (how == 2 || in_call >= 100)
			return true;
		if (past(&end, CLOCK_MONOTONIC))
			return false;
		sched_yield();
	}
}

bool wait_for_word(pthread_mutex_t *m, int value)
{
	struct timespec end = two_seconds();
	while (lock_word(m) != value) {
		if (past(&end, CLOCK_MONOTONIC))
			return false;
		sched_yield();
	}
	return true;
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
int hand_over(pthread_mutex_t *m, long limit_ms, bool *blocked)
{
	pt(pthread_mutex_lock(m), "pthread_mutex_lock");
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		struct timespec deadline = deadline_after_ms(limit_ms);
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

/* ---- timelines ----------------------------------------------------------- */

void tl_reset(struct timeline *t)
{
	atomic_store(&t->n, 0);
}

void tl_add(struct timeline *t, int who, const char *fmt, ...)
{
	int i = atomic_fetch_add(&t->n, 1);
	if (i >= MAX_EVENTS)
		die_msg("timeline: more than %d rows", MAX_EVENTS);
	t->ev[i].who = who;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->ev[i].what, sizeof t->ev[i].what, fmt, ap);
	va_end(ap);
}

void tl_say(const struct timeline *t, const char *left, const char *right)
{
	int n = atomic_load(&t->n);
	say("%-26s%s", left, right);
	for (int i = 0; i < n && i < MAX_EVENTS; i++)
		if (t->ev[i].who == LEFT)
			say("%s", t->ev[i].what);
		else
			say("%-26s%s", "", t->ev[i].what);
}
