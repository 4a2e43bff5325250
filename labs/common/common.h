/*
 * common.h - the few helpers every mmap-labs program uses.
 *
 * Transcript format (what the harness compares, see README "Transcripts"):
 *
 *   # Lab 04: Copy-on-write after fork        <- lab_begin()
 *
 *   [1] what the lab does now                 <- step()
 *       what it observed                      <- say()
 *       ok: a stated expectation held         <- check()
 *       NOT OK: a stated expectation failed
 *
 *   == 12 checks, all ok                      <- lab_end()
 *
 * Values that differ from run to run (addresses, pids, the filesystem,
 * privileged-only detail) are printed as {name=value}; the harness turns
 * them into {name} before comparing.  Everything else must be the same
 * bytes on every run, machine and user.
 *
 * Only the lab's main process calls step(); helpers it forks or execs
 * print with say(), one complete line at a time, while the main process
 * waits for them (a pipe handshake or waitpid), so the order is fixed.
 */
#ifndef MMAP_LABS_COMMON_H
#define MMAP_LABS_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- transcript ------------------------------------------------------- */

/* Print "# Lab NN: title" (NN from the folder the program was built in),
 * make stdout line-buffered, arm the cleanup on SIGINT/SIGTERM/SIGHUP.
 * Call first thing in main().  A helper program the lab execs (a reader,
 * a writer) calls it with NULL: no header, the rest the same. */
void lab_begin_as(const char *number, const char *title);
/* LAB_NUMBER ("09") and LAB_TITLE come from labs/labs.mk: the build defines
 * them for every source of a lab, so a lab's main() says lab_begin(LAB_TITLE). */
#ifndef LAB_NUMBER
#define LAB_NUMBER NULL
#endif
#define lab_begin(title) lab_begin_as(LAB_NUMBER, (title))
/* Print "[N] ..." (with a blank line before it). Main process only. */
void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "    ..." : an observation. Any process. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "    ok: ..." or "    NOT OK: ..." and remember failures. */
bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the closing line; returns the exit status for main(). */
int lab_end(void);

/* ---- errors ----------------------------------------------------------- */

/* Symbolic errno name ("EINVAL"), never locale text. */
const char *errname(int err);
/* Report "lab: <what>: <ENAME>" on stderr, run the registered cleanups of
 * this process, and _exit(2).  Safe in a forked child. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Same, without an errno (for a wrong protocol message, a bad argument). */
void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- cleanup on failure ----------------------------------------------- *
 * Register what must not outlive a failed run.  die() and a fatal signal
 * run these in the process that registered them.  The normal path cleans
 * up explicitly (and may call cleanup_now() to do it all at once). */
void cleanup_unlink(const char *path);     /* a file */
void cleanup_shm_unlink(const char *name); /* a POSIX shm name */
void cleanup_sysv_rmid(int shmid);         /* a System V segment */
void cleanup_kill(pid_t pid);              /* a child to SIGKILL and reap (wait_child forgets it) */
void cleanup_now(void);                    /* run and forget them all */

/* ---- sizes ------------------------------------------------------------ */

size_t page_size(void); /* sysconf(_SC_PAGESIZE), cached */
off_t file_size(int fd); /* st_size of an open file (fstat) */

/* ---- the fault probe -------------------------------------------------- *
 * Touch one byte and report what happened instead of crashing:
 * "ok", "SIGBUS (BUS_ADRERR)", "SIGSEGV (SEGV_MAPERR)", "SIGSEGV (SEGV_ACCERR)". */
struct probe {
	int sig;           /* 0, SIGBUS or SIGSEGV */
	int code;          /* si_code */
	bool addr_matches; /* si_addr was the probed byte */
	unsigned char value; /* the byte read (probe_read, when ok) */
};
struct probe probe_read(const volatile void *addr);
struct probe probe_write(volatile void *addr, unsigned char value);
const char *probe_str(struct probe p); /* "ok", "SIGBUS (BUS_ADRERR)", ... */

/* ---- a parent/child handshake over two pipes -------------------------- */

struct pair {
	int fd[4];   /* [0],[1]: parent->child pipe; [2],[3]: child->parent */
	int rfd, wfd; /* this side's ends after pair_parent()/pair_child() */
};
void pair_open(struct pair *p);   /* before fork() */
void pair_parent(struct pair *p); /* after fork(), in the parent */
void pair_child(struct pair *p);  /* after fork(), in the child */
/* For a program the child exec()s: "R,W" names the child's ends, which stay
 * open across exec; the new program calls pair_import() with it. */
void pair_export(const struct pair *p, char *buf, size_t size);
void pair_import(struct pair *p, const char *arg);
void pair_signal(struct pair *p, char msg); /* send one byte */
char pair_wait(struct pair *p);             /* receive one byte; dies on EOF */
/* The same for a message of len bytes (a report struct, a text buffer):
 * all of it is written, or read (dying on EOF like pair_wait). */
void pair_send(struct pair *p, const void *buf, size_t len);
void pair_recv(struct pair *p, void *buf, size_t len);
void pair_close(struct pair *p);

/* ---- processes -------------------------------------------------------- */

/* fflush(stdout) then fork(); dies on failure. */
pid_t fork_or_die(void);
/* waitpid() and return a description: "exited 0", "killed by SIGBUS", ... */
const char *wait_child(pid_t pid);
/* Full path of another program built beside this one (writer, reader). */
void sibling_path(const char *prog, char *buf, size_t size);
/* fork + exec the sibling program prog with the arguments that follow,
 * NULL-terminated as for execl().  With a pair, the child's handshake ends
 * come first, as argv[1] ("R,W": the program calls pair_import(argv[1])),
 * and p is ready for the parent (pair_parent) on return; with p NULL there
 * is no handshake.  The child is registered with cleanup_kill(); reap it
 * with wait_child().  Returns its pid. */
pid_t spawn_sibling(const char *prog, struct pair *p, ...) __attribute__((sentinel));

/* ---- names unique to this run ----------------------------------------- *
 * "mmaplab-[<run>-]<pid>-<random>-<what>": two runs in parallel never collide;
 * <run> is the harness's MMAPLAB_RUN token, which also marks System V keys. */
void unique_name(const char *what, char *buf, size_t size);      /* file in cwd */
void unique_shm_name(const char *what, char *buf, size_t size);  /* "/mmaplab-..." */
/* Create the file path fresh (O_EXCL, read-write, mode 0600, close-on-exec),
 * register cleanup_unlink() for it and ftruncate() it to size bytes (0:
 * leave it empty).  Returns the descriptor. */
int create_file(const char *path, off_t size);
/* Create a new System V segment under a key nobody else uses (retrying on
 * EEXIST) and register it for cleanup.  Returns the shmid; *key_out gets
 * the key if not NULL. */
int sysv_create(size_t size, int mode, key_t *key_out);

/* ---- observing memory ------------------------------------------------- */

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

/* Minor faults of this process so far (getrusage, warmed up first so the
 * call's own stack write is not counted in a later difference). */
long minor_faults(void);
/* Read one byte / write one byte and return the minor faults that cost.
 * Built without sanitizer instrumentation: under ASan a checked access also
 * touches shadow memory, which would add faults of its own to the count. */
long faults_to_read(const volatile void *addr);
long faults_to_write(volatile void *addr, unsigned char value);

/* The filesystem type under path ("ext4", "tmpfs", "overlayfs", ...). */
const char *fs_type(const char *path);

#endif
