/*
 * sync - shared memory gives processes the same bytes, not the same
 * timeline: how two processes update shared data without losing anything.
 *
 * Usage: sync              (run by `make lab-14`; execs ./writer and ./reader)
 *
 * Story:
 *   - counter++ is load, add, store.  Two processes that both load before
 *     either stores lose one increment.  A pipe handshake freezes that
 *     interleaving so the loss shows on every run.
 *   - The same counter, 2 x 100000 increments from two processes started
 *     together, is exact when protected by a PTHREAD_PROCESS_SHARED mutex,
 *     by sem_init(.., pshared=1, 1) in the mapping, or by a lock-free C11
 *     atomic.
 *   - A semaphore at 0 blocks sem_wait (it never goes negative); sem_post
 *     wakes the waiter in the other process.
 *   - A mutex whose holder dies: a plain one stays locked forever; a robust
 *     one reports EOWNERDEAD to the next locker, who repairs it with
 *     pthread_mutex_consistent; without that repair it is ENOTRECOVERABLE.
 *   - A mutex in shared memory WITHOUT PTHREAD_PROCESS_SHARED uses a
 *     process-private futex: unlocking does not wake a waiter in another
 *     process, which sleeps until its deadline although the lock is free.
 *   - The notes' System V writer/reader (a polled int flag, busy loops,
 *     sleep) redone with two process-shared semaphores inside the segment.
 *
 * Every wait has a deadline; nothing here sleeps for a fixed time.
 */
#include "lab.h"
#include "names.h"
#include "options.h"
#include "proc.h"
#include "shm_com.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#define N 100000          /* increments per process */
#define LEAD 1000         /* how far one process may run ahead of the other */
#define COUNT_LIMIT_MS 2000 /* a counting run that takes longer is broken */

enum method { BY_MUTEX, BY_SEM, BY_ATOMIC };

struct tally {
	long done;     /* increments this process made */
	long handoffs; /* times the other process had incremented in between */
	int err;       /* 0, or why the loop stopped early */
};

/* Everything the processes share lives in one MAP_SHARED page. */
struct shared {
	int plain;                      /* [2] no protection at all */
	pthread_mutex_t mutex;          /* [3] process-shared mutex ... */
	long by_mutex;                  /*     ... and the counter it guards */
	sem_t sem;                      /* [4] semaphore used as a lock ... */
	long by_sem;                    /*     ... and its counter */
	_Atomic long by_atomic;         /* [5] no lock: atomic read-modify-write */
	sem_t gate;                     /* [6] a semaphore at 0 */
	pthread_mutex_t dead_plain;     /* [7] non-robust, holder dies */
	pthread_mutex_t robust;         /* [8] robust, holder dies, repaired */
	pthread_mutex_t robust2;        /* [9] robust, holder dies, not repaired */
	pthread_mutex_t private_mutex;  /* [10] no PTHREAD_PROCESS_SHARED */
	pthread_mutex_t cv_mutex;       /* [12] a process-shared condition variable, */
	pthread_cond_t cv;              /*      its mutex ... */
	int cv_ready;                   /*      ... and the predicate it guards */
	_Atomic int ready, go;          /* the start line of a race */
	_Atomic long progress[2];       /* increments so far: parent, child */
	struct tally child;             /* what a child reports back */
	int child_rc;
};

/* pthread_* and friends return an error number instead of setting errno. */
static void pt(int r, const char *what)
{
	if (r != 0) {
		errno = r;
		die("%s", what);
	}
}

static const char *rc_str(int r)
{
	return r == 0 ? "0" : errname(r);
}

/* ---- [3]-[5]: two processes count together ------------------------------ */

static bool past(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* N increments of one counter by one method.  me is 0 (parent) or 1 (child).
 * Pacing: neither process may run more than LEAD increments ahead of the
 * other, so the two loops overlap even on a busy machine or a single CPU
 * (the one that is ahead yields until the other catches up). */
static struct tally count_loop(struct shared *s, enum method how, int me)
{
	struct tally t = { 0, 0, 0 };
	struct timespec deadline = deadline_after_ms(COUNT_LIMIT_MS);
	long mine = 0; /* the value this process last stored */
	for (long i = 0; i < N; i++) {
		while (i - atomic_load(&s->progress[!me]) >= LEAD) {
			if (past(&deadline)) {
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
			before = s->by_sem;   /* counter++, under the semaphore */
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

static struct tally count_up(struct shared *s, enum method how, int me)
{
	struct tally t = count_loop(s, how, me);
	atomic_store(&s->progress[me], N); /* finished or failed: never hold the other back */
	return t;
}

/* Spin until *flag is set, for at most 2 s (then false).  A spin, not a
 * blocking wait, so that both processes are on a CPU when the race starts. */
static bool spin_until(_Atomic int *flag)
{
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 2;
	for (unsigned long i = 1;; i++) {
		if (atomic_load(flag))
			return true;
		if (i % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec > end.tv_nsec))
				return false;
		}
	}
}

/* Fork a child, start both loops at the same moment, report both tallies. */
static void race(struct shared *s, enum method how)
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
		s->child = count_up(s, how, 1);
		_exit(0);
	}
	if (!spin_until(&s->ready))
		say("the child did not start spinning within 2 s");
	atomic_store(&s->go, 1);
	struct tally parent = count_up(s, how, 0);
	const char *status = wait_child(pid);
	say("parent: %ld increments, child: %ld increments (child %s)", parent.done, s->child.done, status);
	long handoffs = parent.handoffs + s->child.handoffs;
	say("the counter changed hands between them {handoffs=%ld} times", handoffs);
	check(handoffs > 0, "the two loops overlapped (neither may run %d increments ahead)", LEAD);
	if (parent.err)
		say("parent stopped early: %s", errname(parent.err));
	if (s->child.err)
		say("child stopped early: %s", errname(s->child.err));
}

/* ---- [6], [10]: is the child asleep in the kernel yet? ------------------- */

/* The state letter of /proc/PID/stat: R running, S sleeping, ... */
static char proc_state(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		die("open %s", path);
	char *ok = fgets(line, sizeof line, f);
	fclose(f);
	char *paren = ok ? strrchr(line, ')') : NULL; /* the name may hold spaces */
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* glibc's futex word inside a mutex: 0 free, 1 locked, 2 locked and someone
 * is (about to be) waiting in the kernel. */
static int lock_word(pthread_mutex_t *m)
{
	return __atomic_load_n(&m->__data.__lock, __ATOMIC_ACQUIRE);
}

/* Spin (bounded: 2 s) until the child sleeps, and for a mutex until it has
 * marked the lock contended: then it is inside futex(FUTEX_WAIT). */
static bool wait_until_blocked(pid_t pid, pthread_mutex_t *m)
{
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 2;
	for (;;) {
		if ((m == NULL || lock_word(m) == 2) && proc_state(pid) == 'S')
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec > end.tv_nsec))
			return false;
		sched_yield();
	}
}

/* The parent holds m; a child waits for it with a limit; once the child
 * is asleep in the kernel the parent unlocks.  Returns the child's result. */
static int hand_over(struct shared *s, pthread_mutex_t *m, long limit_ms)
{
	pt(pthread_mutex_lock(m), "pthread_mutex_lock");
	pid_t pid = fork_or_die();
	if (pid == 0) {
		struct timespec deadline = deadline_after_ms(limit_ms);
		s->child_rc = pthread_mutex_timedlock(m, &deadline);
		if (s->child_rc == 0)
			pthread_mutex_unlock(m);
		_exit(0);
	}
	bool blocked = wait_until_blocked(pid, m);
	say("child asleep in the kernel, lock word 2 (locked, waiter): %s", blocked ? "yes" : "NO, gave up waiting");
	pt(pthread_mutex_unlock(m), "pthread_mutex_unlock");
	say("parent unlocked: lock word now %d (free)", lock_word(m));
	const char *status = wait_child(pid); /* before reading what the child left */
	say("child %s; its pthread_mutex_timedlock returned %s", status, rc_str(s->child_rc));
	return s->child_rc;
}

/* ---- [7]-[9]: a child takes a mutex and dies holding it ----------------- */

static void lock_and_die(pthread_mutex_t *m)
{
	pid_t pid = fork_or_die();
	if (pid == 0) {
		int r = pthread_mutex_lock(m);
		say("child: pthread_mutex_lock: %s, now exiting without unlocking", rc_str(r));
		_exit(0);
	}
	say("child %s", wait_child(pid));
}

static void init_mutex(pthread_mutex_t *m, bool robust)
{
	pthread_mutexattr_t a;
	pt(pthread_mutexattr_init(&a), "pthread_mutexattr_init");
	pt(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED), "pthread_mutexattr_setpshared");
	if (robust)
		pt(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST), "pthread_mutexattr_setrobust");
	pt(pthread_mutex_init(m, &a), "pthread_mutex_init");
	pt(pthread_mutexattr_destroy(&a), "pthread_mutexattr_destroy");
}

/* [12] The child waits on a process-shared condition variable for a value
 * the parent sets; the predicate loop makes the order of wait and signal
 * irrelevant, and the deadline bounds the wait. */
static void condition_variable(struct shared *s)
{
	pthread_condattr_t ca;
	pt(pthread_condattr_init(&ca), "pthread_condattr_init");
	pt(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), "pthread_condattr_setpshared");
	pt(pthread_cond_init(&s->cv, &ca), "pthread_cond_init");
	pt(pthread_condattr_destroy(&ca), "pthread_condattr_destroy");
	init_mutex(&s->cv_mutex, false);
	s->cv_ready = 0;

	pid_t pid = fork_or_die();
	if (pid == 0) {
		struct timespec deadline = deadline_after_ms(2000);
		int r = 0;
		pt(pthread_mutex_lock(&s->cv_mutex), "pthread_mutex_lock");
		while (s->cv_ready == 0 && r == 0)
			r = pthread_cond_timedwait(&s->cv, &s->cv_mutex, &deadline);
		int seen = s->cv_ready;
		pt(pthread_mutex_unlock(&s->cv_mutex), "pthread_mutex_unlock");
		say("child: pthread_cond_timedwait: %s; ready = %d", rc_str(r), seen);
		_exit(r == 0 && seen == 42 ? 0 : 1);
	}
	say("parent: sets ready = 42 under the mutex, then pthread_cond_signal");
	pt(pthread_mutex_lock(&s->cv_mutex), "pthread_mutex_lock");
	s->cv_ready = 42;
	pt(pthread_cond_signal(&s->cv), "pthread_cond_signal");
	pt(pthread_mutex_unlock(&s->cv_mutex), "pthread_mutex_unlock");
	const char *status = wait_child(pid);
	say("child %s", status);
	check(!strcmp(status, "exited 0"),
	      "a PTHREAD_PROCESS_SHARED condition variable wakes a waiter in another process");
	pt(pthread_cond_destroy(&s->cv), "pthread_cond_destroy");
	pt(pthread_mutex_destroy(&s->cv_mutex), "pthread_mutex_destroy");
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();

	step("Map one shared anonymous page for everything the processes share.");
	struct shared *s = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		die("mmap");
	check(sizeof *s <= ps, "the counters, mutexes and semaphores fit in one page");

	step("Lost update in slow motion: parent and child both load the counter, then both store load+1.");
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		int seen = s->plain;    /* load */
		say("child:  loaded %d", seen);
		pair_signal(&p, 'l');   /* "I have loaded" */
		pair_wait(&p);          /* the parent has loaded too */
		s->plain = seen + 1;    /* store */
		say("child:  stored %d", seen + 1);
		pair_signal(&p, 's');
		_exit(0);
	}
	pair_parent(&p);
	pair_wait(&p);              /* the child has loaded */
	int seen = s->plain;        /* load */
	say("parent: loaded %d", seen);
	pair_signal(&p, 'l');
	pair_wait(&p);              /* the child has stored */
	s->plain = seen + 1;        /* store */
	say("parent: stored %d", seen + 1);
	say("child %s", wait_child(pid));
	pair_close(&p);
	say("counter after two increments: %d", s->plain);
	check(s->plain == 1, "one increment is lost: the parent's store overwrote the child's");

	step("The same race for real, 2 x %d increments, under a PTHREAD_PROCESS_SHARED mutex.", N);
	/* BEGIN SOLUTION */
	init_mutex(&s->mutex, false);
	/* END SOLUTION */
	//> pt(pthread_mutex_init(&s->mutex, NULL), "pthread_mutex_init"); /* TODO: make it PTHREAD_PROCESS_SHARED */
	race(s, BY_MUTEX);
	say("counter: %ld", s->by_mutex);
	check(s->by_mutex == 2L * N, "exactly %ld: no increment lost", 2L * N);

	step("Again with a semaphore in the mapping, sem_init(&sem, pshared=1, value=1), as the lock.");
	/* BEGIN SOLUTION */
	if (sem_init(&s->sem, 1, 1) == -1)
		die("sem_init");
	/* END SOLUTION */
	//> if (sem_init(&s->sem, 0, 1) == -1) /* TODO: shared between processes? */
	//>	die("sem_init");
	race(s, BY_SEM);
	say("counter: %ld", s->by_sem);
	check(s->by_sem == 2L * N, "exactly %ld: no increment lost", 2L * N);

	step("Again with no lock at all: atomic_fetch_add on a C11 _Atomic long in the mapping.");
	say("atomic_is_lock_free: %s, ATOMIC_LONG_LOCK_FREE: %d",
	    atomic_is_lock_free(&s->by_atomic) ? "yes" : "no", ATOMIC_LONG_LOCK_FREE);
	check(atomic_is_lock_free(&s->by_atomic) && ATOMIC_LONG_LOCK_FREE == 2,
	      "lock-free: one atomic instruction on the shared page, no lock private to a process");
	race(s, BY_ATOMIC);
	say("counter: %ld", atomic_load(&s->by_atomic));
	check(atomic_load(&s->by_atomic) == 2L * N, "exactly %ld: no increment lost", 2L * N);

	step("A process-shared semaphore at 0: the child's sem_wait blocks until the parent posts.");
	if (sem_init(&s->gate, 1, 0) == -1)
		die("sem_init");
	pid = fork_or_die();
	if (pid == 0) {
		struct timespec deadline = deadline_after_ms(2000);
		s->child_rc = sem_timedwait(&s->gate, &deadline) == 0 ? 0 : errno;
		_exit(0);
	}
	bool blocked = wait_until_blocked(pid, NULL);
	int value = -99;
	if (sem_getvalue(&s->gate, &value) == -1)
		die("sem_getvalue");
	say("child asleep in sem_wait: %s; sem_getvalue: %d", blocked ? "yes" : "NO, gave up waiting", value);
	check(blocked && value == 0, "the value stays 0 while a process waits: it never goes negative");
	if (sem_post(&s->gate) == -1)
		die("sem_post");
	const char *status = wait_child(pid);
	say("parent posted; child %s; its sem_timedwait returned %s", status, rc_str(s->child_rc));
	if (sem_getvalue(&s->gate, &value) == -1)
		die("sem_getvalue");
	say("sem_getvalue now: %d", value);
	check(s->child_rc == 0 && value == 0, "sem_post woke the other process, which took the unit");

	step("A process-shared, non-robust mutex whose holder dies.");
	init_mutex(&s->dead_plain, false);
	lock_and_die(&s->dead_plain);
	int r = pthread_mutex_trylock(&s->dead_plain);
	say("parent: pthread_mutex_trylock: %s", rc_str(r));
	check(r == EBUSY, "still locked by a dead process: pthread_mutex_lock would wait forever");

	step("A robust mutex whose holder dies, repaired with pthread_mutex_consistent.");
	init_mutex(&s->robust, true);
	lock_and_die(&s->robust);
	r = pthread_mutex_lock(&s->robust);
	say("parent: pthread_mutex_lock: %s", rc_str(r));
	check(r == EOWNERDEAD, "EOWNERDEAD: the lock is ours, the data it guards may be half-updated");
	/* BEGIN SOLUTION */
	r = pthread_mutex_consistent(&s->robust);
	/* END SOLUTION */
	//> r = 0; /* TODO: declare the state consistent again before unlocking */
	say("parent: pthread_mutex_consistent: %s", rc_str(r));
	say("parent: pthread_mutex_unlock: %s", rc_str(pthread_mutex_unlock(&s->robust)));
	r = pthread_mutex_lock(&s->robust);
	say("parent: pthread_mutex_lock again: %s", rc_str(r));
	check(r == 0, "after consistent + unlock the mutex works normally again");
	if (r == 0)
		pt(pthread_mutex_unlock(&s->robust), "pthread_mutex_unlock");
	pt(pthread_mutex_destroy(&s->robust), "pthread_mutex_destroy");

	step("The same, but the parent unlocks without pthread_mutex_consistent.");
	init_mutex(&s->robust2, true);
	lock_and_die(&s->robust2);
	r = pthread_mutex_lock(&s->robust2);
	say("parent: pthread_mutex_lock: %s", rc_str(r));
	say("parent: pthread_mutex_unlock: %s", rc_str(pthread_mutex_unlock(&s->robust2)));
	r = pthread_mutex_lock(&s->robust2);
	say("parent: pthread_mutex_lock again: %s", rc_str(r));
	check(r == ENOTRECOVERABLE, "ENOTRECOVERABLE: the mutex is unusable for good");

	step("A mutex in the shared page WITHOUT PTHREAD_PROCESS_SHARED: the parent holds it, "
	     "the child waits (100 ms limit), the parent unlocks.");
	pt(pthread_mutex_init(&s->private_mutex, NULL), "pthread_mutex_init"); /* default: private */
	r = hand_over(s, &s->private_mutex, 100);
	check(r == ETIMEDOUT, "the child slept until its deadline: the unlock's wake-up never reached it");
	say("the same with the PTHREAD_PROCESS_SHARED mutex of [3] (2 s limit):");
	r = hand_over(s, &s->mutex, 2000);
	check(r == 0, "the child was woken and got the lock");
	pt(pthread_mutex_destroy(&s->private_mutex), "pthread_mutex_destroy");
	pt(pthread_mutex_destroy(&s->mutex), "pthread_mutex_destroy");

	step("The notes' System V writer/reader, redone: two semaphores in the segment, no flag, no sleep.");
	key_t key;
	int id = sysv_create(sizeof(struct shm_com), 0600, &key); /* IPC_CREAT|IPC_EXCL, fresh key */
	struct shm_com *c = shmat(id, NULL, 0);
	if (c == (void *)-1)
		die("shmat");
	say("main: new segment {key=%ld} {shmid=%d}, attached at {addr=%p}", (long)key, id, (void *)c);
	say("main: a pointer has %zu bytes, an int %zu", sizeof(void *), sizeof(int));
	check(sizeof(void *) > sizeof(int),
	      "casting the address to int, as the notes do, keeps only half of it: print it with %%p");
	if (sem_init(&c->empty, 1, 1) == -1 || sem_init(&c->filled, 1, 0) == -1)
		die("sem_init");
	say("main: empty=1, filled=0, set before either program starts");
	char keyarg[32];
	snprintf(keyarg, sizeof keyarg, "%ld", (long)key);
	pid_t reader = spawn_sibling("reader", NULL, keyarg, (char *)NULL);
	pid_t writer = spawn_sibling("writer", NULL, keyarg, (char *)NULL);
	const char *rstatus = wait_child(reader);
	say("main: reader %s", rstatus);
	const char *wstatus = wait_child(writer);
	say("main: writer %s", wstatus);
	static const char *const lines[] = { SHM_LINES };
	int nlines = (int)(sizeof lines / sizeof lines[0]);
	bool in_order = c->received == nlines;
	for (int i = 0; in_order && i < nlines; i++)
		in_order = strcmp(c->got[i], lines[i]) == 0;
	say("main: the reader logged %d lines", c->received);
	check(in_order, "every line arrived exactly once, in order, ending with \"end\"");

	step("A condition variable in the shared page, PTHREAD_PROCESS_SHARED: the child waits, the parent signals.");
	condition_variable(s);

	step("Detach and remove the segment.");
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) == -1)
		die("shmctl IPC_STAT");
	say("after writer and reader exited: %lu attached (main)", (unsigned long)ds.shm_nattch);
	if (sem_destroy(&c->empty) == -1 || sem_destroy(&c->filled) == -1)
		die("sem_destroy");
	if (shmdt(c) == -1)
		die("shmdt");
	if (shmctl(id, IPC_STAT, &ds) == -1)
		die("shmctl IPC_STAT");
	say("after shmdt: %lu attached", (unsigned long)ds.shm_nattch);
	check(ds.shm_nattch == 0, "shmdt only detaches: the segment is still there with nobody attached");
	if (shmctl(id, IPC_RMID, NULL) == -1)
		die("shmctl IPC_RMID");
	errno = 0;
	r = shmctl(id, IPC_STAT, &ds);
	say("after IPC_RMID, IPC_STAT: %s", r == -1 ? errname(errno) : "still there");
	check(r == -1 && errno == EINVAL, "only IPC_RMID removes it");
	if (sem_destroy(&s->sem) == -1 || sem_destroy(&s->gate) == -1)
		die("sem_destroy");
	if (munmap(s, ps) == -1)
		die("munmap");
	say("unmapped the shared page");
	return lab_end();
}
