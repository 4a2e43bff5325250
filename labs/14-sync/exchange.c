/*
 * exchange.c - lab 14's steps [11] and [13]: sync execs the writer and the
 * reader, which pass lines through the System V segment (shm_com.h).
 * Linked into each program of the lab; only sync calls it.
 */
#include "lab.h"
#include "proc.h"
#include "race.h"
#include "shm_com.h"

#include <fcntl.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* [11] The notes' exchange: writer and reader find the segment by its key,
 * the two semaphores are in it.  [13] The same with two named semaphores,
 * PREFIX-empty and PREFIX-filled (sem_open), and only the text in it. */
void exchange(struct shm_com *c, key_t key, long nlines, const char *prefix)
{
	char keyarg[32], linesarg[32], namedarg[200] = "", names[2][180];
	sem_t *named[2];
	if (!prefix) {
		if (sem_init(&c->empty, 1, 1) == -1 || sem_init(&c->filled, 1, 0) == -1)
			die("sem_init");
		say("main: empty=1, filled=0, set before either program starts");
	} else {
		for (int i = 0; i < 2; i++) {
			char path[256];
			snprintf(names[i], sizeof names[i], "%s-%s", prefix, i ? "filled" : "empty");
			named[i] = sem_open(names[i], O_CREAT | O_EXCL, 0600, i ? 0 : 1);
			if (named[i] == SEM_FAILED)
				die("sem_open %s", names[i]);
			snprintf(path, sizeof path, "/dev/shm/sem.%.200s", names[i] + 1); /* where glibc keeps it */
			cleanup_unlink(path);
		}
		snprintf(namedarg, sizeof namedarg, "--named=%s", prefix);
		say("main: sem_open(NAME-empty, O_CREAT | O_EXCL, 0600, 1), NAME-filled with 0 {name=%s}", prefix);
		memset(c->got, 0, sizeof c->got);
		c->received = 0;
	}
	snprintf(keyarg, sizeof keyarg, "%ld", (long)key);
	snprintf(linesarg, sizeof linesarg, "--lines=%ld", nlines);
	pid_t reader = spawn_sibling("reader", NULL, keyarg, prefix ? namedarg : NULL, (char *)NULL);
	/* The writer starts only once the reader waits for the first line
	 * (asleep in the kernel) or has ended: a reader that does not wait has
	 * then read everything before anything was written, on every run, not
	 * only when the scheduler happens to run it first. */
	bool waits = wait_until_blocked(reader, NULL);
	if (!waits) /* it has ended (a reader that does not wait): reaped before the writer prints */
		say("main: reader %s", wait_child(reader));
	pid_t writer = spawn_sibling("writer", NULL, keyarg, linesarg, prefix ? namedarg : NULL, (char *)NULL);
	if (waits)
		say("main: reader %s", wait_child(reader));
	say("main: writer %s", wait_child(writer));
	bool in_order = c->received == nlines;
	for (int i = 0; in_order && i < nlines; i++) {
		char want[TEXT_SZ];
		line_text(i, (int)nlines, want, sizeof want);
		in_order = strcmp(c->got[i], want) == 0;
	}
	say("main: the reader logged %d lines", c->received);
	if (!prefix) {
		check(in_order, "every line arrived exactly once, in order, ending with \"end\"");
		return;
	}
	check(in_order, "the same with named semaphores: every line once, in order; the segment held only the text");
	int left = 0;
	for (int i = 0; i < 2; i++) {
		char path[256];
		snprintf(path, sizeof path, "/dev/shm/sem.%.200s", names[i] + 1);
		if (sem_close(named[i]) == -1 || sem_unlink(names[i]) == -1)
			die("sem_close/sem_unlink %s", names[i]);
		left += access(path, F_OK) == 0;
	}
	say("main: sem_unlink of both names; files left in /dev/shm: %d", left);
}
