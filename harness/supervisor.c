/* supervisor: what runs a program inside every run of runner.run, at every level.
 *
 *     supervisor KEY=VALUE... -- PROGRAM ARGS...
 *
 * runner.py builds it (cc, once per version of this file, into the build
 * folder) and passes it runner.run's settings as KEY=VALUE arguments (see
 * parse_settings).  The supervisor starts the program in a session and
 * process group of its own with stdin on /dev/null (in a sandbox: under
 * RLIMIT_CPU/AS/FSIZE/NPROC, no core files and, as root, the run's own uid;
 * the supervisor itself then runs at nice -20, the program at the nice value
 * it was given), kills its group at the time limit, then every process it left (PID
 * namespace, or the supervisor as child subreaper), removes the System V
 * objects, /dev/shm names and /tmp entries the run left, and writes one JSON
 * line, ending in the run's nonce, to the report pipe: {"returncode",
 * "timed_out", "leftovers", "seconds"} (or "grader_error", or "cancelled"
 * after a SIGTERM from the caller).  runner.py documents what counts as the
 * run's.
 *
 * It is started for every run (about 300 times in `make test`): in C it
 * costs about a millisecond of CPU where a Python supervisor cost twelve.  It
 * is all there is of the harness inside a bwrap sandbox.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME_PREFIX "mmaplab-r"   /* "mmaplab-rKKKK-...": a run's /dev/shm and /tmp names */

static struct {
	double timeout, slowness;
	bool rlimits, drop, pidns, ipcns, private_tmp, by_token;
	long long cpu, as, fsize, nproc;
	long uid;
	const char *token, *token_locks;
	long key_k, uid_lo, uid_hi;
	const char **keep;
	int nkeep;
	int affinity[1024], naffinity;
	int fd;
} cfg = { .uid = -1, .fd = -1 };

/* As root the supervisor runs at nice -20 and the program at the nice value
 * the supervisor was started with (see main). */
static bool reniced;
static int program_nice;

/* ---- small helpers ------------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fputs("supervisor: out of memory\n", stderr);
		_exit(70);
	}
	return q;
}

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		fputs("supervisor: out of memory\n", stderr);
		_exit(70);
	}
	va_end(ap);
	return s;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* runner.seconds with the caller's measure of this machine (no probe of our own). */
static double seconds(double quiet_machine_seconds)
{
	return quiet_machine_seconds * cfg.slowness;
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static bool lexists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "EINVAL";
}

/* ---- a growing string and list --------------------------------------------------- */

struct buf { char *s; size_t len, cap; };

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

struct list { char **v; int n; };

static void add(struct list *l, char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = s;
}

static void free_list(struct list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct list){ 0 };
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A JSON string of a file name's bytes, ASCII only: UTF-8 decoded, and a byte
 * that is not part of a valid UTF-8 sequence as its lone surrogate \udcXX (what
 * Python's surrogateescape and json.dumps make of it). */
static void json_string(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char tmp[16];
	put(b, "\"", 1);
	while (*p) {
		unsigned c = p[0];
		int n = 0;
		unsigned cp = 0;
		if (c < 0x80) {
			n = 1, cp = c;
		} else if (c >= 0xC2 && c <= 0xDF && (p[1] & 0xC0) == 0x80) {
			n = 2, cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
		} else if (c >= 0xE0 && c <= 0xEF && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
			cp = ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
			n = (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ? 3 : 0;
		} else if (c >= 0xF0 && c <= 0xF4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80
			   && (p[3] & 0xC0) == 0x80) {
			cp = ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
			n = (cp >= 0x10000 && cp <= 0x10FFFF) ? 4 : 0;
		}
		if (n == 0) {                       /* not valid UTF-8 here: this byte alone */
			snprintf(tmp, sizeof tmp, "\\u%04x", 0xDC00 + c);
			puts_(b, tmp);
			p++;
			continue;
		}
		p += n;
		if (cp == '"' || cp == '\\') {
			tmp[0] = '\\', tmp[1] = (char)cp, tmp[2] = '\0';
			puts_(b, tmp);
		} else if (cp >= 0x20 && cp < 0x7F) {
			tmp[0] = (char)cp, tmp[1] = '\0';
			puts_(b, tmp);
		} else if (cp > 0xFFFF) {
			cp -= 0x10000;
			snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
			puts_(b, tmp);
		} else {
			snprintf(tmp, sizeof tmp, "\\u%04x", cp);
			puts_(b, tmp);
		}
	}
	put(b, "\"", 1);
}

/* ---- the report ------------------------------------------------------------------- */

static const char *nonce = "";

/* One JSON line to the report pipe: returncode, timed_out, leftovers, then the
 * one extra field given (a ready JSON "key": value, or NULL), then the nonce. */
static void send(int rc, bool timed_out, struct list *leftovers, const char *extra)
{
	struct buf b = { 0 };
	char num[64];
	snprintf(num, sizeof num, "\n{\"returncode\": %d, \"timed_out\": %s, \"leftovers\": [", rc,
		 timed_out ? "true" : "false");
	puts_(&b, num);
	for (int i = 0; leftovers && i < leftovers->n; i++) {
		if (i)
			puts_(&b, ", ");
		json_string(&b, leftovers->v[i]);
	}
	puts_(&b, "]");
	if (extra) {
		puts_(&b, ", ");
		puts_(&b, extra);
	}
	puts_(&b, ", \"nonce\": ");
	json_string(&b, nonce);
	puts_(&b, "}\n");
	for (size_t off = 0; off < b.len;) {
		ssize_t w = write(cfg.fd, b.s + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(cfg.fd);
	free(b.s);
}

/* The report of a run the grader's side could not start: "grader_error", the
 * message printf-formatted. */
static void send_grader_error(const char *fmt, ...)
{
	struct buf b = { 0 };
	char *text;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	puts_(&b, "\"grader_error\": ");
	json_string(&b, text ? text : "out of memory");
	send(127, false, NULL, b.s);
	free(text);
	free(b.s);
}

/* ---- what is left ------------------------------------------------------------------ */

struct proc { int pid, ppid; char state; };

/* The processes visible here: pid, parent, state. */
static int procs(struct proc **out)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	struct proc *v = NULL;
	int n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[300], text[1024];
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, text, sizeof text - 1);
		close(fd);
		if (r <= 0)
			continue;
		text[r] = '\0';
		char *close_paren = strrchr(text, ')');
		char state;
		int ppid;
		if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
			continue;
		v = xrealloc(v, (n + 1) * sizeof *v);
		v[n++] = (struct proc){ atoi(e->d_name), ppid, state };
	}
	closedir(d);
	*out = v;
	return n;
}

/* The processes other than the supervisor (and the namespace's init), zombies
 * included: /proc is listed before each process's state is read, so a process
 * listed alive may have forked and exited by the time its state is read (a
 * zombie now), and its child, born after the listing, is not in it.  Only a
 * listing without a single descendant, live or zombie, says that none is left. */
static int strays(struct proc **out)
{
	struct proc *ps = NULL;
	int n = procs(&ps), k = 0, me = getpid();
	struct proc *v = xrealloc(NULL, (n + 1) * sizeof *v);
	if (cfg.pidns) {
		for (int i = 0; i < n; i++)
			if (ps[i].pid != 1 && ps[i].pid != me)
				v[k++] = ps[i];
	} else {             /* descendants: orphans come to us (subreaper) */
		bool *kid = calloc(n ? n : 1, sizeof *kid);
		int *todo = xrealloc(NULL, (n + 1) * sizeof *todo), t = 0;
		if (!kid)
			_exit(70);
		todo[t++] = me;
		while (t) {
			int parent = todo[--t];
			for (int i = 0; i < n; i++)
				if (ps[i].ppid == parent && !kid[i]) {
					kid[i] = true;
					todo[t++] = ps[i].pid;
				}
		}
		for (int i = 0; i < n; i++)
			if (kid[i])
				v[k++] = ps[i];
		free(kid);
		free(todo);
	}
	free(ps);
	*out = v;
	return k;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Kill every stray until none is left (a fork bomb refills as it is killed:
 * give it time to run dry); how many there were. */
static int kill_strays(void)
{
	int *seen = NULL, nseen = 0;
	double end = now() + seconds(5);
	while (now() < end) {
		struct proc *left = NULL;
		int n = strays(&left);
		if (!n) {
			free(left);
			break;
		}
		for (int i = 0; i < n; i++) {
			bool known = left[i].state == 'Z';      /* ended by itself: not a stray */
			for (int j = 0; j < nseen && !known; j++)
				known = seen[j] == left[i].pid;
			if (!known) {
				seen = xrealloc(seen, (nseen + 1) * sizeof *seen);
				seen[nseen++] = left[i].pid;
			}
		}
		if (cfg.pidns)
			kill(-1, SIGKILL);
		for (int i = 0; i < n; i++)
			if (left[i].state != 'Z')
				kill(left[i].pid, SIGKILL);   /* one we may not kill stays a stray: it is reported */
		free(left);
		reap();
		nap(0.01);
	}
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)   /* nothing is left alive to fork */
		;
	free(seen);
	return nseen;
}

/* ---- System V objects --------------------------------------------------------------- */

enum { MSG, SEM, SHM };              /* sorted by name, as the leftovers are */
static const char *const KINDS[] = { "msg", "sem", "shm" };
static const char *const KIND_WORDS[] = { "message queue", "semaphore set", "segment" };

struct ipc { int kind; long id; long long key, cuid, uid, nattch, cpid; };

static int cmp_ipc(const void *a, const void *b)
{
	const struct ipc *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return (x->id > y->id) - (x->id < y->id);
}

/* The objects in /proc/sysvipc/{msg,sem,shm}, sorted by kind and id. */
static int sysv(struct ipc **out)
{
	struct ipc *v = NULL;
	int n = 0;
	for (int kind = 0; kind < 3; kind++) {
		char path[64], *line = NULL;
		size_t cap = 0;
		int col[5] = { -1, -1, -1, -1, -1 };   /* key cuid uid nattch cpid */
		static const char *const names[] = { "key", "cuid", "uid", "nattch", "cpid" };
		snprintf(path, sizeof path, "/proc/sysvipc/%s", KINDS[kind]);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		if (getline(&line, &cap, f) > 0) {
			int i = 0;
			for (char *save, *w = strtok_r(line, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save), i++)
				for (int c = 0; c < 5; c++)
					if (!strcmp(w, names[c]))
						col[c] = i;
			while (col[0] >= 0 && getline(&line, &cap, f) > 0) {
				long long val[64];
				int m = 0;
				for (char *save, *w = strtok_r(line, " \t\n", &save); w && m < 64;
				     w = strtok_r(NULL, " \t\n", &save))
					val[m++] = strtoll(w, NULL, 10);
				if (m < 2)
					continue;
				struct ipc o = { kind, (long)val[1], 0, -1, -1, 1, 1 };
				long long *dst[5] = { &o.key, &o.cuid, &o.uid, &o.nattch, &o.cpid };
				for (int c = 0; c < 5; c++)
					if (col[c] >= 0 && col[c] < m)
						*dst[c] = val[col[c]];
				v = xrealloc(v, (n + 1) * sizeof *v);
				v[n++] = o;
			}
		}
		free(line);
		fclose(f);
	}
	if (n)
		qsort(v, n, sizeof *v, cmp_ipc);
	*out = v;
	return n;
}

/* IPC_RMID, as ipcrm does (errors ignored: it may be gone already). */
static void sysv_remove(const struct ipc *o)
{
	if (o->kind == SHM)
		shmctl((int)o->id, IPC_RMID, NULL);
	else if (o->kind == SEM)
		semctl((int)o->id, 0, IPC_RMID);
	else
		msgctl((int)o->id, IPC_RMID, NULL);
}

static bool proc_exists(long long pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%lld", pid);
	return exists(path);
}

/* At attribute "token": keyed with the run's K, or (a segment) private,
 * unattached and made by a process that is gone, not by a sandbox's uid (a
 * graded program's, at the rlimits level beside us, as root). */
static bool sysv_ours(const struct ipc *o)
{
	unsigned long long key = (unsigned long long)o->key & 0xFFFFFFFFu;
	if (key)
		return (long)((key >> 16) & 0x7FFF) == cfg.key_k;
	if (cfg.uid_lo <= o->cuid && o->cuid < cfg.uid_hi && o->cuid != (long long)getuid())
		return false;
	return o->kind == SHM && o->nattch == 0 && !proc_exists(o->cpid);
}

/* True if run token K (not ours) is held by a run on this machine now (its
 * flock in the token lock folder, runner._Token): what carries it is that run's. */
static bool token_held_by_another(long k)
{
	char path[4096];
	if (k == cfg.key_k || k < 1 || k > 0x7FFF || !cfg.token_locks)
		return false;
	snprintf(path, sizeof path, "%s/r%04lx", cfg.token_locks, k);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	bool held = flock(fd, LOCK_SH | LOCK_NB) != 0;
	close(fd);
	return held;
}

/* At attribute "new" where the host's System V objects are seen (the rlimits
 * level): the student's uid made or owns it.  Where that uid is not the
 * student's alone (an ordinary user's grader: its plain runs, another test's,
 * share it), also not keyed with another live run's token and not a segment
 * whose creator still runs (the student's processes are all gone by now). */
static bool sysv_new_ours(const struct ipc *o, long long student_uid, bool shared_uid)
{
	if (student_uid != o->uid && student_uid != o->cuid)
		return false;
	if (!shared_uid)
		return true;
	unsigned long long key = (unsigned long long)o->key & 0xFFFFFFFFu;
	if (key && !(key >> 31) && token_held_by_another((long)((key >> 16) & 0x7FFF)))
		return false;
	return !(o->kind == SHM && proc_exists(o->cpid));
}

/* A /dev/shm or /tmp name "mmaplab-rKKKK-..." of another live run. */
static bool name_of_another_run(const char *name)
{
	size_t p = strlen(NAME_PREFIX);
	if (strncmp(name, NAME_PREFIX, p) != 0 || strlen(name) < p + 5 || name[p + 4] != '-')
		return false;
	for (size_t i = p; i < p + 4; i++)
		if (!strchr("0123456789abcdef", name[i]) || !name[i])
			return false;
	return token_held_by_another(strtol((char[]){ name[p], name[p + 1], name[p + 2], name[p + 3], 0 }, NULL, 16));
}

/* ---- /dev/shm and /tmp ---------------------------------------------------------------- */

/* The names in folder d (owned by uid, when uid >= 0; starting with prefix, when
 * given), sorted. */
static struct list entries(const char *d, long long uid, const char *prefix)
{
	struct list l = { 0 };
	DIR *dir = opendir(d);
	struct dirent *e;
	if (!dir)
		return l;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (prefix && strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		if (uid >= 0) {
			struct stat st;
			if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || st.st_uid != (uid_t)uid)
				continue;
		}
		add(&l, strdup(e->d_name));
	}
	closedir(dir);
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, cmp_str);
	return l;
}

static bool listed(const struct list *l, const char *s)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Remove a name left behind: a folder (not a link to one) with all in it. */
static void remove_path(const char *path)
{
	struct stat st, lst;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && lstat(path, &lst) == 0 && !S_ISLNK(lst.st_mode))
		nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		unlink(path);
}

static long long overflow_uid(void)
{
	FILE *f = fopen("/proc/sys/kernel/overflowuid", "re");
	long long v = 65534;
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = 65534;
		fclose(f);
	}
	return v;
}

/* ---- the program -------------------------------------------------------------------------- */

/* Fork and exec the program: a session of its own, stdin on /dev/null, only fds
 * 0-2, default signal dispositions, and in a sandbox the run's limits and uid.
 * Returns its pid; -1 with *why "setup" (its limits or uid could not be set) or
 * "exec"/"fork" and *err the errno. */
static pid_t start(char **argv, const char **why, int *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC)) {            /* close-on-exec: EOF tells the exec worked */
		*why = "fork", *err = errno;
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*why = "fork", *err = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		int report[2];
		sigset_t none;
		sigemptyset(&none);
		report[0] = 0;                          /* the stage */
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (setsid() < 0)
			goto fail;
		if (reniced && setpriority(PRIO_PROCESS, 0, program_nice))   /* never the supervisor's -20 */
			goto fail;
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0)
			goto fail;
		for (int fd = 3; fd < pipefd[1]; fd++)
			close(fd);
		if (syscall(SYS_close_range, pipefd[1] + 1, ~0U, 0) != 0) {
			long max = sysconf(_SC_OPEN_MAX);
			for (long fd = pipefd[1] + 1; fd < (max > 0 ? max : 1 << 20); fd++)
				close((int)fd);
		}
		if (cfg.rlimits) {
			umask(022);
			if (cfg.naffinity) {
				cpu_set_t set;
				CPU_ZERO(&set);
				for (int i = 0; i < cfg.naffinity; i++)
					CPU_SET(cfg.affinity[i], &set);
				if (sched_setaffinity(0, sizeof set, &set))
					goto fail;
			}
			struct { int res; long long v, hard; } lim[] = {
				{ RLIMIT_CPU, cfg.cpu, cfg.cpu + 1 }, { RLIMIT_AS, cfg.as, cfg.as },
				{ RLIMIT_FSIZE, cfg.fsize, cfg.fsize }, { RLIMIT_NPROC, cfg.nproc, cfg.nproc },
				{ RLIMIT_CORE, 0, 0 },
			};
			for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
				struct rlimit rl = { (rlim_t)lim[i].v, (rlim_t)lim[i].hard };
				if ((lim[i].v || lim[i].res == RLIMIT_CORE) && setrlimit(lim[i].res, &rl))
					goto fail;
			}
			if (cfg.drop && (setgroups(0, NULL) || setresgid((gid_t)cfg.uid, (gid_t)cfg.uid, (gid_t)cfg.uid)
					 || setresuid((uid_t)cfg.uid, (uid_t)cfg.uid, (uid_t)cfg.uid)))
				goto fail;
		}
		report[0] = 1;
		execvp(argv[0], argv);
fail:
		report[1] = errno ? errno : EINVAL;
		{
			char msg[32];
			int n = snprintf(msg, sizeof msg, "%s %d", report[0] ? "exec" : "setup", report[1]);
			if (write(pipefd[1], msg, (size_t)n) < 0)
				_exit(127);
		}
		_exit(127);
	}
	close(pipefd[1]);
	char msg[64];
	ssize_t n, got = 0;
	while ((n = read(pipefd[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			got += n;
	close(pipefd[0]);
	msg[got] = '\0';
	if (got) {
		char stage[16];
		int code = EINVAL;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (sscanf(msg, "%15s %d", stage, &code) != 2)
			strcpy(stage, "setup");
		*why = strcmp(stage, "exec") ? "setup" : "exec";
		*err = code;
		return -1;
	}
	return pid;
}

static int exitcode(int status)
{
	return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

/* The program's exit status (runner's returncode: -signal if killed) in *rc:
 * 0; or 1 at the time limit (the program still runs); or 2 when SIGTERM came
 * (sigfd readable: the caller gives the run up). */
static int wait_program(pid_t pid, double timeout, int sigfd, int *rc)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	double end = now() + timeout;
	for (;;) {
		double left = end - now();
		struct pollfd fds[2] = { { sigfd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		int ms = left <= 0 ? 0 : (int)(left * 1000 + 0.999);
		if (pidfd < 0 && ms > 2)          /* before Linux 5.3: poll waitpid */
			ms = 2;
		int r = poll(fds, pidfd < 0 ? 1 : 2, ms < 1 && left > 0 ? 1 : ms);
		if (r > 0 && (fds[0].revents & POLLIN)) {
			if (pidfd >= 0)
				close(pidfd);
			return 2;
		}
		int status;
		pid_t done = waitpid(pid, &status, WNOHANG);
		if (done == pid) {
			if (pidfd >= 0)
				close(pidfd);
			*rc = exitcode(status);
			return 0;
		}
		if (now() >= end) {
			if (pidfd >= 0)
				close(pidfd);
			return 1;
		}
	}
}

static long long number(const char *key, const char *v)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end) {
		fprintf(stderr, "supervisor: %s=%s: not a number\n", key, v);
		exit(2);
	}
	return n;
}

static bool flag(const char *key, const char *v)
{
	if (strcmp(v, "0") && strcmp(v, "1")) {
		fprintf(stderr, "supervisor: %s=%s: 0 or 1\n", key, v);
		exit(2);
	}
	return *v == '1';
}

/* runner.run's settings, one KEY=VALUE argument each (keep= again for each path). */
static void parse_settings(char **args, int n)
{
	for (int i = 0; i < n; i++) {
		char *eq = strchr(args[i], '=');
		if (!eq) {
			fprintf(stderr, "supervisor: %s: not KEY=VALUE\n", args[i]);
			exit(2);
		}
		*eq = '\0';
		const char *k = args[i], *v = eq + 1;
		if (!strcmp(k, "timeout"))
			cfg.timeout = strtod(v, NULL);
		else if (!strcmp(k, "slowness"))
			cfg.slowness = strtod(v, NULL);
		else if (!strcmp(k, "rlimits"))
			cfg.rlimits = flag(k, v);
		else if (!strcmp(k, "drop"))
			cfg.drop = flag(k, v);
		else if (!strcmp(k, "pidns"))
			cfg.pidns = flag(k, v);
		else if (!strcmp(k, "ipcns"))
			cfg.ipcns = flag(k, v);
		else if (!strcmp(k, "private_tmp"))
			cfg.private_tmp = flag(k, v);
		else if (!strcmp(k, "attribute"))
			cfg.by_token = !strcmp(v, "token");
		else if (!strcmp(k, "cpu"))
			cfg.cpu = number(k, v);
		else if (!strcmp(k, "as"))
			cfg.as = number(k, v);
		else if (!strcmp(k, "fsize"))
			cfg.fsize = number(k, v);
		else if (!strcmp(k, "nproc"))
			cfg.nproc = number(k, v);
		else if (!strcmp(k, "uid"))
			cfg.uid = (long)number(k, v);
		else if (!strcmp(k, "token"))
			cfg.token = v;
		else if (!strcmp(k, "key_k"))
			cfg.key_k = (long)number(k, v);
		else if (!strcmp(k, "token_locks"))
			cfg.token_locks = v;
		else if (!strcmp(k, "uid_lo"))
			cfg.uid_lo = (long)number(k, v);
		else if (!strcmp(k, "uid_hi"))
			cfg.uid_hi = (long)number(k, v);
		else if (!strcmp(k, "fd"))
			cfg.fd = (int)number(k, v);
		else if (!strcmp(k, "keep")) {
			cfg.keep = xrealloc(cfg.keep, (cfg.nkeep + 1) * sizeof *cfg.keep);
			cfg.keep[cfg.nkeep++] = v;
		} else if (!strcmp(k, "cpu_on")) {
			if (cfg.naffinity == (int)(sizeof cfg.affinity / sizeof cfg.affinity[0])) {
				fputs("supervisor: too many cpu_on=\n", stderr);
				exit(2);
			}
			cfg.affinity[cfg.naffinity++] = (int)number(k, v);
		} else {
			fprintf(stderr, "supervisor: unknown setting %s\n", k);
			exit(2);
		}
	}
	if (cfg.fd < 0 || !cfg.token || cfg.slowness <= 0) {
		fputs("supervisor: fd=, token= and slowness= are needed\n", stderr);
		exit(2);
	}
}

static bool kept(const char *path)
{
	for (int i = 0; i < cfg.nkeep; i++)
		if (!strcmp(cfg.keep[i], path))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int dash = 1;
	while (dash < argc && strcmp(argv[dash], "--"))
		dash++;
	if (dash >= argc - 1) {
		fputs("usage: supervisor KEY=VALUE... -- PROGRAM [ARGS...]  (runner.run starts it)\n", stderr);
		return 1;
	}
	parse_settings(argv + 1, dash - 1);
	char **program = argv + dash + 1;
	fcntl(cfg.fd, F_SETFD, FD_CLOEXEC);
	const char *n = getenv("MMAPLAB_REPORT_NONCE");
	nonce = n ? strdup(n) : "";
	unsetenv("MMAPLAB_REPORT_NONCE");
	long long student_uid = cfg.drop ? cfg.uid : (long long)getuid();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);       /* the student cannot ptrace us */
	if (!cfg.pidns)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);                  /* a caller gone: its report write fails, no more */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);       /* SIGTERM from the caller: read in wait_program */
	int sigfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		perror("supervisor: signalfd");
		return 70;
	}

	/* What was there before (at "token", only to keep the IPC_PRIVATE rule to this
	 * run).  A private /dev/shm (bwrap) holds nothing but the folders on the way
	 * to the run's own (TMPDIR on /dev/shm): they are in `before` and in `keep`,
	 * never swept. */
	struct ipc *ipc_before = NULL;
	int nipc_before = cfg.ipcns ? 0 : sysv(&ipc_before);
	long long shm_uid = -1, tmp_uid = -1;
	char *prefix = NULL;
	struct list shm_before = { 0 }, tmp_before = { 0 };
	if (cfg.by_token) {     /* names with the run's token; the host's /dev/shm and /tmp are shared */
		prefix = xasprintf("mmaplab-%s-", cfg.token);
	} else {                /* everything new (owned by the student, where the host's are shared) */
		shm_uid = cfg.private_tmp ? -1 : student_uid;
		tmp_uid = student_uid;
		shm_before = entries("/dev/shm", -1, NULL);
		tmp_before = entries("/tmp", -1, NULL);
	}

	/* As root (the program then runs as a uid of its own): the supervisor's
	 * priority is the highest, so a program keeping every CPU its run's control
	 * group may use busy (a fork bomb under the run's 1-CPU quota: the supervisor
	 * is in that group too) cannot hold back its own kill at the time limit.
	 * Fork bombs with a 0.5 s limit (bwrap, as root) ended 0.62-0.87 s after
	 * they started (median 0.68 s, 20 runs), with this 0.53-0.73 s (median
	 * 0.56 s, 30 runs).  Without CAP_SYS_NICE everything stays as it was. */
	if (cfg.drop) {
		errno = 0;
		int was = getpriority(PRIO_PROCESS, 0);
		if (errno == 0 && was > -20 && setpriority(PRIO_PROCESS, 0, -20) == 0)
			reniced = true, program_nice = was;
	}
	double began = now();
	const char *why = NULL;
	int err = 0, rc = 0, status = 0;
	pid_t pid = start(program, &why, &err);
	if (pid < 0) {
		if (!strcmp(why, "setup")) {
			send_grader_error("cannot set the program's limits or uid: %s", errname(err));
		} else if (err == EAGAIN || err == ENOMEM) {   /* the machine's resources, not the program */
			send_grader_error("cannot start %s: %s (no resources)", program[0], errname(err));
		} else {
			fprintf(stderr, "sandbox: cannot run %s: [Errno %d] %s\n", program[0], err, strerror(err));
			send(127, false, NULL, NULL);
			status = 127;
		}
		goto done;
	}
	bool timed_out = false;
	int how = wait_program(pid, cfg.timeout, sigfd, &rc);
	if (how == 2) {                            /* the caller gives the run up */
		killpg(pid, SIGKILL);
		kill_strays();
		send(-SIGKILL, false, NULL, "\"cancelled\": true");
		goto done;
	}
	if (how == 1) {
		int ws;
		timed_out = true;
		killpg(pid, SIGKILL);
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		rc = exitcode(ws);
	}
	double used = now() - began;
	/* SIGTERM stays blocked: the clean-up below runs to its end */
	struct list leftovers = { 0 };
	int killed = kill_strays();
	if (killed && !timed_out)
		add(&leftovers, xasprintf("%d process(es) still running after the program ended (killed)", killed));

	/* At the rlimits level (the host's IPC namespace) only what the student's uid
	 * made or owns is the run's: as root that uid is the sandbox's own (lease());
	 * as an ordinary user it is also ours, so objects of other live runs (their
	 * token) are left to them. */
	struct ipc *ipc_now = NULL;
	int nipc = sysv(&ipc_now);
	bool shared_ipc = !cfg.by_token && !cfg.ipcns;
	bool shared_uid = !cfg.drop;
	for (int i = 0; i < nipc; i++) {
		const struct ipc *o = &ipc_now[i];
		bool before = false;
		for (int j = 0; j < nipc_before && !before; j++)
			before = ipc_before[j].kind == o->kind && ipc_before[j].id == o->id;
		if (before)
			continue;
		if (cfg.by_token && !sysv_ours(o))
			continue;
		if (shared_ipc && !sysv_new_ours(o, student_uid, shared_uid))
			continue;
		add(&leftovers, xasprintf("System V %s %ld left behind (removed; the lab forgot IPC_RMID)",
					  KIND_WORDS[o->kind], o->id));
		sysv_remove(o);
	}

	/* In a user namespace the files of unmapped users (root's) show as the
	 * overflow uid: when that is also the student's uid (a grader running as
	 * nobody), only what the supervisor could remove was the program's. */
	bool ambiguous = cfg.pidns && !cfg.drop && student_uid == overflow_uid();
	struct { const char *dir; long long uid; struct list *before; const char *what; bool skip; } places[] = {
		{ "/dev/shm", shm_uid, &shm_before, "left behind (removed; the lab forgot shm_unlink)", false },
		{ "/tmp", tmp_uid, &tmp_before, "written outside the work directory (removed)", cfg.private_tmp },
	};
	for (size_t p = 0; p < 2; p++) {
		if (places[p].skip)
			continue;
		struct list names = entries(places[p].dir, places[p].uid, prefix);
		for (int i = 0; i < names.n; i++) {
			const char *name = names.v[i];
			char *path = xasprintf("%s/%s", places[p].dir, name);
			if (listed(places[p].before, name) || kept(path)
			    || (!cfg.by_token && shared_uid && name_of_another_run(name))) {
				free(path);  /* kept, or a plain run's name beside a sandbox sharing its uid */
				continue;
			}
			remove_path(path);
			if (!(ambiguous && lexists(path)))
				add(&leftovers, xasprintf("%s %s", path, places[p].what));
			free(path);
		}
		free_list(&names);
	}
	char extra[64];
	snprintf(extra, sizeof extra, "\"seconds\": %.4f", used);
	send(rc, timed_out, &leftovers, extra);
	free_list(&leftovers);
	free(ipc_now);
done:
	free_list(&shm_before);
	free_list(&tmp_before);
	free(ipc_before);
	free(prefix);
	return status;
}
