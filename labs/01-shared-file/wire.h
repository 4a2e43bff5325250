/*
 * wire.h - what lab 01's three programs agree on: where each text lives in
 * the shared page, and the one-byte commands shared-file sends its helpers.
 *
 *   offset 0          the writer's slot: the writer stores its TEXT there
 *   offset READER_AT  the reader's slot: the reader stores its TEXT there
 *
 * Commands, each answered before shared-file goes on:
 *   '0', '1'  say what the writer's / the reader's slot holds, and send it
 *             back: ANSWER_SIZE bytes, NUL-terminated (answer_slot)
 *   'w'       the writer stores its text in its slot; it answers 'k'
 *   'r'       the reader stores its text in its slot; it answers 'k'
 *   'q'       unmap (the reader) or not (the writer), and exit
 */
#ifndef LAB01_WIRE_H
#define LAB01_WIRE_H

#include "proc.h"

#define READER_AT 64   /* the reader's slot; the writer's slot is the bytes before it */
#define ANSWER_SIZE 48 /* the answer to '0' and '1' */

/* In a helper (who: "writer", "reader"): say what slot holds and send it to
 * shared-file, in the ANSWER_SIZE-byte answer. */
void answer_slot(struct pair *lab, const char *who, const char *slot);

#endif
