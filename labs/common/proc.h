/*
 * proc.h - the lab's other processes: a handshake over two pipes, a sibling
 * program started as an unrelated process, fork, wait.
 *
 * Never sleep to wait for another process: one side pair_wait()s until the
 * other pair_signal()s, so what each prints comes in a fixed order.
 *
 *     struct pair p;
 *     pair_open(&p);                      spawn_sibling("reader", &p, path, (char *)NULL)
 *     pid_t pid = fork_or_die();          does these three steps with fork + exec;
 *     if (pid == 0) {                     the reader gets its ends as argv[1] ("R,W")
 *             pair_child(&p);             and calls pair_import(&p, argv[1])
 *             ... pair_signal(&p, 'r') ...
 *             _exit(0);
 *     }
 *     pair_parent(&p);
 *     cleanup_kill(pid);
 *     ... pair_wait(&p) ...
 *     say("child %s", wait_child(pid));
 *     pair_close(&p);
 */
#ifndef MMAP_LABS_PROC_H
#define MMAP_LABS_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* ---- a parent/child handshake over two pipes -------------------------- */

struct pair {
	int to_child[2];  /* a pipe: the parent writes [1], the child reads [0] */
	int to_parent[2]; /* a pipe: the child writes [1], the parent reads [0] */
	int in, out;      /* this side's ends, once pair_parent()/pair_child()/pair_import() chose */
};
void pair_open(struct pair *p);   /* before fork() */
void pair_parent(struct pair *p); /* after fork(), in the parent (its ends are close-on-exec) */
void pair_child(struct pair *p);  /* after fork(), in the child */
/* In a program started by spawn_sibling(): its ends, from argv[1] ("R,W"). */
void pair_import(struct pair *p, const char *ends);
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
/* waitpid() and return a description: "exited 0", "killed by SIGBUS", ...
 * The child is forgotten by the cleanup registry (cleanup_reaped). */
const char *wait_child(pid_t pid);
/* fork + exec prog, a program built beside this one, with the arguments that
 * follow, NULL-terminated as for execl().  With a pair, the child's handshake
 * ends come first, as argv[1] ("R,W": the program calls pair_import), and p
 * is ready for the parent on return; with p NULL there is no handshake.  The
 * child is registered with cleanup_kill(); reap it with wait_child().
 * Returns its pid. */
pid_t spawn_sibling(const char *prog, struct pair *p, ...) __attribute__((sentinel));

/* ---- what another process is doing (/proc/PID, readable by its parent) ---- */

/* The first line of /proc/PID/<what> into buf, without its newline ("" if it
 * cannot be read). */
void proc_read(pid_t pid, const char *what, char *buf, size_t size);
/* The state letter of /proc/PID/stat: R running, S sleeping, Z zombie, ...;
 * '?' if it cannot be read. */
char proc_state(pid_t pid);

#endif
