/*
 * posix-shm - POSIX shared memory between two programs that never met.
 *
 * Usage: posix-shm [--pages=N] [--offset=B] [--tag=T]
 *        (defaults 1, 64, 0; run by `make lab-7`; it execs ./shm-writer and
 *        ./shm-reader)
 *
 * Story: /dev/shm is a tmpfs.  shm-writer creates an object there
 * (shm_open + ftruncate + mmap), writes, and exits without shm_unlink.  The
 * object is still there afterwards: a one-page regular file, mode 0600, its
 * page still in memory.  shm-reader, started later, finds it by name and
 * reads the text.  The mode decides who else gets in: a process of the
 * owner opens it, another user is kept out by 0600 and let in by the notes'
 * 0666 under umask 0 (that side needs a second user: a root run drops to uid
 * 65534 in a child; an ordinary user's run says it could not show it).
 * shm_unlink removes the name; the memory stays while someone still maps
 * it, and a new object under the same name starts empty.
 *
 * Parameters: the writer makes the object N pages long; the reader replies
 * at byte B; with T > 0 every text written ends in " #T".
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

static char opt_pages[32], opt_off[32], opt_tag[32];

/* Run the sibling program PROG with NAME to the end: "exited 0" etc. */
static const char *run(const char *prog, const char *name, const char *opt)
{
	return wait_child(spawn_sibling(prog, NULL, name, opt, opt_tag, (char *)NULL));
}

/* A child tries to shm_open NAME with flags: as this user, or (other, root
 * only) as uid/gid OTHER_UID.  Returns "opened" or the errno name. */
static const char *user_opens(const char *name, bool other, int flags)
{
	pid_t pid = fork_or_die();
	if (pid == 0) {
		if (other && (setgroups(0, NULL) == -1 || setgid(OTHER_UID) == -1 || setuid(OTHER_UID) == -1))
			_exit(255);
		int fd = shm_open(name, flags, 0);
		_exit(fd == -1 ? errno & 0xff : 0);
	}
	int status;
	if (waitpid(pid, &status, 0) == -1)
		die("waitpid");
	cleanup_reaped(pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255)
		die_msg("the child that opens %s could not switch user", name);
	return WEXITSTATUS(status) == 0 ? "opened" : errname(WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	long pages = 1, off = REPLY_OFF, tag = 0;
	const struct lab_option options[] = {
		{ "--pages=N", &pages, 1, 64, .help = "the writer makes the object N pages long" },
		{ "--offset=B", &off, 64, 2048, .help = "the reader writes its reply at byte B" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: every text written ends in \" #T\"" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	snprintf(opt_pages, sizeof opt_pages, "--pages=%ld", pages);
	snprintf(opt_off, sizeof opt_off, "--offset=%ld", off);
	snprintf(opt_tag, sizeof opt_tag, "--tag=%ld", tag);
	char hello[64], reply_text[64];
	snprintf(hello, sizeof hello, tag ? "hello from the writer #%ld" : "hello from the writer", tag);
	snprintf(reply_text, sizeof reply_text, tag ? "reply from the reader #%ld" : "reply from the reader", tag);
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
	say("shm-writer %s", run("shm-writer", name, opt_pages));

	step("No process maps or holds it now: stat it under /dev/shm.");
	struct stat st;
	if (stat(path, &st) == -1) { /* the writer failed: nothing more to see */
		say("stat: %s", errname(errno));
		check(false, "the object outlived its creator: a %ld-page regular file, mode 0600", pages);
		cleanup_now();
		return lab_end();
	}
	say("%s, %lld page(s), mode %04o, owner %s", S_ISREG(st.st_mode) ? "a regular file" : "not a regular file",
	    (long long)(st.st_size / (off_t)ps), (unsigned)(st.st_mode & 07777),
	    st.st_uid == geteuid() ? "this user" : "someone else");
	/* a tmpfs mounted with huge= may hold a whole huge page: token */
	say("memory behind it (st_blocks): {pages=%lld}", (long long)(st.st_blocks * 512 / (blkcnt_t)ps));
	check(S_ISREG(st.st_mode) && st.st_size == (off_t)ps * pages && (st.st_mode & 07777) == 0600,
	      "the object outlived its creator: a %ld-page regular file, mode 0600", pages);
	check(st.st_blocks * 512 >= (blkcnt_t)ps, "its written page is still held in memory, by no process");

	step("Run shm-reader: it opens the object by name, reads, replies.");
	say("shm-reader %s", run("shm-reader", name, opt_off));
	int fd = shm_open(name, O_RDWR, 0);
	if (fd == -1)
		die("shm_open %s", name);
	char reply[64] = "";
	if (pread(fd, reply, sizeof reply - 1, off) == -1)
		die("pread");
	say("lab: read() at the reply's offset: \"%s\"", reply);
	check(!strcmp(reply, reply_text), "two programs that never ran together shared it through its name");

	step("Who may open it: a process of the owner; another user (uid 65534), also with the notes' mode 0666.");
	const char *owner = user_opens(name, false, O_RDWR);
	say("a process of the owner opens it read-write: %s", owner);
	bool owner_in = !strcmp(owner, "opened");
	char name666[128];
	unique_shm_name("mode-0666", name666, sizeof name666);
	mode_t old_mask = umask(0); /* as in a container, or a umask of 000 */
	int fd666 = shm_open(name666, O_RDWR | O_CREAT | O_EXCL, 0666);
	umask(old_mask);
	if (fd666 == -1)
		die("shm_open %s", name666);
	cleanup_shm_unlink(name666);
	bool root = geteuid() == 0;
	const char *other = root ? user_opens(name, true, O_RDONLY) : "not shown, the lab is not root";
	const char *other666 = root ? user_opens(name666, true, O_RDWR) : "not shown, the lab is not root";
	say("another user opens the 0600 object read-only: {other-user=%s}", other);
	say("another user opens a 0666 object made under umask 0 read-write: {other-user-0666=%s}", other666);
	check(owner_in && (!root || (!strcmp(other, "EACCES") && !strcmp(other666, "opened"))),
	      "the mode decides: 0600 lets the owner in, keeps another user out (EACCES); 0666 lets everyone in {other-side=%s}",
	      root ? "checked" : "not shown, run the lab as root");
	if (close(fd666) == -1 || shm_unlink(name666) == -1)
		die("close/shm_unlink %s", name666);

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
	say("our mapping reads \"%.50s\"; the object has %ld link(s)", p, (long)st.st_nlink);
	check(!strcmp(p, hello) && st.st_nlink == 0,
	      "the data lives on, unnamed, while a mapping or descriptor holds it");
	if (munmap(p, ps) == -1 || close(fd) == -1)
		die("munmap/close");

	step("The last mapping and descriptor are gone: create the same name again.");
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1) {
		say("shm_open(O_CREAT|O_EXCL): %s", errname(errno));
		check(false, "a new object under the old name starts empty: the old data went with its last user");
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
