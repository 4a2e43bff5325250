/*
 * common.c - implementation of common.h.  Small on purpose: read it once.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under valgrind, a deliberate probe of an unmapped address is an observation,
 * not a bug: the probe turns memcheck's error reporting off around the access. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PROBE_QUIET() VALGRIND_DISABLE_ERROR_REPORTING
#define PROBE_LOUD() VALGRIND_ENABLE_ERROR_REPORTING
#endif
#endif
#ifndef PROBE_QUIET
#define PROBE_QUIET() ((void)0)
#define PROBE_LOUD() ((void)0)
#endif

/* ---- transcript ------------------------------------------------------- */

static int steps, checks, failures;
static pid_t main_pid;
static void on_fatal_signal(int sig);

void lab_begin_as(const char *number, const char *title)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	main_pid = getpid();
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], &sa, NULL) == -1)
			die("sigaction");
	if (title == NULL)
		return;
	if (number != NULL)
		printf("# Lab %s: %s\n", number, title);
	else
		printf("# Lab: %s\n", title);
}

void step(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("\n[%d] ", ++steps);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	printf("    %s\n", line);
	fflush(stdout);
}

bool check(bool cond, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	checks++;
	if (!cond)
		failures++;
	printf("    %s: %s\n", cond ? "ok" : "NOT OK", line);
	fflush(stdout);
	return cond;
}

int lab_end(void)
{
	if (failures == 0)
		printf("\n== %d checks, all ok\n", checks);
	else
		printf("\n== %d checks, %d NOT OK\n", checks, failures);
	fflush(stdout);
	return failures == 0 ? 0 : 1;
}

/* ---- errors ----------------------------------------------------------- */

const char *errname(int err)
{
	const char *name = strerrorname_np(err);
	return name ? name : "E?";
}

static _Noreturn void fail_exit(void)
{
	fflush(stdout);
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

off_t file_size(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == -1)
		die("fstat");
	return st.st_size;
}

/* ---- the fault probe -------------------------------------------------- */

static sigjmp_buf probe_env;
static volatile sig_atomic_t probe_sig, probe_code;
static void *volatile probe_addr;

static void on_probe_fault(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	probe_sig = sig;
	probe_code = si->si_code;
	probe_addr = si->si_addr;
	siglongjmp(probe_env, 1);
}

static struct probe probe(volatile unsigned char *addr, bool write, unsigned char value)
{
	struct probe r = { 0 };
	struct sigaction sa = { .sa_sigaction = on_probe_fault, .sa_flags = SA_SIGINFO };
	struct sigaction old_bus, old_segv;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_bus) == -1 || sigaction(SIGSEGV, &sa, &old_segv) == -1)
		die("sigaction");
	probe_sig = 0;
	if (sigsetjmp(probe_env, 1) == 0) {
		PROBE_QUIET();
		if (write)
			*addr = value;
		else
			r.value = *addr;
		PROBE_LOUD();
	} else {
		PROBE_LOUD();
		r.sig = probe_sig;
		r.code = probe_code;
		r.addr_matches = probe_addr == (void *)addr;
	}
	if (sigaction(SIGBUS, &old_bus, NULL) == -1 || sigaction(SIGSEGV, &old_segv, NULL) == -1)
		die("sigaction");
	return r;
}

struct probe probe_read(const volatile void *addr)
{
	return probe((volatile unsigned char *)addr, false, 0);
}

struct probe probe_write(volatile void *addr, unsigned char value)
{
	return probe((volatile unsigned char *)addr, true, value);
}

const char *probe_str(struct probe p)
{
	if (p.sig == 0)
		return "ok";
	if (p.sig == SIGBUS)
		switch (p.code) {
		case BUS_ADRERR: return "SIGBUS (BUS_ADRERR)";
		case BUS_ADRALN: return "SIGBUS (BUS_ADRALN)";
		case BUS_OBJERR: return "SIGBUS (BUS_OBJERR)";
		default: return "SIGBUS (other si_code)";
		}
	if (p.sig == SIGSEGV)
		switch (p.code) {
		case SEGV_MAPERR: return "SIGSEGV (SEGV_MAPERR)";
		case SEGV_ACCERR: return "SIGSEGV (SEGV_ACCERR)";
		default: return "SIGSEGV (other si_code)";
		}
	return "other signal";
}

/* ---- a parent/child handshake over two pipes -------------------------- */

void pair_open(struct pair *p)
{
	if (pipe(&p->fd[0]) == -1 || pipe(&p->fd[2]) == -1)
		die("pipe");
	p->rfd = p->wfd = -1;
}

void pair_parent(struct pair *p)
{
	close(p->fd[0]);
	close(p->fd[3]);
	p->wfd = p->fd[1];
	p->rfd = p->fd[2];
	/* programs the parent execs later must not hold this handshake open */
	if (fcntl(p->wfd, F_SETFD, FD_CLOEXEC) == -1 || fcntl(p->rfd, F_SETFD, FD_CLOEXEC) == -1)
		die("fcntl FD_CLOEXEC");
}

void pair_child(struct pair *p)
{
	close(p->fd[1]);
	close(p->fd[2]);
	p->rfd = p->fd[0];
	p->wfd = p->fd[3];
}

void pair_export(const struct pair *p, char *buf, size_t size)
{
	snprintf(buf, size, "%d,%d", p->rfd, p->wfd);
}

void pair_import(struct pair *p, const char *arg)
{
	if (sscanf(arg, "%d,%d", &p->rfd, &p->wfd) != 2)
		die_msg("bad handshake descriptors '%s'", arg);
}

void pair_send(struct pair *p, const void *buf, size_t len)
{
	const char *b = buf;
	while (len > 0) {
		ssize_t n = write(p->wfd, b, len);
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
		ssize_t n = read(p->rfd, b, len);
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
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->wfd >= 0)
		close(p->wfd);
	p->rfd = p->wfd = -1;
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
	for (int i = 0; i < ntodo; i++) /* reaped: its pid may be reused, never kill it */
		if (todo[i].what == KILL && todo[i].id == pid && todo[i].owner == getpid())
			todo[i] = todo[--ntodo], i--;
	if (WIFEXITED(status))
		snprintf(desc, sizeof desc, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(desc, sizeof desc, "killed by %s", sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(desc, sizeof desc, "status %#x", status);
	return desc;
}

void sibling_path(const char *prog, char *buf, size_t size)
{
	char self[4096];
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

/* ---- names unique to this run ----------------------------------------- */

static unsigned run_random(void)
{
	static unsigned r;
	static pid_t for_pid;
	if (for_pid != getpid()) {
		if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
			die("getrandom");
		for_pid = getpid();
	}
	return r;
}

/* The harness sets MMAPLAB_RUN to a short token of its own for each run, so it
 * can tell this run's leftovers from anybody else's. */
static const char *run_token(void)
{
	const char *t = getenv("MMAPLAB_RUN");
	return t && *t && strlen(t) <= 16 && !strchr(t, '/') ? t : NULL;
}

void unique_name(const char *what, char *buf, size_t size)
{
	const char *t = run_token();
	if ((size_t)snprintf(buf, size, "mmaplab-%s%s%ld-%08x-%s", t ? t : "", t ? "-" : "",
			     (long)getpid(), run_random(), what) >= size)
		die_msg("name too long");
}

void unique_shm_name(const char *what, char *buf, size_t size)
{
	if (size < 2)
		die_msg("name too long");
	buf[0] = '/';
	unique_name(what, buf + 1, size - 1);
}

int create_file(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	if (size > 0 && ftruncate(fd, size) == -1)
		die("ftruncate %s", path);
	return fd;
}

int sysv_create(size_t size, int mode, key_t *key_out)
{
	for (int tries = 0; tries < 100; tries++) {
		key_t key;
		if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key)
			die("getrandom");
		const char *t = run_token();
		if (t) { /* the key's top 16 bits name the run (see run_token) */
			unsigned h = 0;
			while (*t)
				h = h * 31 + (unsigned char)*t++;
			key = (key_t)(((h & 0x7fffu) << 16) | ((unsigned)key & 0xffffu));
		}
		if (key == IPC_PRIVATE)
			continue;
		int id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);
		if (id == -1 && errno == EEXIST)
			continue;
		if (id == -1)
			die("shmget");
		cleanup_sysv_rmid(id);
		if (key_out)
			*key_out = key;
		return id;
	}
	die_msg("shmget: no free key after 100 tries");
}

/* ---- observing memory ------------------------------------------------- */

struct maps_entry maps_of(const void *addr)
{
	struct maps_entry m = { 0 };
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		die("open /proc/self/maps");
	char line[PATH_MAX + 128];
	uintptr_t a = (uintptr_t)addr;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		int name_at = 0;
		if (!strchr(line, '\n')) /* a very long name: skip the rest of the line */
			for (int c = 0; c != EOF && c != '\n';)
				c = getc(f);
		if (sscanf(line, "%lx-%lx %*s %*x %x:%x %lu %n", &lo, &hi, &m.dev_major, &m.dev_minor,
			   &m.inode, &name_at) < 5 || a < lo || a >= hi)
			continue;
		m.start = lo;
		m.end = hi;
		snprintf(m.name, sizeof m.name, "%s", name_at ? line + name_at : "");
		m.name[strcspn(m.name, "\n")] = '\0';
		fclose(f);
		return m;
	}
	die_msg("no line of /proc/self/maps holds the address");
}

struct smaps smaps_of(const void *addr)
{
	struct smaps s = { -1, -1, -1, -1, -1, -1 };
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		die("open /proc/self/smaps");
	char line[512];
	bool inside = false;
	uintptr_t a = (uintptr_t)addr;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		long kb;
		char key[64];
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = a >= lo && a < hi;
			continue;
		}
		if (!inside || sscanf(line, "%63[^:]: %ld kB", key, &kb) != 2)
			continue;
		if (!strcmp(key, "Rss")) s.rss = kb;
		else if (!strcmp(key, "Pss")) s.pss = kb;
		else if (!strcmp(key, "Shared_Clean")) s.shared_clean = kb;
		else if (!strcmp(key, "Shared_Dirty")) s.shared_dirty = kb;
		else if (!strcmp(key, "Private_Clean")) s.private_clean = kb;
		else if (!strcmp(key, "Private_Dirty")) s.private_dirty = kb;
	}
	fclose(f);
	if (s.rss < 0)
		die_msg("no mapping holds the address in /proc/self/smaps");
	return s;
}

double kb_to_pages(long kb)
{
	return (double)kb * 1024.0 / (double)page_size();
}

struct pagemap pagemap_of(const void *addr)
{
	struct pagemap pm = { 0 };
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open /proc/self/pagemap");
	uint64_t e;
	off_t off = (off_t)((uintptr_t)addr / page_size() * sizeof e);
	if (pread(fd, &e, sizeof e, off) != (ssize_t)sizeof e)
		die("read /proc/self/pagemap");
	close(fd);
	pm.present = e >> 63 & 1;
	pm.file_or_shared_anon = e >> 61 & 1;
	pm.exclusive = e >> 56 & 1;
	pm.pfn = pm.present ? e & ((1ULL << 55) - 1) : 0;
	return pm;
}

bool pagemap_has_pfn(void)
{
	static volatile char probe_page = 1; /* in .data: present once written */
	probe_page = 2;
	return pagemap_of((const void *)&probe_page).pfn != 0;
}

long minor_faults(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == -1) /* warm-up: its own store may fault */
		die("getrusage");
	if (getrusage(RUSAGE_SELF, &ru) == -1)
		die("getrusage");
	return ru.ru_minflt;
}

#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))
#endif
#endif
#ifndef NO_SANITIZE
#define NO_SANITIZE
#endif

NO_SANITIZE long faults_to_read(const volatile void *addr)
{
	long before = minor_faults();
	(void)*(const volatile unsigned char *)addr;
	return minor_faults() - before;
}

NO_SANITIZE long faults_to_write(volatile void *addr, unsigned char value)
{
	long before = minor_faults();
	*(volatile unsigned char *)addr = value;
	return minor_faults() - before;
}

const char *fs_type(const char *path)
{
	struct statfs st;
	if (statfs(path, &st) == -1)
		die("statfs %s", path);
	switch ((unsigned long)st.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	case 0x9123683E: return "btrfs";
	case 0x58465342: return "xfs";
	case 0x6969: return "nfs";
	case 0x65735546: return "fuse";
	default: return "other";
	}
}
