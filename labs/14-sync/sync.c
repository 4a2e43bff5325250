/*
 * sync - shared memory gives processes the same bytes, not the same
 * timeline: how two processes update shared data without losing anything.
 *
 * Usage: sync [--start=S] [--increments=N] [--lines=L] [--ready=V]
 *        (defaults 0, 100000, 4, 42; run by `make lab-14`; execs ./writer and ./reader)
 *
 * Story:
 *   - counter++ is load, add, store.  Two processes that both load before
 *     either stores lose one increment.  A pipe handshake freezes that
 *     interleaving so the loss shows on every run, drawn as a timeline; under
 *     a PTHREAD_PROCESS_SHARED mutex the same two increments cannot
 *     interleave: the second load waits for the first store.
 *   - The same counter, 2 x N increments from two processes started
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
 *   - A PTHREAD_PROCESS_SHARED condition variable wakes a waiter that is
 *     asleep in the kernel in another process.
 *   - The writer/reader again with two named semaphores (sem_open): a name
 *     in /dev/shm replaces the semaphores kept in the segment.
 *
 * Every wait has a deadline; nothing here sleeps for a fixed time.  Whenever
 * a check is about waking a sleeper, the parent first makes sure the child
 * really sleeps in a futex wait (race.c: wait_until_blocked).  The counting
 * machinery and the timelines are in race.c.
 */
#include "lab.h"
#include "names.h"
#include "options.h"
#include "proc.h"
#include "race.h"
#include "shm_com.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

/* [2] Both processes load before either stores: a handshake makes it so. */
static void lost_update(struct shared *s, long start)
{
	s->plain = (int)start;
	tl_reset(&s->tl);
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		int seen = s->plain;    /* load */
		tl_add(&s->tl, LEFT, "load %d", seen);
		pair_signal(&p, 'l');   /* "I have loaded" */
		pair_wait(&p);          /* the parent has loaded too */
		s->plain = seen + 1;    /* store */
		tl_add(&s->tl, LEFT, "store %d", seen + 1);
		pair_signal(&p, 's');
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	pair_wait(&p);              /* the child has loaded */
	int seen = s->plain;        /* load */
	tl_add(&s->tl, RIGHT, "load %d", seen);
	pair_signal(&p, 'l');
	pair_wait(&p);              /* the child has stored */
	int over = s->plain;
	s->plain = seen + 1;        /* store */
	tl_add(&s->tl, RIGHT, "store %d over the child's %d", seen + 1, over);
	const char *status = wait_child(pid);
	pair_close(&p);
	tl_say(&s->tl, "child", "parent");
	say("child %s; counter after two increments from %ld: %d", status, start, s->plain);
	check(s->plain == start + 1, "one increment is lost: the parent's store overwrote the child's");
}

/* [3] The same two increments, each under the mutex: the child holds it
 * across load and store; the parent's lock has to wait (the child sees the
 * lock word turn 2 and the parent asleep in the kernel before it stores). */
static void locked_update(struct shared *s, long start)
{
	s->slow = start;
	tl_reset(&s->tl);
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		struct timespec deadline = deadline_after_ms(limit_ms(1000));
		int r = pthread_mutex_timedlock(&s->mutex, &deadline);
		long seen = s->slow;    /* load */
		tl_add(&s->tl, LEFT, "lock: %s; load %ld", r ? errname(r) : "got it", seen);
		pair_signal(&p, 'l');   /* loaded, holding the lock */
		/* the parent tries to lock: word 2, and it sleeps in the kernel (an
		 * unlock before it sleeps would let it take the lock without any
		 * wake-up, so a mutex that cannot wake it would pass by luck) */
		bool waits = wait_until_blocked(getppid(), &s->mutex);
		tl_add(&s->tl, RIGHT, "lock: %s", waits ? "has to wait (word 2)" : "did not wait");
		s->slow = seen + 1;     /* store */
		tl_add(&s->tl, LEFT, "store %ld; unlock", seen + 1);
		if (r == 0)
			pthread_mutex_unlock(&s->mutex);
		/* Exit only once the parent's lock call has returned: under a tracer
		 * (strace -f) the exit's SIGCHLD would interrupt its sleep, and the
		 * restarted call would find the lock free without any wake-up. */
		pair_wait(&p);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	pair_wait(&p);              /* the child holds the lock and has loaded */
	struct timespec deadline = deadline_after_ms(limit_ms(1000));
	int r = pthread_mutex_timedlock(&s->mutex, &deadline);
	long seen = s->slow;        /* load */
	tl_add(&s->tl, RIGHT, "lock: %s; load %ld", r ? errname(r) : "got it", seen);
	s->slow = seen + 1;         /* store */
	tl_add(&s->tl, RIGHT, "store %ld; unlock", seen + 1);
	if (r == 0)
		pt(pthread_mutex_unlock(&s->mutex), "pthread_mutex_unlock");
	pair_signal(&p, 'q');
	const char *status = wait_child(pid);
	pair_close(&p);
	tl_say(&s->tl, "child", "parent");
	say("child %s; counter after two increments from %ld: %ld", status, start, s->slow);
	check(r == 0 && s->slow == start + 2,
	      "with the mutex neither increment is lost: the parent's load waited for the child's store");
}

/* [12] The child waits on a process-shared condition variable for a value
 * the parent sets; the parent signals only once the child sleeps in the
 * kernel, so the wake-up has to travel from one process to the other. */
static void condition_variable(struct shared *s, int value)
{
	pthread_condattr_t ca;
	pt(pthread_condattr_init(&ca), "pthread_condattr_init");
	pt(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), "pthread_condattr_setpshared");
	pt(pthread_cond_init(&s->cv, &ca), "pthread_cond_init");
	pt(pthread_condattr_destroy(&ca), "pthread_condattr_destroy");
	init_mutex(&s->cv_mutex, false);
	s->cv_ready = 0;
	s->cv_rc = -1; /* "never returned": not the success value */
	s->cv_calls = 0;
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		struct timespec deadline = deadline_after_ms(limit_ms(2000));
		pt(pthread_mutex_lock(&s->cv_mutex), "pthread_mutex_lock");
		pair_signal(&p, 'w'); /* holding the mutex, about to wait */
		int r = 0;
		while (s->cv_ready == 0 && r == 0) {
			r = pthread_cond_timedwait(&s->cv, &s->cv_mutex, &deadline);
			s->cv_rc = r;
			s->cv_calls++;
		}
		int seen = s->cv_ready;
		pt(pthread_mutex_unlock(&s->cv_mutex), "pthread_mutex_unlock");
		_exit(seen == value ? 0 : 1);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	pair_wait(&p);
	bool blocked = wait_until_blocked(pid, NULL);
	say("child asleep in pthread_cond_timedwait: %s {wchan=%s}", blocked ? "yes" : "NO, gave up waiting", wchan_seen());
	say("parent: sets ready = %d under the mutex, then pthread_cond_signal", value);
	pt(pthread_mutex_lock(&s->cv_mutex), "pthread_mutex_lock");
	s->cv_ready = value;
	pt(pthread_cond_signal(&s->cv), "pthread_cond_signal");
	pt(pthread_mutex_unlock(&s->cv_mutex), "pthread_mutex_unlock");
	const char *status = wait_child(pid);
	pair_close(&p);
	say("child %s (it saw ready = %d); its pthread_cond_timedwait returned %s", status, value,
	    s->cv_calls == 0 ? "nothing: never called" : rc_str(s->cv_rc));
	check(blocked && s->cv_calls > 0 && s->cv_rc == 0 && !strcmp(status, "exited 0"),
	      "a PTHREAD_PROCESS_SHARED condition variable wakes a waiter in another process");
	pt(pthread_cond_destroy(&s->cv), "pthread_cond_destroy");
	pt(pthread_mutex_destroy(&s->cv_mutex), "pthread_mutex_destroy");
}

int main(int argc, char **argv)
{
	long start = 0, n = 100000, nlines = 4, value = 42;
	const struct lab_option options[] = {
		{ "--start=S", &start, 0, 1000000, .help = "the counter of [2] and [3] starts at S" },
		{ "--increments=N", &n, 10000, 200000, .help = "each process of [3]-[5] adds N" },
		{ "--lines=L", &nlines, 2, MAX_LINES, .help = "the writer of [11] sends L lines, the last \"end\"" },
		{ "--ready=V", &value, 1, 1000000, .help = "the value [12] passes under the condition variable" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();

	step("Map one shared anonymous page for everything the processes share.");
	struct shared *s = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		die("mmap");
	check(sizeof *s <= ps, "the counters, mutexes and semaphores fit in one page");

	step("Lost update in slow motion: parent and child both load the counter, then both store load+1.");
	lost_update(s, start);

	step("The same two increments under a PTHREAD_PROCESS_SHARED mutex, then 2 x %ld for real.", n);
	/* BEGIN SOLUTION */
	init_mutex(&s->mutex, false);
	/* END SOLUTION */
	//> pt(pthread_mutex_init(&s->mutex, NULL), "pthread_mutex_init"); /* TODO: make it PTHREAD_PROCESS_SHARED */
	locked_update(s, start);
	race(s, BY_MUTEX, n);
	say_total(s->by_mutex, 2 * n);
	check(s->by_mutex == 2 * n, "exactly %ld: no increment lost", 2 * n);

	step("Again with a semaphore in the mapping, sem_init(&sem, pshared=1, value=1), as the lock.");
	/* BEGIN SOLUTION */
	if (sem_init(&s->sem, 1, 1) == -1)
		die("sem_init");
	/* END SOLUTION */
	//> if (sem_init(&s->sem, 0, 1) == -1) /* TODO: shared between processes? */
	//>	die("sem_init");
	race(s, BY_SEM, n);
	say_total(s->by_sem, 2 * n);
	check(s->by_sem == 2 * n, "exactly %ld: no increment lost", 2 * n);

	step("Again with no lock at all: atomic_fetch_add on a C11 _Atomic long in the mapping.");
	say("atomic_is_lock_free: %s, ATOMIC_LONG_LOCK_FREE: %d",
	    atomic_is_lock_free(&s->by_atomic) ? "yes" : "no", ATOMIC_LONG_LOCK_FREE);
	check(atomic_is_lock_free(&s->by_atomic) && ATOMIC_LONG_LOCK_FREE == 2,
	      "lock-free: one atomic instruction on the shared page, no lock private to a process");
	race(s, BY_ATOMIC, n);
	say_total(atomic_load(&s->by_atomic), 2 * n);
	check(atomic_load(&s->by_atomic) == 2 * n, "exactly %ld: no increment lost", 2 * n);

	step("A process-shared semaphore at 0: the child's sem_wait blocks until the parent posts.");
	if (sem_init(&s->gate, 1, 0) == -1)
		die("sem_init");
	s->child_rc = -1; /* "never returned": not the success value */
	pid_t pid = fork_or_die();
	if (pid == 0) {
		struct timespec deadline = deadline_after_ms(limit_ms(2000));
		s->child_rc = sem_timedwait(&s->gate, &deadline) == 0 ? 0 : errno;
		_exit(0);
	}
	bool blocked = wait_until_blocked(pid, NULL);
	int value_now = -99;
	if (sem_getvalue(&s->gate, &value_now) == -1)
		die("sem_getvalue");
	say("child asleep in sem_wait: %s; sem_getvalue: %d", blocked ? "yes" : "NO, gave up waiting", value_now);
	check(blocked && value_now == 0, "the value stays 0 while a process waits: it never goes negative");
	if (sem_post(&s->gate) == -1)
		die("sem_post");
	const char *status = wait_child(pid);
	say("parent posted; child %s; its sem_timedwait returned %s", status,
	    s->child_rc == -1 ? "nothing: never returned" : rc_str(s->child_rc));
	if (sem_getvalue(&s->gate, &value_now) == -1)
		die("sem_getvalue");
	say("sem_getvalue now: %d", value_now);
	check(blocked && s->child_rc == 0 && value_now == 0, "sem_post woke the other process, which took the unit");

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
	r = hand_over(&s->private_mutex, 100, &blocked);
	check(blocked && r == ETIMEDOUT, "the child slept until its deadline: the unlock's wake-up never reached it");
	say("the same with the PTHREAD_PROCESS_SHARED mutex of [3] (2 s limit):");
	r = hand_over(&s->mutex, 2000, &blocked);
	check(blocked && r == 0, "the child was woken and got the lock");
	pt(pthread_mutex_destroy(&s->private_mutex), "pthread_mutex_destroy");
	pt(pthread_mutex_destroy(&s->mutex), "pthread_mutex_destroy");

	step("The notes' System V writer/reader, redone: two semaphores in the segment, no flag, no sleep.");
	key_t key;
	int id = sysv_create(sizeof(struct shm_com), 0600, &key); /* IPC_CREAT|IPC_EXCL, fresh key */
	struct shm_com *c = shmat(id, NULL, 0);
	if (c == (void *)-1)
		die("shmat");
	say("main: new segment {key=0x%08x} {shmid=%d}, attached at {addr=%p}", (unsigned)key, id, (void *)c);
	say("main: a pointer has %zu bytes, an int %zu", sizeof(void *), sizeof(int));
	check(sizeof(void *) > sizeof(int),
	      "casting the address to int, as the notes do, keeps only half of it: print it with %%p");
	exchange(c, key, nlines, NULL);

	step("A condition variable in the shared page, PTHREAD_PROCESS_SHARED: the child waits, the parent signals.");
	condition_variable(s, (int)value);

	step("The exchange of [11] again, with two named semaphores (sem_open) in place of the two in the segment.");
	char prefix[128];
	unique_shm_name("sem", prefix, sizeof prefix);
	exchange(c, key, nlines, prefix);

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
