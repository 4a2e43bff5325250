/*
 * answer.c - how lab 01's writer and reader answer "what does this slot
 * hold?" (wire.h).  Linked into each program of the lab.
 */
#include "wire.h"
#include "lab.h"

#include <stdio.h>

void answer_slot(struct pair *lab, const char *who, const char *slot)
{
	char buf[ANSWER_SIZE] = "";
	snprintf(buf, sizeof buf, "%.*s", (int)sizeof buf - 1, slot);
	if (buf[0] == '\0')
		say("%s: sees zero bytes there", who);
	else
		say("%s: sees \"%s\"", who, buf);
	pair_send(lab, buf, sizeof buf);
}
