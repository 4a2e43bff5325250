/*
 * reader - the reading half of lab 14's System V exchange.
 *
 * Usage: reader KEY [--named=PREFIX]
 *        (exec'd by sync; KEY is the segment's System V key; with PREFIX the
 *        two semaphores are the named ones PREFIX-empty and PREFIX-filled)
 *
 * Story: find the segment by its key, then repeatedly: wait until the
 * buffer holds a line, copy it out (and log it in the segment for sync to
 * check), post "empty"; stop after "end".  At most MAX_LINES rounds, and
 * every wait has a deadline, so a broken writer cannot hang it.
 */
#include "lab.h"
#include "options.h"
#include "shm_com.h"

#include <limits.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	long key;
	const char *named = NULL;
	const struct lab_option options[] = {
		{ "KEY", &key, INT_MIN, INT_MAX, .help = "the System V key of sync's segment" },
		{ "--named=PREFIX", .text = &named, .help = "use the named semaphores PREFIX-empty, PREFIX-filled" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the reading half of lab 14's System V exchange; sync starts it");
	lab_begin(NULL);

	int id = shmget((key_t)key, 0, 0);
	if (id == -1)
		die("reader: shmget");
	struct shm_com *c = shmat(id, NULL, 0);
	if (c == (void *)-1)
		die("reader: shmat");
	sem_t *empty = named ? named_sem(named, "empty") : &c->empty;
	sem_t *filled = named ? named_sem(named, "filled") : &c->filled;

	struct timespec deadline = deadline_after_ms(limit_ms(2000)); /* the whole exchange */
	for (int n = 0; n < MAX_LINES; n++) {
		/* BEGIN SOLUTION */
		if (sem_timedwait(filled, &deadline) == -1)
			die("reader: sem_timedwait(filled)");
		/* END SOLUTION */
		//> (void)deadline; /* TODO: wait (bounded) until the writer has filled the buffer */
		snprintf(c->got[n], sizeof c->got[n], "%s", c->text);
		c->received = n + 1;
		say("reader: got \"%s\"", c->got[n]);
		bool last = strcmp(c->got[n], "end") == 0; /* the whole word, not strncmp(.., 3) */
		/* BEGIN SOLUTION */
		if (sem_post(empty) == -1)
			die("reader: sem_post(empty)");
		/* END SOLUTION */
		//> /* TODO: tell the writer the buffer may be filled again */
		if (last)
			break;
	}

	if (named && (sem_close(empty) == -1 || sem_close(filled) == -1))
		die("reader: sem_close");
	if (shmdt(c) == -1)
		die("reader: shmdt");
	return 0;
}
