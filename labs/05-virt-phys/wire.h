/*
 * wire.h - the report lab 05's other processes send virt-phys over the pipe:
 * what they saw of the page at their own address.  peer (exec'd) sends one
 * after its first touch; the forked child of step [6] sends one too.
 */
#ifndef LAB05_WIRE_H
#define LAB05_WIRE_H

#include <stdint.h>

struct peer_report {
	uintptr_t addr;                  /* where its mapping is */
	uint64_t pfn;                    /* the frame behind it (0 without CAP_SYS_ADMIN) */
	long rss_kb, pss_kb, shared_kb;  /* smaps: Rss, Pss, Shared_Clean + Shared_Dirty */
	char data[24];                   /* the text it reads there */
};

#endif
