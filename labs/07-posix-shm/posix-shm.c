/*
 * posix-shm - POSIX shared memory between two programs that never met.
 *
 * Usage: posix-shm            (run by `make lab-7`; it execs ./shm-writer
 *                              and ./shm-reader)
 *
 * Story: /dev/shm is a tmpfs.  shm-writer creates an object there
 * (shm_open + ftruncate + mmap), writes, and exits without shm_unlink.  The
 * object is still there afterwards: a one-page regular file, mode 0600, its
 * page still in memory.  shm-reader, started later, finds it by name and
 * reads the text.  Another user is kept out by the mode (shown when the lab
 * runs as root and can become uid 65534).  shm_unlink removes the name; the
 * memory stays while someone still maps it, and a new object under the same
 * name starts empty.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define OTHER_UID 65534

/* Run the sibling program PROG with NAME to the end: "exited 0" etc. */
static const char *run(const char *prog, const char *name)
{
	return wait_child(spawn_sibling(prog, NULL, name, (char *)NULL));
}

/* As root: a child becomes uid/gid OTHER_UID and tries to open NAME.
 * Returns the errno name, "opened", or why it was skipped. */
static const char *other_user_opens(const char *name)
{
	if (geteuid() != 0)
		return "skipped, needs root";
	pid_t pid = fork_or_die();
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(OTHER_UID) == -1 || setuid(OTHER_UID) == -1)
			_exit(255);
		int fd = shm_open(name, O_RDONLY, 0);
		_exit(fd == -1 ? errno : 0);
	}
	int status;
	if (waitpid(pid, &status, 0) == -1)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255)
		return "could not switch user";
	return WEXITSTATUS(status) == 0 ? "opened" : errname(WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	umask(022); /* the mode given to shm_open is filtered by the umask */

	step("Look at /dev/shm, where glibc puts POSIX shm objects.");
	const char *fs = fs_type("/dev/shm");
	struct statvfs sv;
	if (statvfs("/dev/shm", &sv) == -1)
		die("statvfs /dev/shm");
	double limit = (double)sv.f_blocks * (double)sv.f_frsize;
	double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)ps;
	say("/dev/shm is a {fs=%s}", fs);
	say("its size limit: {shm-limit=%.1f GiB, %.0f%% of RAM}", limit / (1 << 30), 100.0 * limit / ram);
	check(!strcmp(fs, "tmpfs") && sv.f_blocks > 0, "/dev/shm is a tmpfs with a size limit of its own");

	step("Run shm-writer: it creates an object, writes to it, exits.");
	char name[128], path[160];
	unique_shm_name("obj", name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	cleanup_shm_unlink(name); /* in case the writer leaves it and we fail */
	say("shm-writer %s", run("shm-writer", name));

	step("No process maps or holds it now: stat it under /dev/shm.");
	struct stat st;
	if (stat(path, &st) == -1) { /* the writer failed: nothing more to see */
		say("stat: %s", errname(errno));
		check(false, "the object outlived its creator");
		cleanup_now();
		return lab_end();
	}
	say("%s, %lld page(s), mode %04o, owner %s", S_ISREG(st.st_mode) ? "a regular file" : "not a regular file",
	    (long long)(st.st_size / (off_t)ps), (unsigned)(st.st_mode & 07777),
	    st.st_uid == geteuid() ? "this user" : "someone else");
	/* a tmpfs mounted with huge= may hold a whole huge page: token */
	say("memory behind it (st_blocks): {pages=%lld}", (long long)(st.st_blocks * 512 / (blkcnt_t)ps));
	check(S_ISREG(st.st_mode) && st.st_size == (off_t)ps && (st.st_mode & 07777) == 0600,
	      "the object outlived its creator: a 1-page regular file, mode 0600");
	check(st.st_blocks * 512 >= (blkcnt_t)ps, "its written page is still held in memory, by no process");

	step("Run shm-reader: it opens the object by name, reads, replies.");
	say("shm-reader %s", run("shm-reader", name));
	int fd = shm_open(name, O_RDWR, 0);
	if (fd == -1)
		die("shm_open %s", name);
	char reply[32] = "";
	if (pread(fd, reply, sizeof reply - 1, REPLY_OFF) == -1)
		die("pread");
	say("lab: read() at the reply's offset: \"%s\"", reply);
	check(!strcmp(reply, "reply from the reader"),
	      "two programs that never ran together shared it through its name");

	step("Another user (uid 65534) tries to open it read-only.");
	const char *other = other_user_opens(name);
	say("another user opens it: {other-user=%s}", other);
	check(geteuid() != 0 || !strcmp(other, "EACCES"),
	      "mode 0600 keeps another user out (EACCES, checked when the lab can switch user)");

	step("Map it, then shm_unlink the name while the mapping is there.");
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* BEGIN SOLUTION */
	if (shm_unlink(name) == -1)
		die("shm_unlink");
	/* END SOLUTION */
	//> /* TODO: remove the name (the mapping stays) */
	errno = 0;
	int gone = stat(path, &st) == -1 ? errno : 0;
	say("stat of the name: %s", gone ? errname(gone) : "still there");
	int again = shm_open(name, O_RDWR, 0);
	int again_err = errno;
	say("shm_open of the name: %s", again == -1 ? errname(again_err) : "opened");
	if (again != -1)
		close(again);
	check(gone == ENOENT && again == -1 && again_err == ENOENT, "the name is gone at once");
	if (fstat(fd, &st) == -1)
		die("fstat");
	say("our mapping reads \"%.40s\"; the object has %ld link(s)", p, (long)st.st_nlink);
	check(!strcmp(p, "hello from the writer") && st.st_nlink == 0,
	      "the data lives on, unnamed, while a mapping or descriptor holds it");
	if (munmap(p, ps) == -1 || close(fd) == -1)
		die("munmap/close");

	step("The last mapping and descriptor are gone: create the same name again.");
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1) {
		say("shm_open(O_CREAT|O_EXCL): %s", errname(errno));
		check(false, "a new object under the old name starts empty");
	} else {
		if (ftruncate(fd, (off_t)ps) == -1)
			die("ftruncate");
		char c = 1;
		if (pread(fd, &c, 1, 0) != 1)
			die("pread");
		say("new object, ftruncate to 1 page, byte 0 reads %d", c);
		check(c == 0, "a new object under the old name starts empty: the old data went with its last user");
		if (close(fd) == -1 || shm_unlink(name) == -1)
			die("close/shm_unlink");
	}

	step("Clean up.");
	cleanup_now();
	say("stat of the name: %s", stat(path, &st) == -1 ? errname(errno) : "still there");
	return lab_end();
}
