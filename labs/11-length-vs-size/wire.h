/*
 * wire.h - the record lab 11's three programs agree on, and what the writer
 * stores in it: the source notes' 8-byte "people", names "a", "b", ... with
 * ages first_age, first_age + 1, ... in records 1, 2, ... (i = 0, 1, ...).
 * The notes' writer stores 10 records (a..j, ages 20..29) in a file with room
 * for 5; the lab's --file-records, --map-records and --first-age change that.
 */
#ifndef LAB11_WIRE_H
#define LAB11_WIRE_H

#include <stdbool.h>

typedef struct {
	char name[4];
	int age;
} people; /* the notes' record: 8 bytes */

#define MAX_RECORDS 26 /* one letter each; 26 records fit in any page */

/* Whether record i holds what the writer stored there. */
static inline bool as_written(const people *r, int i, int first_age)
{
	return r->name[0] == 'a' + i && r->name[1] == '\0' && r->age == first_age + i;
}

#endif
