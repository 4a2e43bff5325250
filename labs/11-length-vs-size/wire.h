/*
 * wire.h - the record lab 11's three programs agree on, and what the writer
 * stores in it: the source notes' 8-byte "people", names "a".."j" with ages
 * 20..29 in records 1-10 (i = 0..9).
 */
#ifndef LAB11_WIRE_H
#define LAB11_WIRE_H

#include <stdbool.h>

typedef struct {
	char name[4];
	int age;
} people; /* the notes' record: 8 bytes */

/* Whether record i holds what the writer stored there. */
static inline bool as_written(const people *r, int i)
{
	return r->name[0] == 'a' + i && r->name[1] == '\0' && r->age == 20 + i;
}

#endif
