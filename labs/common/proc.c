/*
 * proc.c - handshakes, sibling programs, fork and wait (proc.h).
 */
#include "proc.h"
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a parent/child handshake over two pipes -------------------------- */

void pair_open(struct pair *p)
{
	if (pipe(p->to_child) == -1 || pipe(p->to_parent) == -1)
		die("pipe");
	p->in = p->out = -1;
}

void pair_parent(struct pair *p)
{
	close(p->to_child[0]);
	close(p->to_parent[1]);
	p->out = p->to_child[1];
	p->in = p->to_parent[0];
	/* programs the parent execs later must not hold this handshake open */
	if (fcntl(p->out, F_SETFD, FD_CLOEXEC) == -1 || fcntl(p->in, F_SETFD, FD_CLOEXEC) == -1)
		die("fcntl FD_CLOEXEC");
}

void pair_child(struct pair *p)
{
	close(p->to_child[1]);
	close(p->to_parent[0]);
	p->in = p->to_child[0];
	p->out = p->to_parent[1];
}

/* The child's ends as "R,W", for the argument list of a program it execs. */
static void pair_export(const struct pair *p, char *buf, size_t size)
{
	snprintf(buf, size, "%d,%d", p->in, p->out);
}

void pair_import(struct pair *p, const char *ends)
{
	char tail;
	p->to_child[0] = p->to_child[1] = p->to_parent[0] = p->to_parent[1] = -1;
	if (sscanf(ends, "%d,%d%c", &p->in, &p->out, &tail) != 2 || fcntl(p->in, F_GETFD) == -1 ||
	    fcntl(p->out, F_GETFD) == -1)
		die_msg("bad handshake descriptors '%s' (the lab's main program starts this one)", ends);
}

void pair_send(struct pair *p, const void *buf, size_t len)
{
	const char *b = buf;
	while (len > 0) {
		ssize_t n = write(p->out, b, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			die("handshake write");
		b += n;
		len -= (size_t)n;
	}
}

void pair_recv(struct pair *p, void *buf, size_t len)
{
	char *b = buf;
	while (len > 0) {
		ssize_t n = read(p->in, b, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			die_msg("handshake: the other process went away");
		if (n == -1)
			die("handshake read");
		b += n;
		len -= (size_t)n;
	}
}

void pair_signal(struct pair *p, char msg)
{
	pair_send(p, &msg, 1);
}

char pair_wait(struct pair *p)
{
	char msg;
	pair_recv(p, &msg, 1);
	return msg;
}

void pair_close(struct pair *p)
{
	if (p->in >= 0)
		close(p->in);
	if (p->out >= 0)
		close(p->out);
	p->in = p->out = -1;
}

/* ---- processes -------------------------------------------------------- */

pid_t fork_or_die(void)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == -1)
		die("fork");
	return pid;
}

const char *wait_child(pid_t pid)
{
	static char desc[64];
	int status;
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			die("waitpid");
	cleanup_reaped(pid);
	if (WIFEXITED(status))
		snprintf(desc, sizeof desc, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(desc, sizeof desc, "killed by %s", sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(desc, sizeof desc, "status %#x", status);
	return desc;
}

/* Full path of another program built beside this one (writer, reader). */
static void sibling_path(const char *prog, char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n == -1)
		die("readlink /proc/self/exe");
	self[n] = '\0';
	if ((size_t)snprintf(buf, size, "%s/%s", dirname(self), prog) >= size)
		die_msg("path too long");
}

pid_t spawn_sibling(const char *prog, struct pair *p, ...)
{
	char exe[PATH_MAX], ends[32];
	char *argv[16] = { (char *)prog };
	int argc = 1;
	if (p)
		argv[argc++] = ends;
	va_list ap;
	va_start(ap, p);
	for (char *a; (a = va_arg(ap, char *)) != NULL; argv[argc++] = a)
		if (argc == (int)(sizeof argv / sizeof argv[0]) - 1)
			die_msg("spawn %s: too many arguments", prog);
	va_end(ap);
	sibling_path(prog, exe, sizeof exe);
	if (p)
		pair_open(p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		if (p) {
			pair_child(p);
			pair_export(p, ends, sizeof ends);
		}
		execv(exe, argv);
		die("exec %s", exe);
	}
	if (p)
		pair_parent(p);
	cleanup_kill(pid);
	return pid;
}

/* ---- what another process is doing -------------------------------------- */

void proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, what);
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

char proc_state(pid_t pid)
{
	char line[512];
	proc_read(pid, "stat", line, sizeof line);
	char *paren = strrchr(line, ')'); /* the name may hold spaces */
	return paren && paren[1] == ' ' ? paren[2] : '?';
}
