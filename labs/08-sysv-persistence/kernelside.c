/*
 * kernelside.c - lab 08's steps [11] to [13] (kernelside.h).  Linked into
 * each program of the lab; only sysv-persistence calls it.
 */
#include "kernelside.h"
#include "lab.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- step [11]: the segment's file ------------------------------------ */

#define REPLY "written with write()"

/* Open /proc/self/map_files/<the attach's range> read-write: fd or -errno. */
static int open_own_link(const char *at, size_t ps)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)(uintptr_t)at,
		 (unsigned long)(uintptr_t)(at + ps));
	int fd = open(path, O_RDWR | O_CLOEXEC);
	return fd == -1 ? -errno : fd;
}

/* A new one-page segment holding text, attached: its id in *id. */
static char *attached_segment(size_t ps, const char *text, int *id)
{
	*id = shmget(IPC_PRIVATE, ps, IPC_CREAT | 0600);
	if (*id == -1)
		die("shmget");
	cleanup_sysv_rmid(*id);
	char *at = shmat(*id, NULL, 0);
	if (at == (char *)-1)
		die("shmat");
	snprintf(at, ps, "%s", text);
	return at;
}

static void drop_segment(int id, char *at)
{
	if (shmdt(at) == -1 || shmctl(id, IPC_RMID, NULL) == -1)
		die("shmdt/shmctl IPC_RMID");
}

/* The ordinary user's open of its own attach's link: -errno, or 0 if it
 * opened.  In a root run, in a child that became uid 65534 (dumpable again,
 * so that EPERM is about the privilege, not about /proc access). */
static int ordinary_open(size_t ps, const char *text)
{
	bool root = geteuid() == 0;
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		if (root && (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1 ||
			     prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == -1))
			die("child: drop to uid 65534");
		int id;
		char *at = attached_segment(ps, text, &id);
		int r = open_own_link(at, ps);
		if (r >= 0)
			close(r), r = 0;
		drop_segment(id, at);
		pair_send(&p, &r, sizeof r);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	int r;
	pair_recv(&p, &r, sizeof r);
	const char *how = wait_child(pid);
	pair_close(&p);
	if (strcmp(how, "exited 0") != 0)
		die_msg("the ordinary user's child %s", how);
	return r;
}

void segment_file_both_sides(size_t ps, const char *text)
{
	bool root = geteuid() == 0;
	int user = ordinary_open(ps, text);
	say("an ordinary user {user=%s} opens /proc/self/map_files/<range> of its own attach O_RDWR: %s",
	    root ? "uid 65534, in a child of this root run" : "this run's own uid", user ? errname(-user) : "opened");
	bool root_ok = false;
	if (root) {
		int id;
		char *at = attached_segment(ps, text, &id);
		int fd = open_own_link(at, ps);
		char got[64] = "";
		ssize_t n = -1, w = -1;
		struct stat st = { 0 };
		if (fd >= 0) {
			n = pread(fd, got, strlen(text), 0);
			w = pwrite(fd, REPLY, sizeof REPLY, 0);
			if (fstat(fd, &st) == -1)
				die("fstat");
			close(fd);
		}
		root_ok = n == (ssize_t)strlen(text) && !strcmp(got, text) && w == (ssize_t)sizeof REPLY &&
			  !strcmp(at, REPLY) && st.st_size == (off_t)ps;
		say("root: {root=%s; read() gives \"%s\", write() of \"%s\" shows in the attach: %s; st_size %lld bytes}",
		    fd < 0 ? errname(-fd) : "opened it", got, REPLY, !strcmp(at, REPLY) ? "yes" : "no",
		    (long long)st.st_size);
		drop_segment(id, at);
	} else {
		say("root: {root=not shown, this run is not root}");
	}
	check(user == -EPERM && (!root || root_ok),
	      "an ordinary user reaches a segment only by attaching (the link is EPERM); root's read() and write() work on its file {root-side=%s}",
	      root ? "checked" : "not shown, run the lab as root");
}

/* ---- step [12]: limits in a private IPC namespace --------------------- */

/* Write text into a /proc/sys or /proc/self file: 0 or -errno. */
static int put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : n == -1 ? -err : -EIO;
}

static void set_or_die(const char *path, long value)
{
	char text[32];
	snprintf(text, sizeof text, "%ld", value);
	int r = put(path, text);
	if (r)
		die_msg("child: write %s: %s", path, errname(-r));
}

/* A new IPC namespace for this process: in a new user namespace (any
 * user), or, as root, on its own.  Returns how, or NULL with *err. */
static const char *new_ipc_namespace(int *err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0) {
		char map[64];
		int r = put("/proc/self/setgroups", "deny");
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		r = r ? r : put("/proc/self/uid_map", map);
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		r = r ? r : put("/proc/self/gid_map", map);
		if (r)
			die_msg("child: the new user namespace's maps: %s", errname(-r));
		return "a new user and IPC namespace";
	}
	*err = errno;
	if (uid == 0 && unshare(CLONE_NEWIPC) == 0)
		return "a new IPC namespace (root; no user namespace here)";
	return NULL;
}

struct ns_report {
	bool shown;
	int fits_err, over_err;  /* shmget of shmmax bytes, of one byte more: 0 or errno */
	int made, full_err;      /* segments in the namespace before shmget failed, and its errno */
	int kept_err, gone_err;  /* IPC_STAT after the last detach, shm_rmid_forced 0 then 1 */
};

static int stat_err(int id)
{
	struct shmid_ds ds;
	return shmctl(id, IPC_STAT, &ds) == -1 ? errno : 0;
}

static void attach_detach(int id)
{
	char *at = shmat(id, NULL, 0);
	if (at == (char *)-1 || shmdt(at) == -1)
		die("child: shmat/shmdt");
}

/* In the child, in its own namespace: everything it makes dies with it. */
static struct ns_report in_namespace(size_t ps, long max_pages, long max_segments)
{
	struct ns_report r;
	memset(&r, 0, sizeof r); /* padding too: it goes down a pipe */
	int err = 0;
	const char *how = new_ipc_namespace(&err);
	if (!how) {
		say("a private IPC namespace: {ns=not shown: unshare: %s}", errname(err));
		return r;
	}
	char shmmax[32] = "?", shmmni[32] = "?";
	int fd = open("/proc/sys/kernel/shmmax", O_RDONLY | O_CLOEXEC), fd2 = open("/proc/sys/kernel/shmmni", O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fd2 == -1 || read(fd, shmmax, sizeof shmmax - 1) <= 0 || read(fd2, shmmni, sizeof shmmni - 1) <= 0)
		die("child: read /proc/sys/kernel/shmmax, shmmni");
	close(fd), close(fd2);
	shmmax[strcspn(shmmax, "\n")] = shmmni[strcspn(shmmni, "\n")] = '\0';
	say("child: in {ns=%s}: shmmax {ns-shmmax=%s}, shmmni {ns-shmmni=%s}", how, shmmax, shmmni);

	size_t max = (size_t)max_pages * ps;
	char text[32];
	snprintf(text, sizeof text, "%zu", max);
	int set = put("/proc/sys/kernel/shmmax", text); /* a user namespace's root may since Linux 5.19 */
	if (set) {
		say("child: writing its shmmax: {ns-limits=not shown: %s}", errname(-set));
		return r;
	}
	r.shown = true;
	int id = shmget(IPC_PRIVATE, max, 0600);
	r.fits_err = id == -1 ? errno : 0;
	int over = shmget(IPC_PRIVATE, max + 1, 0600);
	r.over_err = over == -1 ? errno : 0;
	say("child: shmmax = %ld page(s): shmget(%ld page(s)) = %s, shmget(%ld page(s) + 1 byte) = %s", max_pages,
	    max_pages, r.fits_err ? errname(r.fits_err) : "a segment", max_pages, r.over_err ? errname(r.over_err) : "a segment");

	set_or_die("/proc/sys/kernel/shmmni", max_segments);
	r.made = (id != -1) + (over != -1);
	for (int i = 0; i <= max_segments && !r.full_err; i++) {
		int more = shmget(IPC_PRIVATE, ps, 0600);
		if (more == -1)
			r.full_err = errno;
		else
			r.made++, id = id == -1 ? more : id;
	}
	say("child: shmmni = %ld: shmget fails with %s when the namespace holds %d segment(s)", max_segments,
	    r.full_err ? errname(r.full_err) : "nothing", r.made);

	if (id == -1)
		die_msg("child: no segment to attach");
	attach_detach(id);
	r.kept_err = stat_err(id);
	set_or_die("/proc/sys/kernel/shm_rmid_forced", 1);
	attach_detach(id);
	r.gone_err = stat_err(id);
	say("child: after its last detach a segment is %s with shm_rmid_forced 0, %s with 1", r.kept_err ? "gone" : "still there",
	    r.gone_err ? "gone" : "still there");
	return r;
}

void private_ipc_namespace(size_t ps, long max_pages, long max_segments)
{
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		struct ns_report r = in_namespace(ps, max_pages, max_segments);
		pair_send(&p, &r, sizeof r);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	struct ns_report r;
	pair_recv(&p, &r, sizeof r);
	say("child %s (its IPC namespace, and every segment in it, ends with it)", wait_child(pid));
	pair_close(&p);
	if (!r.shown)
		return;
	check(r.fits_err == 0 && r.over_err == EINVAL, "shmmax is the largest size of one segment: one byte more is EINVAL");
	check(r.made == max_segments && r.full_err == ENOSPC,
	      "shmmni is the number of segments: one more than that is ENOSPC");
	check(r.kept_err == 0 && r.gone_err == EINVAL,
	      "shm_rmid_forced 1 destroys a segment at its last detach; with 0, the default, it stays");
}

/* ---- step [13]: who may attach --------------------------------------- */

void who_may_attach(size_t ps)
{
	static const mode_t modes[2] = { 0600, 0666 };
	int ids[2];
	mode_t got[2];
	mode_t old = umask(022); /* a file made with 0666 now would be 0644 */
	for (int i = 0; i < 2; i++) {
		ids[i] = shmget(IPC_PRIVATE, ps, IPC_CREAT | modes[i]);
		if (ids[i] == -1)
			die("shmget");
		cleanup_sysv_rmid(ids[i]);
		struct shmid_ds ds;
		if (shmctl(ids[i], IPC_STAT, &ds) == -1)
			die("shmctl IPC_STAT");
		got[i] = ds.shm_perm.mode & 0777;
	}
	umask(old);
	say("under umask 022, shmget with 0600 and with 0666 (ShareMem_2's): IPC_STAT modes %04o and %04o",
	    (unsigned)got[0], (unsigned)got[1]);
	bool root = geteuid() == 0;
	int err[2] = { 0, 0 };
	char other[96] = "not shown, the lab is not root";
	if (root) {
		struct pair p;
		pair_open(&p);
		pid_t pid = fork_or_die();
		if (pid == 0) {
			pair_child(&p);
			if (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1)
				die("child: drop to uid 65534");
			for (int i = 0; i < 2; i++) {
				char *at = shmat(ids[i], NULL, 0);
				err[i] = at == (char *)-1 ? errno : 0;
				if (at != (char *)-1 && (snprintf(at, ps, "uid 65534 was here") < 0 || shmdt(at) == -1))
					die("child: write/shmdt");
			}
			pair_send(&p, err, sizeof err);
			_exit(0);
		}
		pair_parent(&p);
		cleanup_kill(pid);
		pair_recv(&p, err, sizeof err);
		const char *how = wait_child(pid);
		pair_close(&p);
		if (strcmp(how, "exited 0") != 0)
			die_msg("the other user's child %s", how);
		snprintf(other, sizeof other, "0600: %s; 0666: %s", err[0] ? errname(err[0]) : "attached, wrote",
			 err[1] ? errname(err[1]) : "attached, wrote");
	}
	say("another user (uid 65534) attaches each and writes: {other-user=%s}", other);
	check(got[0] == 0600 && got[1] == 0666 && (!root || (err[0] == EACCES && err[1] == 0)),
	      "the mode is checked at shmat, and no umask filters it: 0666 lets every user write the segment {other-side=%s}",
	      root ? "checked" : "not shown, run the lab as root");
	for (int i = 0; i < 2; i++)
		if (shmctl(ids[i], IPC_RMID, NULL) == -1)
			die("shmctl IPC_RMID");
}
