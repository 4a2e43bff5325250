/*
 * dev-zero - who shares a MAP_SHARED mapping of /dev/zero, and why.
 *
 * Usage: dev-zero [--pages=N] [--offset=B] [--tag=T]
 *        (defaults 4, 64, 0; run by `make lab-6`; it execs ./peer)
 *
 * Story: a shared mapping of /dev/zero made before fork is shared by parent
 * and child, even when the descriptor is closed first.  A separately exec'd
 * program that maps /dev/zero sees none of it.  The reason is not "a
 * different descriptor": one process mapping /dev/zero twice through the
 * same descriptor also gets two independent regions, and so does a program
 * that inherits our very open file.  Every MAP_SHARED mmap of /dev/zero
 * makes a fresh, unnamed shmem object ("/dev/zero (deleted)" in maps), the
 * same thing MAP_ANONYMOUS|MAP_SHARED makes; only fork hands it on.  A
 * regular file and a POSIX shm object have names, so unrelated programs do
 * share them.  Last, the one way in to a shared anonymous mapping: its link
 * under /proc/PID/map_files/, which only a privileged process may open (root
 * shows both sides; an ordinary user its own).
 *
 * Parameters: N pages in step 1; the child and the peer write at offset B;
 * with T > 0 every text written carries " #T", so what a process prints of
 * the other's text can only come through the shared page.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define OTHER_UID 65534

static long pages = 4, off = PEER_OFF, tag = 0;
static char opt_off[32], opt_tag[32];
static char lab_text[64], child_text[64], peer_text[64];

/* text, with " #T" when --tag=T is given. */
static void tagged(char *buf, size_t size, const char *text)
{
	if (tag)
		snprintf(buf, size, "%s #%ld", text, tag);
	else
		snprintf(buf, size, "%s", text);
}

/* "zeros" or the text found there, for say(). */
static const char *seen(const char *p)
{
	static char buf[64];
	if (p[0] == '\0')
		return "zeros";
	snprintf(buf, sizeof buf, "\"%.50s\"", p);
	return buf;
}

/* Map one page of fd MAP_SHARED, write our text at 0, let the peer map
 * whatever it is told, and report whether its text reached us.  quiet: the
 * peer and this function print nothing (the caller sums it up). */
static bool share_with_peer(char *p, const char *mode, const char *target, bool quiet)
{
	struct pair pr;
	strcpy(p, lab_text);
	pid_t pid = spawn_sibling("peer", &pr, mode, target, opt_off, opt_tag, (char *)NULL);
	char m = pair_wait(&pr); /* 'w': the peer has read and written; 'e': it could not map */
	bool got = m == 'w' && strcmp(p + off, peer_text) == 0;
	if (!quiet)
		say("lab reads at the peer's offset: %s", seen(p + off));
	pair_signal(&pr, 'q');
	const char *how = wait_child(pid);
	if (!quiet)
		say("peer %s", how);
	pair_close(&pr);
	return got;
}

/* "/proc/PID/map_files/START-END" of the mapping that holds p. */
static void map_files_path(const void *p, pid_t pid, char *buf, size_t size)
{
	struct maps_entry m = maps_of(p);
	snprintf(buf, size, "/proc/%d/map_files/%lx-%lx", (int)pid, (unsigned long)m.start, (unsigned long)m.end);
}

/* In a child that is an ordinary user (root drops to OTHER_UID, anyone else
 * stays who it is): map a shared anonymous page and open its own map_files
 * link.  Returns 0 if the open worked, else the errno. */
static int ordinary_user_opens_own(void)
{
	pid_t pid = fork_or_die();
	if (pid == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) == -1 || setgid(OTHER_UID) == -1 || setuid(OTHER_UID) == -1))
			_exit(255);
		/* a changed uid makes the process non-dumpable, and /proc/self root's */
		if (prctl(PR_SET_DUMPABLE, 1) == -1)
			_exit(255);
		char *q = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (q == MAP_FAILED)
			_exit(255);
		char path[128];
		map_files_path(q, getpid(), path, sizeof path);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		_exit(fd == -1 ? (errno & 0xff) : 0);
	}
	int status;
	if (waitpid(pid, &status, 0) == -1)
		die("waitpid");
	cleanup_reaped(pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255)
		die_msg("the ordinary-user child could not set itself up");
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	const struct lab_option options[] = {
		{ "--pages=N", &pages, 1, 16, .help = "map N pages of /dev/zero in step 1" },
		{ "--offset=B", &off, 64, 2048, .help = "the child and the peer write at byte B of the page" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: every text written ends in \" #T\"" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size(), np = (size_t)pages;
	snprintf(opt_off, sizeof opt_off, "--offset=%ld", off);
	snprintf(opt_tag, sizeof opt_tag, "--tag=%ld", tag);
	tagged(lab_text, sizeof lab_text, "written by the lab");
	tagged(child_text, sizeof child_text, "written by the child");
	tagged(peer_text, sizeof peer_text, "written by the peer");
	struct stat zst;
	if (stat("/dev/zero", &zst) == -1)
		die("stat /dev/zero");

	step("Map %zu page%s of /dev/zero MAP_SHARED, with no ftruncate.", np, np == 1 ? "" : "s");
	int fd = open("/dev/zero", O_RDWR | O_CLOEXEC); /* step 1 */
	if (fd == -1)
		die("open /dev/zero");
	say("/dev/zero: %s, st_size %lld", S_ISCHR(zst.st_mode) ? "a character device" : "not a device",
	    (long long)zst.st_size);
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, np * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *p = mmap(NULL, np * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map fd shared instead */
	if (p == MAP_FAILED)
		die("mmap /dev/zero");
	size_t nonzero = 0;
	for (size_t i = 0; i < np * ps; i++)
		nonzero += p[i] != 0;
	say("non-zero bytes in the %zu page%s: %zu", np, np == 1 ? "" : "s", nonzero);
	struct probe w = probe_write(p + np * ps - 1, 'z');
	say("write to the last byte of page %zu: %s", np, probe_str(w));
	check(nonzero == 0 && w.sig == 0, "no ftruncate needed: every page reads 0 and takes a write");
	ssize_t wrote = write(fd, "discard me", 10); /* accepted, and thrown away */
	if (wrote == -1)
		die("write /dev/zero");
	char back[10];
	if (pread(fd, back, sizeof back, 0) != (ssize_t)sizeof back)
		die("pread /dev/zero");
	say("write() of 10 bytes to /dev/zero: %zd accepted; a read() after it: %s", wrote,
	    memchr(back, 'd', sizeof back) ? "sees them" : "zeros");
	check(wrote == 10 && !memchr(back, 'd', sizeof back), "/dev/zero takes every write() and keeps none of it");

	step("Close the descriptor, write \"%s\" at offset 0, fork.", lab_text);
	if (close(fd) == -1)
		die("close");
	strcpy(p, lab_text);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		say("child: offset 0 reads %s", seen(p));
		strcpy(p + off, child_text);
		say("child: wrote \"%s\" at its offset", child_text);
		_exit(strcmp(p, lab_text) == 0 ? 0 : 1);
	}
	say("child %s", wait_child(pid));
	say("parent reads at the child's offset: %s", seen(p + off));
	check(strcmp(p + off, child_text) == 0,
	      "parent and child share the pages both ways; the closed descriptor did not matter");
	if (munmap(p, np * ps) == -1)
		die("munmap");

	step("An unrelated program (exec'd peer) opens and maps /dev/zero itself.");
	fd = open("/dev/zero", O_RDWR | O_CLOEXEC); /* step 3, used again in step 4 */
	if (fd == -1)
		die("open /dev/zero");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap /dev/zero");
	check(!share_with_peer(p, "devzero", "", false), "neither process sees the other's text");
	if (munmap(p, ps) == -1)
		die("munmap");

	step("One process, one descriptor: map /dev/zero twice and write through the first.");
	/* BEGIN SOLUTION */
	char *a = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); /* the second */
	/* END SOLUTION */
	//> char *a = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *b = a; /* TODO: map fd twice, shared */
	if (a == MAP_FAILED || b == MAP_FAILED)
		die("mmap /dev/zero twice");
	strcpy(a, "written through a");
	say("second mapping reads: %s", seen(b));
	check(b[0] == '\0', "the same descriptor gives two independent regions");
	char c = 1;
	if (read(fd, &c, 1) != 1)
		die("read /dev/zero");
	say("read() on the descriptor: byte value %d", c);
	check(c == 0, "read() of /dev/zero still gives zeros: the written page is not the device");
	struct maps_entry ma = maps_of(a), mb = maps_of(b);
	say("maps, first:  %s {dev-ino=%02x:%02x %lu}", ma.name, ma.dev_major, ma.dev_minor, ma.inode);
	say("maps, second: %s {dev-ino=%02x:%02x %lu}", mb.name, mb.dev_major, mb.dev_minor, mb.inode);
	say("stat /dev/zero: {dev-ino=%02x:%02x %lu}", major(zst.st_dev), minor(zst.st_dev),
	    (unsigned long)zst.st_ino);
	bool not_dev = makedev(ma.dev_major, ma.dev_minor) != zst.st_dev;
	check(!strcmp(ma.name, "/dev/zero (deleted)") && !strcmp(mb.name, ma.name) && ma.inode != mb.inode && not_dev,
	      "each mmap made its own unnamed shmem file, not the device: two inodes, a deleted name");
	if (munmap(a, ps) == -1 || munmap(b, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");

	step("The peer inherits our open /dev/zero across exec and maps that.");
	fd = open("/dev/zero", O_RDWR | O_CLOEXEC); /* step 5 */
	if (fd == -1)
		die("open /dev/zero");
	if (fcntl(fd, F_SETFD, 0) == -1) /* no FD_CLOEXEC: the peer gets it across exec */
		die("fcntl F_SETFD");
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) /* a mark the peer can see */
		die("fcntl F_SETFL");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap /dev/zero");
	char num[16];
	snprintf(num, sizeof num, "%d", fd);
	check(!share_with_peer(p, "fd", num, false), "the very same open file, mapped after exec, is not shared either");
	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");

	step("MAP_ANONYMOUS|MAP_SHARED, then fork.");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0); /* step 6 */
	if (p == MAP_FAILED)
		die("mmap anonymous");
	ma = maps_of(p);
	say("maps: %s {dev-ino=%02x:%02x %lu}", ma.name, ma.dev_major, ma.dev_minor, ma.inode);
	check(!strcmp(ma.name, "/dev/zero (deleted)"), "the kernel builds it exactly like a /dev/zero mapping");
	pid = fork_or_die();
	if (pid == 0) {
		strcpy(p + off, child_text);
		_exit(0);
	}
	say("child %s", wait_child(pid));
	say("parent reads at the child's offset: %s", seen(p + off));
	check(strcmp(p + off, child_text) == 0, "fork hands it on, like the /dev/zero mapping");
	say("it has no path, name or key: an exec'd program has nothing to open it by");
	if (munmap(p, ps) == -1)
		die("munmap");

	step("A regular file: the peer opens it by its path.");
	char path[128];
	unique_name("file", path, sizeof path);
	fd = create_file(path, (off_t)ps);
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); /* the file */
	if (p == MAP_FAILED)
		die("mmap file");
	say("the file is one page long {fs=%s}", fs_type("."));
	check(share_with_peer(p, "file", path, false), "the file's pages are shared both ways");
	if (munmap(p, ps) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink file");

	step("A POSIX shm object: the peer shm_opens it by its name.");
	char name[128];
	unique_shm_name("shm", name, sizeof name);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1)
		die("shm_open %s", name);
	cleanup_shm_unlink(name);
	if (ftruncate(fd, (off_t)ps) == -1)
		die("ftruncate");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); /* the shm object */
	if (p == MAP_FAILED)
		die("mmap shm");
	check(share_with_peer(p, "shm", name, false), "the shm object's pages are shared both ways");
	if (munmap(p, ps) == -1 || close(fd) == -1 || shm_unlink(name) == -1)
		die("munmap/close/shm_unlink");

	step("The one way in: /proc/PID/map_files/ links to a shared anonymous mapping's object.");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap anonymous");
	char link[128];
	map_files_path(p, getpid(), link, sizeof link);
	say("the lab's mapping: /proc/{pid=%d}/map_files/{range=%s}", (int)getpid(), strrchr(link, '/') + 1);
	int own = ordinary_user_opens_own();
	say("an ordinary user opening its own process's link: %s", own ? errname(own) : "opened");
	bool root = geteuid() == 0, root_shared = root && share_with_peer(p, "mapfiles", link, true);
	say("root's exec'd peer opening the lab's link and mapping it: {as-root=%s}",
	    !root ? "not shown, the lab is not root" : root_shared ? "shared both ways" : "NOT shared");
	check(own == EPERM && (!root || root_shared),
	      "only a privileged process gets in: an ordinary user's open is EPERM, even for its own mapping {root-side=%s}",
	      root ? "checked, root's peer shares the page" : "not shown, run the lab as root");
	if (munmap(p, ps) == -1)
		die("munmap");

	step("Clean up.");
	say("unmapped everything, removed the file and the shm name");
	return lab_end();
}
