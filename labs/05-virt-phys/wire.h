/*
 * wire.h - the report lab 05's other processes send virt-phys over the pipe:
 * what they saw of the mapping at their own address.  peer (exec'd) sends
 * one after its first touch; the forked child of step [6] sends one after
 * its read and one after its write.
 */
#ifndef LAB05_WIRE_H
#define LAB05_WIRE_H

#include "framemap.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct peer_report {
	uintptr_t addr;                  /* where its mapping is */
	long rss_kb, pss_kb, shared_kb;  /* smaps: Rss, Pss, Shared_Clean + Shared_Dirty */
	long faults;                     /* minor faults its write took (the child) */
	bool own_mapping;                /* its address starts a mapping of the file in its own maps */
	char data[24];                   /* the text it reads on page K */
	struct fm_page pages[FM_MAX_PAGES]; /* every page of its mapping, for the picture */
};

/* Read every page of the mapping of n pages at p, and fill r (every byte:
 * it goes down a pipe) from what this process sees of it; page k holds the text. */
void report_mapping(struct peer_report *r, const char *p, int n, int k);
/* Does p start a mapping of the file open as fd in this process's /proc/self/maps? */
bool starts_mapping_of(const void *p, int fd);

#endif
