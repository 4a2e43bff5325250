/*
 * shm_com.h - the layout of lab 14's System V segment, shared by sync.c
 * (which creates it), writer.c and reader.c (which find it by its key).
 *
 * The notes' version had one plain int, written_by_you, polled in busy
 * loops with sleep(1).  Here two process-shared semaphores live in the
 * segment next to the text:
 *
 *     empty  = 1  "the buffer may be filled"  (writer waits, reader posts)
 *     filled = 0  "the buffer holds a line"   (reader waits, writer posts)
 *
 * so each line is handed over exactly once, in order, and nobody spins.
 */
#ifndef LAB14_SHM_COM_H
#define LAB14_SHM_COM_H

#include "lab.h"

#include <fcntl.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define TEXT_SZ 64
#define MAX_LINES 8

/* The lines the writer sends, in place of the notes' stdin: n - 1 of
 * "first line", "second line" ..., then "end" (n from 2 to MAX_LINES). */
static inline void line_text(int i, int n, char *buf, size_t size)
{
	static const char *const nth[] = { "first", "second", "third", "fourth", "fifth", "sixth", "seventh" };
	if (i == n - 1 || i >= (int)(sizeof nth / sizeof nth[0]))
		snprintf(buf, size, "end");
	else
		snprintf(buf, size, "%s line", nth[i]);
}

struct shm_com {
	sem_t empty;  /* posted by the reader: the writer may fill text */
	sem_t filled; /* posted by the writer: the reader may take text */
	char text[TEXT_SZ];
	/* The reader's log of what it received, for sync to check. */
	int received;
	char got[MAX_LINES][TEXT_SZ];
};

/* [13] The same two semaphores by name instead (sem_open): PREFIX-empty and
 * PREFIX-filled, made by sync; nothing of them is in the segment. */
static inline sem_t *named_sem(const char *prefix, const char *which)
{
	char name[160];
	snprintf(name, sizeof name, "%s-%s", prefix, which);
	sem_t *s = sem_open(name, 0);
	if (s == SEM_FAILED)
		die("sem_open %s", name);
	return s;
}

/* [11] Run the writer and the reader on the segment c (key), nlines lines,
 * with the semaphores in the segment; [13] with prefix, with the named ones
 * (made, passed on as --named=PREFIX, unlinked afterwards).  Says what
 * happened and checks the reader's log. */
void exchange(struct shm_com *c, key_t key, long nlines, const char *prefix);

/* An absolute deadline ms from now on clock: CLOCK_REALTIME for
 * sem_timedwait and pthread_mutex_timedlock (deadline_after_ms), every wait
 * in this lab being bounded; CLOCK_MONOTONIC for a spin (past()). */
static inline struct timespec deadline_on(clockid_t clock, long ms)
{
	struct timespec t;
	clock_gettime(clock, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static inline struct timespec deadline_after_ms(long ms)
{
	return deadline_on(CLOCK_REALTIME, ms);
}

/* Whether clock has reached deadline. */
static inline bool past(const struct timespec *deadline, clockid_t clock)
{
	struct timespec now;
	clock_gettime(clock, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

#endif
