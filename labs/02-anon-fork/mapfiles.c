/*
 * mapfiles.c - lab 02's step [8] (mapfiles.h).  Linked into anon-fork.
 */
#include "mapfiles.h"
#include "lab.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static void send_int(struct pair *p, int v) { pair_send(p, &v, sizeof v); }
static int recv_int(struct pair *p)
{
	int v;
	pair_recv(p, &v, sizeof v);
	return v;
}

/* Become uid/gid 65534 (nobody), as root only; stay dumpable, so that a
 * process of the same uid may look at our /proc/PID (setuid clears it). */
static bool become_nobody(void)
{
	if (geteuid() != 0)
		return false;
	if (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1)
		die("drop to uid 65534");
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == -1)
		die("prctl PR_SET_DUMPABLE");
	return true;
}

#define SECRET "made by the child after fork"
#define REPLY "root was here"

/* Step [8]'s child: as an ordinary user, map a shared anonymous page after
 * fork (so no fork hands it to the parent), send its range, wait, and send
 * back what the page holds then. */
static void child_map_files(struct pair *p, size_t ps)
{
	become_nobody();
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("child: mmap");
	strcpy(m, SECRET);
	say("child: mapped a MAP_SHARED|MAP_ANONYMOUS page after fork and stored \"%s\"", m);
	uintptr_t range[2] = { (uintptr_t)m, (uintptr_t)m + ps };
	pair_send(p, range, sizeof range);
	pair_wait(p); /* the others have tried */
	char got[40] = "";
	snprintf(got, sizeof got, "%s", m);
	pair_send(p, got, sizeof got);
	_exit(0);
}

/* Open /proc/PID/map_files/START-END read-write; returns the fd or -errno. */
static int open_map_files(pid_t pid, const uintptr_t range[2])
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/map_files/%lx-%lx", (int)pid, (unsigned long)range[0],
		 (unsigned long)range[1]);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	return fd == -1 ? -errno : fd;
}

/* Step [8]: the ordinary side (the lab itself, or a child that became uid
 * 65534 in a root run) and, in a root run, root's side. */
void map_files_both_sides(size_t ps)
{
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		child_map_files(&p, ps);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	uintptr_t range[2];
	pair_recv(&p, range, sizeof range);
	bool root = geteuid() == 0;

	int user_err; /* the ordinary user's open: -errno, or an fd */
	if (root) {
		struct pair q;
		pair_open(&q);
		pid_t opener = fork_or_die();
		if (opener == 0) {
			pair_child(&q);
			become_nobody();
			int r = open_map_files(pid, range);
			send_int(&q, r);
			_exit(0);
		}
		pair_parent(&q);
		cleanup_kill(opener);
		user_err = recv_int(&q);
		wait_child(opener);
		pair_close(&q);
	} else {
		user_err = open_map_files(pid, range);
	}
	if (user_err >= 0)
		close(user_err);
	say("an ordinary user {user=%s} opens /proc/PID/map_files/<range> of it O_RDWR: %s",
	    root ? "uid 65534, the child's own uid, in another child of this root run" : "this run's own uid",
	    user_err < 0 ? errname(-user_err) : "opened");

	bool root_ok = false;
	char seen[40] = "";
	if (root) {
		int fd = open_map_files(pid, range);
		char *m = fd < 0 ? MAP_FAILED : mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			snprintf(seen, sizeof seen, "%s", m);
			strcpy(m, REPLY);
			if (munmap(m, ps) == -1)
				die("munmap");
		}
		if (fd >= 0)
			close(fd);
		pair_signal(&p, 'g');
		char got[40];
		pair_recv(&p, got, sizeof got);
		root_ok = strcmp(seen, SECRET) == 0 && strcmp(got, REPLY) == 0;
		say("root: {root=%s; mapped it MAP_SHARED, read \"%s\", stored \"%s\"; the child then read \"%s\"}",
		    fd < 0 ? errname(-fd) : "opened it", seen, REPLY, got);
	} else {
		pair_signal(&p, 'g');
		char got[40];
		pair_recv(&p, got, sizeof got);
		say("root: {root=not shown, this run is not root}");
	}
	const char *how = wait_child(pid);
	pair_close(&p);
	check(strcmp(how, "exited 0") == 0 && user_err == -EPERM && (!root || root_ok),
	      "an ordinary user gets EPERM; only with CAP_SYS_ADMIN (root) does the link open the page");
}

