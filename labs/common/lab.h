/*
 * lab.h - the transcript and the errors: what every program of every lab uses.
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
 *
 * Strict about its output:
 *   - lab_begin() refuses to start (stderr, exit 2) when descriptor 0, 1 or 2
 *     is closed: the lab's first open() would get it, and the transcript
 *     would be written into the lab's own data file;
 *   - every transcript line is flushed and checked: a line that cannot be
 *     written (stdout full, a closed pipe ...) ends the program with
 *     "lab: cannot write the transcript: ENOSPC" on stderr, its cleanups
 *     run, exit status 2.  lab_end() checks once more.
 *   - SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE run this process's cleanups,
 *     then kill it as they normally would (a signal ignored when the program
 *     started stays ignored, as under nohup).
 */
#ifndef MMAP_LABS_LAB_H
#define MMAP_LABS_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- transcript ------------------------------------------------------- */

/* LAB_NUMBER ("09") and LAB_TITLE come from labs/labs.mk: the build defines
 * them for every source of a lab, so a lab's main() says lab_begin(LAB_TITLE). */
#ifndef LAB_NUMBER
#define LAB_NUMBER NULL
#endif
/* Print "# Lab NN: title", make stdout line-buffered, arm the cleanup on the
 * signals above.  Call first thing in main() (after lab_options()).  A
 * helper program the lab execs (a reader, a writer) calls lab_begin(NULL):
 * no header, the rest the same. */
#define lab_begin(title) lab_begin_as(LAB_NUMBER, (title))
void lab_begin_as(const char *number, const char *title);
/* Print "[N] ..." (with a blank line before it). Main process only. */
void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "    ..." : an observation. Any process. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "    ok: ..." or "    NOT OK: ..." and remember failures. */
bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the closing line; returns the exit status for main() (0 all ok,
 * 1 a check failed; 2 and no return when the transcript was not written). */
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
void cleanup_kill(pid_t pid);              /* a child to SIGKILL and reap */
void cleanup_reaped(pid_t pid);            /* that child was reaped: never kill its pid (wait_child calls it) */
void cleanup_now(void);                    /* run and forget them all */

/* ---- sizes ------------------------------------------------------------ */

size_t page_size(void);  /* sysconf(_SC_PAGESIZE), cached */
off_t file_size(int fd); /* st_size of an open file (fstat) */

/* ---- time limits ---------------------------------------------------------- */

/* A limit that only a broken program reaches (a waiter nobody wakes), given
 * in milliseconds of a quiet 2-CPU machine and scaled by how much slower this
 * machine is now: MMAPLABS_SLOWNESS, which the harness measures and passes
 * to every run (1 when it is not set, as for `make lab-N`; at most 1000). */
long limit_ms(long quiet_ms);
double limit_s(double quiet_s); /* the same in seconds */

#endif
