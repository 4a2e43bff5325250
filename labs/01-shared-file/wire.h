/*
 * wire.h - what lab 01's three programs agree on: where each text lives in
 * the shared page, and the one-byte commands shared-file sends its helpers.
 *
 *   offset 0   the writer's slot: the writer stores its TEXT there
 *   offset AT  the reader's slot: the reader stores its TEXT there (AT is
 *              each helper's argument, shared-file's --reader-at, 64 by default)
 *
 * Commands, each answered before shared-file goes on:
 *   '0', '1'  say what the writer's / the reader's slot holds, and send it
 *             back: ANSWER_SIZE bytes, NUL-terminated (answer_slot)
 *   'w'       the writer stores its text in its slot; it answers 'k'
 *   'n'       the writer fills its whole slot with strncpy(slot, text, AT):
 *             no byte is left for a terminator; it answers 'k'
 *   'r'       the reader stores its text in its slot; it answers 'k'
 *   'l'       the reader measures its view of the writer's slot with strlen,
 *             as printf("%s") does, and sends the length (a long)
 *   'q'       unmap (the reader) or not (the writer), and exit
 */
#ifndef LAB01_WIRE_H
#define LAB01_WIRE_H

#include "proc.h"

#define ANSWER_SIZE 48 /* the answer to '0' and '1'; a TEXT has fewer characters */

/* In a helper (who: "writer", "reader"): say what slot holds and send it to
 * shared-file, in the ANSWER_SIZE-byte answer. */
void answer_slot(struct pair *lab, const char *who, const char *slot);

#endif
