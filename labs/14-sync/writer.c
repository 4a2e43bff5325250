/*
 * writer - the writing half of lab 14's System V exchange.
 *
 * Usage: writer KEY [--lines=N] [--named=PREFIX]
 *        (exec'd by sync; KEY is the segment's System V key; with PREFIX the
 *        two semaphores are the named ones PREFIX-empty and PREFIX-filled)
 *
 * Story: find the segment by its key alone (no shared ancestry needed),
 * then for each of N lines: wait until the buffer is empty, copy the line
 * in, post "filled".  No flag polling, no sleep: the semaphores do both
 * the waiting and the ordering.
 */
#include "lab.h"
#include "options.h"
#include "shm_com.h"

#include <limits.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	long key, n = 4;
	const char *named = NULL;
	const struct lab_option options[] = {
		{ "KEY", &key, INT_MIN, INT_MAX, .help = "the System V key of sync's segment" },
		{ "--lines=N", &n, 2, MAX_LINES, .help = "send N lines, the last one \"end\"" },
		{ "--named=PREFIX", .text = &named, .help = "use the named semaphores PREFIX-empty, PREFIX-filled" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the writing half of lab 14's System V exchange; sync starts it");
	lab_begin(NULL);

	int id = shmget((key_t)key, 0, 0);
	if (id == -1)
		die("writer: shmget");
	struct shm_com *c = shmat(id, NULL, 0);
	if (c == (void *)-1)
		die("writer: shmat");
	sem_t *empty = named ? named_sem(named, "empty") : &c->empty;
	sem_t *filled = named ? named_sem(named, "filled") : &c->filled;

	struct timespec deadline = deadline_after_ms(limit_ms(2000)); /* the whole exchange */
	for (int i = 0; i < n; i++) {
		/* BEGIN SOLUTION */
		if (sem_timedwait(empty, &deadline) == -1)
			die("writer: sem_timedwait(empty)");
		/* END SOLUTION */
		//> (void)deadline; /* TODO: wait (bounded) until the reader has emptied the buffer */
		line_text(i, (int)n, c->text, sizeof c->text);
		say("writer: wrote \"%s\"", c->text);
		/* BEGIN SOLUTION */
		if (sem_post(filled) == -1)
			die("writer: sem_post(filled)");
		/* END SOLUTION */
		//> /* TODO: tell the reader the buffer now holds a line */
	}

	if (named && (sem_close(empty) == -1 || sem_close(filled) == -1))
		die("writer: sem_close");
	if (shmdt(c) == -1)
		die("writer: shmdt");
	return 0;
}
