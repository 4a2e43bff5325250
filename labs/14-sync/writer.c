/*
 * writer - the writing half of lab 14's System V exchange.
 *
 * Usage: writer KEY       (exec'd by sync; KEY is the segment's System V key)
 *
 * Story: find the segment by its key alone (no shared ancestry needed),
 * then for each fixed line: wait until the buffer is empty, copy the line
 * in, post "filled".  No flag polling, no sleep: the semaphores do both
 * the waiting and the ordering.
 */
#include "common.h"
#include "../14-sync/shm_com.h" /* beside this file; spelt so -Ilabs/common finds it too */

#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	lab_begin(NULL);
	char *end;
	if (argc != 2)
		die_msg("usage: writer KEY");
	long key = strtol(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0')
		die_msg("writer: bad key '%s'", argv[1]);

	int id = shmget((key_t)key, 0, 0);
	if (id == -1)
		die("writer: shmget");
	struct shm_com *c = shmat(id, NULL, 0);
	if (c == (void *)-1)
		die("writer: shmat");

	static const char *const lines[] = { SHM_LINES };
	struct timespec deadline = deadline_after_ms(2000); /* the whole exchange */
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		/* BEGIN SOLUTION */
		if (sem_timedwait(&c->empty, &deadline) == -1)
			die("writer: sem_timedwait(empty)");
		/* END SOLUTION */
		//> (void)deadline; /* TODO: wait (bounded) until the reader has emptied the buffer */
		snprintf(c->text, sizeof c->text, "%s", lines[i]);
		say("writer: wrote \"%s\"", c->text);
		/* BEGIN SOLUTION */
		if (sem_post(&c->filled) == -1)
			die("writer: sem_post(filled)");
		/* END SOLUTION */
		//> /* TODO: tell the reader the buffer now holds a line */
	}

	if (shmdt(c) == -1)
		die("writer: shmdt");
	return 0;
}
