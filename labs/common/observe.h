/*
 * observe.h - watching memory: what the kernel says about a mapping
 * (/proc/self/smaps, maps, pagemap), what an access costs (minor faults),
 * what an access does (a fault probe that reports SIGBUS/SIGSEGV instead of
 * dying), and which filesystem a path lives on.
 *
 * Everything here reads what any user may read, except the frame numbers of
 * pagemap (CAP_SYS_ADMIN): print those only inside a {pfn=...} token.
 */
#ifndef MMAP_LABS_OBSERVE_H
#define MMAP_LABS_OBSERVE_H

#include <signal.h> /* SIGBUS, BUS_ADRERR ...: what a probe reports */
#include <stdbool.h>
#include <stdint.h>

/* ---- the fault probe -------------------------------------------------- *
 * Touch one byte and report what happened instead of crashing:
 * "ok", "SIGBUS (BUS_ADRERR)", "SIGSEGV (SEGV_MAPERR)", "SIGSEGV (SEGV_ACCERR)".
 * Under valgrind the probed access is not reported as an error. */
struct probe {
	int sig;           /* 0, SIGBUS or SIGSEGV */
	int code;          /* si_code */
	bool addr_matches; /* si_addr was the probed byte */
	unsigned char value; /* the byte read (probe_read, when ok) */
};
struct probe probe_read(const volatile void *addr);
struct probe probe_write(volatile void *addr, unsigned char value);
const char *probe_str(struct probe p); /* "ok", "SIGBUS (BUS_ADRERR)", ... */

/* ---- /proc/self/smaps, maps, pagemap ---------------------------------- */

/* The fields of /proc/self/smaps for the mapping that holds addr, in kB. */
struct smaps {
	long rss, pss, shared_clean, shared_dirty, private_clean, private_dirty;
};
struct smaps smaps_of(const void *addr);
/* kB as pages, for printing "0.5": smaps counts in kB, labs speak in pages. */
double kb_to_pages(long kb);

/* The /proc/self/maps line of the mapping that holds addr (dies if none).
 * inode is 0 and name "" for plain anonymous memory; name may also be
 * "[heap]", a path, "/dev/zero (deleted)", "/SYSV0000abcd (deleted)" ... */
struct maps_entry {
	uintptr_t start, end;
	unsigned dev_major, dev_minor;
	unsigned long inode;
	char name[256];
};
struct maps_entry maps_of(const void *addr);

/* One /proc/self/pagemap entry.  The frame number reads as 0 without
 * CAP_SYS_ADMIN; the flags are readable by anyone. */
struct pagemap {
	bool present, exclusive, file_or_shared_anon;
	uint64_t pfn;
};
struct pagemap pagemap_of(const void *addr);
/* True when this process can read real frame numbers. */
bool pagemap_has_pfn(void);

/* ---- faults ----------------------------------------------------------- */

/* Minor faults of this process so far (getrusage, warmed up first so the
 * call's own stack write is not counted in a later difference). */
long minor_faults(void);
/* Read one byte / write one byte and return the minor faults that cost.
 * Built without sanitizer instrumentation: under ASan a checked access also
 * touches shadow memory, which would add faults of its own to the count. */
long faults_to_read(const volatile void *addr);
long faults_to_write(volatile void *addr, unsigned char value);

/* ---- the filesystem --------------------------------------------------- */

/* The filesystem type under path ("ext4", "tmpfs", "overlayfs", ...). */
const char *fs_type(const char *path);

#endif
