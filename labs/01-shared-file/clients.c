/*
 * clients.c - lab 01's steps [10] and [11]: the source notes' clients
 * started before any writer, and the modes their programs create files
 * with (clients.h).  Linked into each program of the lab; only shared-file
 * calls it.
 */
#include "clients.h"
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Become uid/gid 65534 (nobody), as root only: the unprivileged side of a
 * step in a root run.  Returns false when this process was not root. */
static bool become_nobody(void)
{
	if (geteuid() != 0)
		return false;
	if (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1)
		die("drop to uid 65534");
	return true;
}

/* Step [10], the client of source note 1 started before its server: its one
 * helper opens with O_CREAT and sizes the file for every caller. */
void early_client_note1(size_t ps)
{
	char path[128];
	unique_name("early", path, sizeof path);
	errno = 0;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int err = errno;
	say("a client that opens without O_CREAT: %s", fd == -1 ? errname(err) : "opened a file nobody made");
	check(fd == -1 && err == ENOENT, "without O_CREAT an early client learns at once that no server has run: ENOENT");
	if (fd != -1)
		close(fd);

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644); /* the notes' helper */
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	if (ftruncate(fd, (off_t)ps) == -1)
		die("ftruncate");
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("mmap");
	say("source note 1's client: open(O_RDWR | O_CREAT) and ftruncate made a file of %s; it prints \"%s\"",
	    file_size(fd) == (off_t)ps ? "one page" : "another size", m);
	check(file_size(fd) == (off_t)ps && m[0] == '\0',
	      "with O_CREAT the early client silently made an empty file and printed an empty line");
	if (munmap(m, ps) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
}

/* What the note-4 reader saw, sent from the child that ran it. */
struct early_report {
	bool created;
	mode_t mode;
	off_t size;
	int read_sig;   /* what its first read of the mapping raised (0: none) */
	int reopen_err; /* 0: the owner could open it O_RDWR again */
};

/* Step [10], source note 4's reader started first: open(path, O_RDWR |
 * O_CREAT, MAP_SHARED ...) -- MAP_SHARED (1) lands where the mode goes.  Run
 * in a child, as uid 65534 when we are root, in /dev/shm (a directory any
 * user may create in: root's work directory is closed to uid 65534). */
void early_reader_note4(size_t ps)
{
	char name[128], path[160];
	unique_shm_name("mode1", name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	cleanup_unlink(path);
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		bool dropped = become_nobody();
		umask(022);
		struct early_report r;
		memset(&r, 0, sizeof r); /* padding too: the whole struct goes down the pipe */
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, MAP_SHARED); /* the notes' slip, O_EXCL ours */
		if (fd == -1)
			die("child: open %s", path);
		struct stat st;
		if (fstat(fd, &st) == -1)
			die("child: fstat");
		r.created = true;
		r.mode = st.st_mode & 07777;
		r.size = st.st_size;
		char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			die("child: mmap");
		struct probe first = probe_read(m);
		r.read_sig = first.sig;
		if (munmap(m, ps) == -1 || close(fd) == -1)
			die("child: munmap/close");
		errno = 0;
		fd = open(path, O_RDWR | O_CLOEXEC);
		r.reopen_err = fd == -1 ? errno : 0;
		if (fd != -1)
			close(fd);
		say("source note 4's reader, as an ordinary user {user=%s}: open(path, O_RDWR | O_CREAT, MAP_SHARED)",
		    dropped ? "uid 65534 in a child of this root run" : "this run's own uid");
		say("it made a file of mode %04o (MAP_SHARED is 1), %lld bytes", (unsigned)r.mode, (long long)r.size);
		say("its first read of a one-page mapping: %s", probe_str(first));
		say("its owner opens it O_RDWR again: %s", r.reopen_err ? errname(r.reopen_err) : "opened");
		pair_send(&p, &r, sizeof r);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	struct early_report r;
	pair_recv(&p, &r, sizeof r);
	const char *how = wait_child(pid);
	pair_close(&p);
	bool root = geteuid() == 0, root_opens = false;
	if (root) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		root_opens = fd != -1;
		if (fd != -1)
			close(fd);
		say("root opens it O_RDWR: {root=%s}", root_opens ? "opened (CAP_DAC_OVERRIDE)" : errname(errno));
	} else {
		say("root opens it O_RDWR: {root=not shown, this run is not root}");
	}
	check(r.read_sig == SIGBUS && r.size == 0,
	      "the early reader made a 0-byte file: its first read is SIGBUS, not an empty string");
	check(strcmp(how, "exited 0") == 0 && r.mode == 01 && r.reopen_err == EACCES && (!root || root_opens),
	      "the mode was MAP_SHARED, 1: the file's own owner cannot open it read-write (only root could)");
	if (unlink(path) == -1)
		die("unlink %s", path);
}

/* Step [10], source note 3's map_normalfile2 started before map_normalfile1:
 * it opens with O_CREAT (mode 00777), maps ten 8-byte records and prints
 * them.  In the work directory, as the lab's user, under umask 022. */
void early_reader_note3(void)
{
	struct people { char name[4]; int age; };
	size_t len = 10 * sizeof(struct people);
	char path[128];
	unique_name("normalfile", path, sizeof path);
	mode_t old = umask(022);
	int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 00777); /* the note's call */
	umask(old);
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	struct stat st;
	if (fstat(fd, &st) == -1)
		die("fstat");
	struct people *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	struct probe first = probe_read(&p[0].age);
	say("source note 3's map_normalfile2: open(O_CREAT | O_RDWR, 00777) made a file of mode %04o (umask 022), %lld bytes",
	    (unsigned)(st.st_mode & 07777), (long long)st.st_size);
	say("its first record, read through a mapping of 10: %s", probe_str(first));
	check(first.sig == SIGBUS && st.st_size == 0,
	      "started before its writer, the reader made an empty file and dies of SIGBUS, printing no record");
	if (munmap(p, len) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
}

/* Step [11]: four files in /dev/shm (any user may open a file there, root's
 * work directory is closed to uid 65534), made with the notes' modes under
 * two umasks; another user's O_RDWR open of each. */
#define CASES 4
static const mode_t asked[CASES] = { 0666, 00777, 0666, 00777 }, masks[CASES] = { 022, 022, 0, 0 };

void modes_left_to_umask(void)
{
	char paths[CASES][160];
	mode_t got[CASES];
	for (int i = 0; i < CASES; i++) {
		char name[128], what[32];
		snprintf(what, sizeof what, "mode%o-%d", (unsigned)asked[i], i);
		unique_shm_name(what, name, sizeof name);
		snprintf(paths[i], sizeof paths[i], "/dev/shm%s", name);
		mode_t old = umask(masks[i]);
		int fd = open(paths[i], O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, asked[i]);
		umask(old);
		if (fd == -1)
			die("open %s", paths[i]);
		cleanup_unlink(paths[i]);
		struct stat st;
		if (fstat(fd, &st) == -1 || close(fd) == -1)
			die("fstat/close");
		got[i] = st.st_mode & 07777;
	}
	say("umask 022: source note 0's program A (0666) makes mode %04o, source note 3's programs (00777) %04o",
	    (unsigned)got[0], (unsigned)got[1]);
	say("umask 0:   0666 makes mode %04o, 00777 makes %04o", (unsigned)got[2], (unsigned)got[3]);

	bool root = geteuid() == 0;
	int err[CASES] = { 0 };
	char other[128] = "not shown, the lab is not root";
	if (root) {
		struct pair p;
		pair_open(&p);
		pid_t pid = fork_or_die();
		if (pid == 0) {
			pair_child(&p);
			become_nobody();
			for (int i = 0; i < CASES; i++) {
				int fd = open(paths[i], O_RDWR | O_CLOEXEC);
				err[i] = fd == -1 ? errno : 0;
				if (fd != -1)
					close(fd);
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
		int n = 0;
		for (int i = 0; i < CASES; i++)
			n += snprintf(other + n, sizeof other - (size_t)n, "%s%04o %s", i ? ", " : "", (unsigned)got[i],
				      err[i] ? errname(err[i]) : "opened");
	}
	say("another user (uid 65534) opens each read-write: {other-user=%s}", other);
	bool modes = got[0] == 0644 && got[1] == 0755 && got[2] == 0666 && got[3] == 0777;
	bool others = err[0] == EACCES && err[1] == EACCES && err[2] == 0 && err[3] == 0;
	check(modes && (!root || others),
	      "the notes leave the mode to the umask: under 022 another user cannot write (EACCES), under 0 it may change the data {other-side=%s}",
	      root ? "checked" : "not shown, run the lab as root");
	for (int i = 0; i < CASES; i++)
		if (unlink(paths[i]) == -1)
			die("unlink %s", paths[i]);
}
