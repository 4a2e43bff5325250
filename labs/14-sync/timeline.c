/*
 * timeline.c - lab 14's two-column timelines (race.h): the rows of an
 * interleaving ([2], [3]), added by both processes in the shared page in the
 * order they happened, then said one column per side.
 */
#include "race.h"
#include "lab.h"

#include <stdarg.h>
#include <stdio.h>

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
