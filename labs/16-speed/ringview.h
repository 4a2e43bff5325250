/*
 * ringview.h - lab 16's ring, seen from the outside: a picture of head,
 * tail and the bytes between them at three moments, and a reader that
 * sleeps in FUTEX_WAIT on the empty ring until the writer wakes it.
 */
#ifndef SPEED_RINGVIEW_H
#define SPEED_RINGVIEW_H

#include "chan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIEW_RING (64 * 1024) /* the ring of the picture, in bytes */
#define VIEW_COLS 32          /* its columns: 2 KiB each */

/* "[####....]": one character per column of a ring of cap bytes, '#' for
 * the bytes from tail to head (written, not yet read), '.' for free ones;
 * marks gets "T" under tail's column and "H" under head's ("*" both). */
void ring_picture(uint32_t tail, uint32_t head, uint32_t cap, char *bar, char *marks, size_t cols);

/* The picture and the sleeping reader, in a forked reader process; prints
 * the observations and makes the step's two checks.  Whether both are ok:
 * a ring that fails them is not measured afterwards.  A side that gives up
 * (its stall limit) ends the exchange at once. */
bool ring_show(const struct chan_cfg *cfg, uint64_t seed);

#endif
