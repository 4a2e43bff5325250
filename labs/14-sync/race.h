/*
 * race.h - lab 14's machinery: the shared page's layout, two processes
 * counting together ([3]-[5]), waiting until a child sleeps in the kernel
 * ([6], [10], [12]), and the two-column timeline of an interleaving ([2], [3]).
 * sync.c tells the story; this file only does the bookkeeping.
 */
#ifndef LAB14_RACE_H
#define LAB14_RACE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

enum method { BY_MUTEX, BY_SEM, BY_ATOMIC };

/* [3], [4] How the handshake of the parent's first increment ended. */
enum handshake {
	HS_NONE,    /* there was none (the child's loop, [5]) */
	HS_ASLEEP,  /* the child slept in its first lock call */
	HS_MOVED,   /* the counter moved under the parent's load: no lock */
	HS_GAVE_UP, /* neither, by the deadline */
};
const char *handshake_str(enum handshake h); /* "yes", or "no, ..." */

struct tally {
	long done;               /* increments this process made */
	long handoffs;           /* times the other process had incremented in between */
	int err;                 /* 0, or why the loop stopped early */
	enum handshake handshake; /* the parent's: see race() */
};

/* One row of a timeline: who did what, in the order the rows were added. */
enum { LEFT, RIGHT };
#define MAX_EVENTS 12
struct timeline {
	_Atomic int n;
	struct {
		int who;
		char what[40];
	} ev[MAX_EVENTS];
};

/* Everything the processes share lives in one MAP_SHARED page. */
struct shared {
	int plain;                      /* [2] no protection at all */
	struct timeline tl;             /* [2], [3] the slow-motion interleavings */
	pthread_mutex_t mutex;          /* [3] process-shared mutex ... */
	long slow;                      /*     ... the slow-motion counter it guards */
	long by_mutex;                  /*     ... and the counter of the race */
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
	int cv_ready;                   /*      ... the predicate it guards ... */
	int cv_rc, cv_calls;            /*      ... and what the waiter got */
	_Atomic int ready, go;          /* the start line of a race */
	_Atomic int holding, arriving;  /* [3], [4] the handshake of the parent's first increment */
	_Atomic long progress[2];       /* increments so far: parent, child */
	struct tally child;             /* what a child reports back */
	int child_rc;
};

/* pthread_* and friends return an error number instead of setting errno. */
void pt(int r, const char *what);
const char *rc_str(int r); /* "0", "ETIMEDOUT", ... */
void init_mutex(pthread_mutex_t *m, bool robust); /* PTHREAD_PROCESS_SHARED */

/* [3]-[5]: fork a child, start both loops of n increments at the same
 * moment (neither more than n/100 ahead), say both tallies, check overlap.
 * [3], [4]: the parent's first increment keeps the lock until the child
 * sleeps on it, or (no lock) until the child's increments land between the
 * parent's load and store: a missing lock loses an update on every run. */
void race(struct shared *s, enum method how, long n);

/* Say a race's total: "counter: N" when it is want; otherwise how far it
 * fell short depends on the scheduler, so the value is a {counter=...} token. */
void say_total(long got, long want);

/* How long a spin waits for the other process, in milliseconds of a quiet
 * machine (scaled by limit_ms). */
#define SPIN_MS 2000

/* ---- asleep.c: is a process asleep in the kernel yet? ---- */

/* glibc's futex word inside a mutex: 0 free, 1 locked, 2 locked and someone
 * is (about to be) waiting in the kernel. */
int lock_word(pthread_mutex_t *m);
/* One look at pid: is it asleep in a futex wait (for a mutex m, with its
 * word at 2)?  true once /proc/PID/wchan names the futex wait, or, where it
 * never does (a kernel without symbols), at the 100th look in a row that
 * finds it asleep in futex(); *in_call counts those looks (start it at 0). */
bool seen_asleep(pid_t pid, pthread_mutex_t *m, int *in_call);
/* Spin (bounded: limit_ms(SPIN_MS)) until pid sleeps in a futex wait: state S in
 * /proc/PID/stat, and /proc/PID/wchan names a futex function where the
 * kernel shows it; for a mutex m, also until its word is 2.  The wchan read
 * is kept for wchan_seen().  false: it gave up, or pid has ended. */
bool wait_until_blocked(pid_t pid, pthread_mutex_t *m);
const char *wchan_seen(void);

/* [7]-[9] A child takes m and exits without unlocking it. */
void lock_and_die(pthread_mutex_t *m);
/* [10] The parent holds m; a child waits for it (quiet_ms, scaled by
 * limit_ms); once the child
 * sleeps in the kernel the parent unlocks.  The child reports what its lock
 * call returned and keeps the lock (if it got it) until the parent has read
 * the lock word.  Returns the child's result; *blocked: it was asleep. */
int hand_over(pthread_mutex_t *m, long quiet_ms, bool *blocked);

/* ---- timeline.c ---- */

void tl_reset(struct timeline *t);
void tl_add(struct timeline *t, int who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* say() the rows under two headings, one column per side. */
void tl_say(const struct timeline *t, const char *left, const char *right);

#endif
