/*
 * lab.c - the transcript, the errors and the cleanup registry (lab.h).
 */
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the transcript's own output -------------------------------------- */

static _Noreturn void transcript_lost(int err);

/* A program started with descriptor 0, 1 or 2 closed would hand that number
 * to its first open(): printf would then write into a data file. */
static void std_fds_or_exit(void)
{
	static const char *const names[] = { "standard input", "standard output", "standard error" };
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1) {
			fprintf(stderr, "lab: %s (descriptor %d) is closed: run the lab with descriptors 0, 1 and 2 open\n",
				names[fd], fd);
			_exit(2);
		}
}

/* Push what was printed out to stdout; a transcript that cannot be written
 * is a failed run, not a quiet one.  saved_errno is the caller's errno from
 * before the printing (cleared for it, so a failed write() names its error):
 * printing must not change what the lab is about to check. */
static void flush_or_fail(int saved_errno)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		transcript_lost(errno);
	errno = saved_errno;
}

static _Noreturn void transcript_lost(int err)
{
	fprintf(stderr, "lab: cannot write the transcript: %s\n", errname(err ? err : EIO));
	cleanup_now();
	_exit(2);
}

/* ---- transcript ------------------------------------------------------- */

static int steps, checks, failures;
static void on_fatal_signal(int sig);

void lab_begin_as(const char *number, const char *title)
{
	std_fds_or_exit();
	setvbuf(stdout, NULL, _IOLBF, 0);
	static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
		struct sigaction sa = { .sa_handler = on_fatal_signal }, old;
		sigemptyset(&sa.sa_mask);
		if (sigaction(fatal[i], NULL, &old) == -1)
			die("sigaction");
		if (old.sa_handler != SIG_IGN && sigaction(fatal[i], &sa, NULL) == -1)
			die("sigaction");
	}
	if (title == NULL)
		return;
	int saved = errno;
	errno = 0;
	if (number != NULL)
		printf("# Lab %s: %s\n", number, title);
	else
		printf("# Lab: %s\n", title);
	flush_or_fail(saved);
}

void step(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	errno = 0;
	printf("\n[%d] ", ++steps);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	flush_or_fail(saved);
}

void say(const char *fmt, ...)
{
	int saved = errno;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	errno = 0;
	printf("    %s\n", line);
	flush_or_fail(saved);
}

bool check(bool cond, const char *fmt, ...)
{
	int saved = errno;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	checks++;
	if (!cond)
		failures++;
	errno = 0;
	printf("    %s: %s\n", cond ? "ok" : "NOT OK", line);
	flush_or_fail(saved);
	return cond;
}

int lab_end(void)
{
	int saved = errno;
	errno = 0;
	if (failures == 0)
		printf("\n== %d checks, all ok\n", checks);
	else
		printf("\n== %d checks, %d NOT OK\n", checks, failures);
	flush_or_fail(saved);
	return failures == 0 ? 0 : 1;
}

/* ---- errors ----------------------------------------------------------- */

const char *errname(int err)
{
	const char *name = strerrorname_np(err);
	return name ? name : "E?";
}

/* After the error message: the transcript so far, the cleanups, status 2. */
static _Noreturn void fail_exit(void)
{
	errno = 0;
	if (fflush(stdout) == EOF || ferror(stdout))
		transcript_lost(errno);
	cleanup_now();
	_exit(2);
}

void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	fputs("lab: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", errname(err));
	va_end(ap);
	fail_exit();
}

void die_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("lab: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fail_exit();
}

/* ---- cleanup on failure ----------------------------------------------- */

enum what { UNLINK, SHM_UNLINK, SYSV_RMID, KILL };
static struct {
	enum what what;
	pid_t owner; /* only the registering process runs it */
	int id;
	char name[128];
} todo[32];
static int ntodo;

static void remember(enum what what, int id, const char *name)
{
	if (ntodo == (int)(sizeof todo / sizeof todo[0]))
		die_msg("too many cleanup entries");
	todo[ntodo].what = what;
	todo[ntodo].owner = getpid();
	todo[ntodo].id = id;
	snprintf(todo[ntodo].name, sizeof todo[ntodo].name, "%s", name ? name : "");
	ntodo++;
}

void cleanup_unlink(const char *path) { remember(UNLINK, 0, path); }
void cleanup_shm_unlink(const char *name) { remember(SHM_UNLINK, 0, name); }
void cleanup_sysv_rmid(int shmid) { remember(SYSV_RMID, shmid, NULL); }
void cleanup_kill(pid_t pid) { remember(KILL, pid, NULL); }

void cleanup_reaped(pid_t pid)
{
	for (int i = 0; i < ntodo; i++) /* its pid may be reused: never kill it */
		if (todo[i].what == KILL && todo[i].id == pid && todo[i].owner == getpid())
			todo[i] = todo[--ntodo], i--;
}

/* Only async-signal-safe calls: it also runs from the signal handler. */
void cleanup_now(void)
{
	pid_t self = getpid();
	while (ntodo > 0) {
		ntodo--;
		if (todo[ntodo].owner != self)
			continue;
		switch (todo[ntodo].what) {
		case UNLINK:
			unlink(todo[ntodo].name);
			break;
		case SHM_UNLINK: {
			char path[160] = "/dev/shm";
			strncat(path, todo[ntodo].name, sizeof path - 9);
			unlink(path); /* what shm_unlink() does */
			break;
		}
		case SYSV_RMID:
			shmctl(todo[ntodo].id, IPC_RMID, NULL);
			break;
		case KILL:
			kill(todo[ntodo].id, SIGKILL);
			waitpid(todo[ntodo].id, NULL, 0);
			break;
		}
	}
}

static void on_fatal_signal(int sig)
{
	cleanup_now();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- sizes ------------------------------------------------------------ */

size_t page_size(void)
{
	static size_t size;
	if (size == 0) {
		long n = sysconf(_SC_PAGESIZE);
		if (n <= 0)
			die("sysconf(_SC_PAGESIZE)");
		size = (size_t)n;
	}
	return size;
}

/* MMAPLABS_SLOWNESS, read once: at least 1, at most 1000, 1 if unset or not a number. */
static double slowness(void)
{
	static double slowness;
	if (slowness == 0) {
		const char *v = getenv("MMAPLABS_SLOWNESS");
		char *end = NULL;
		double s = v ? strtod(v, &end) : 1.0;
		if (!v || end == v || *end != '\0' || !(s >= 1.0))
			s = 1.0; /* unset, not a number, or faster than the quiet machine */
		slowness = s > 1000.0 ? 1000.0 : s;
	}
	return slowness;
}

long limit_ms(long quiet_ms)
{
	return (long)(quiet_ms * slowness());
}

double limit_s(double quiet_s)
{
	return quiet_s * slowness();
}

off_t file_size(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == -1)
		die("fstat");
	return st.st_size;
}
