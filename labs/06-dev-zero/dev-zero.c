/*
 * dev-zero - who shares a MAP_SHARED mapping of /dev/zero, and why.
 *
 * Usage: dev-zero            (run by `make lab-6`; it execs ./peer)
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
 * share them.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* "zeros" or the text found there, for say(). */
static const char *seen(const char *p)
{
	static char buf[64];
	if (p[0] == '\0')
		return "zeros";
	snprintf(buf, sizeof buf, "\"%.40s\"", p);
	return buf;
}

/* Map one page of fd MAP_SHARED, write our text at 0, let the peer map
 * whatever it is told, and report whether its text reached us. */
static bool share_with_peer(char *p, const char *mode, const char *target)
{
	struct pair pr;
	strcpy(p, "written by the lab");
	pid_t pid = spawn_sibling("peer", &pr, mode, target, (char *)NULL);
	pair_wait(&pr); /* 'w': the peer has read and written */
	bool got = strcmp(p + PEER_OFF, "written by the peer") == 0;
	say("lab reads at the peer's offset: %s", seen(p + PEER_OFF));
	pair_signal(&pr, 'q');
	say("peer %s", wait_child(pid));
	pair_close(&pr);
	return got;
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	struct stat zst;
	if (stat("/dev/zero", &zst) == -1)
		die("stat /dev/zero");

	step("Map 4 pages of /dev/zero MAP_SHARED, with no ftruncate.");
	int fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("open /dev/zero");
	say("/dev/zero: %s, st_size %lld", S_ISCHR(zst.st_mode) ? "a character device" : "not a device",
	    (long long)zst.st_size);
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map fd shared instead */
	if (p == MAP_FAILED)
		die("mmap /dev/zero");
	size_t nonzero = 0;
	for (size_t i = 0; i < 4 * ps; i++)
		nonzero += p[i] != 0;
	say("non-zero bytes in the 4 pages: %zu", nonzero);
	struct probe w = probe_write(p + 4 * ps - 1, 'z');
	say("write to the last byte of page 4: %s", probe_str(w));
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

	step("Close the descriptor, write \"written by the lab\" at offset 0, fork.");
	if (close(fd) == -1)
		die("close");
	strcpy(p, "written by the lab");
	pid_t pid = fork_or_die();
	if (pid == 0) {
		say("child: offset 0 reads %s", seen(p));
		strcpy(p + PEER_OFF, "written by the child");
		say("child: wrote \"written by the child\" at its offset");
		_exit(strcmp(p, "written by the lab") == 0 ? 0 : 1);
	}
	say("child %s", wait_child(pid));
	say("parent reads at the child's offset: %s", seen(p + PEER_OFF));
	check(strcmp(p + PEER_OFF, "written by the child") == 0,
	      "parent and child share the pages both ways; the closed descriptor did not matter");
	if (munmap(p, 4 * ps) == -1)
		die("munmap");

	step("An unrelated program (exec'd peer) opens and maps /dev/zero itself.");
	fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("open /dev/zero");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap /dev/zero");
	check(!share_with_peer(p, "devzero", ""), "neither process sees the other's text");
	if (munmap(p, ps) == -1)
		die("munmap");

	step("One process, one descriptor: map /dev/zero twice and write through the first.");
	/* BEGIN SOLUTION */
	char *a = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
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
	fd = open("/dev/zero", O_RDWR); /* no O_CLOEXEC: the peer gets it */
	if (fd == -1)
		die("open /dev/zero");
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) /* a mark the peer can see */
		die("fcntl F_SETFL");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap /dev/zero");
	char num[16];
	snprintf(num, sizeof num, "%d", fd);
	check(!share_with_peer(p, "fd", num), "the very same open file, mapped after exec, is not shared either");
	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");

	step("MAP_ANONYMOUS|MAP_SHARED, then fork.");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap anonymous");
	ma = maps_of(p);
	say("maps: %s {dev-ino=%02x:%02x %lu}", ma.name, ma.dev_major, ma.dev_minor, ma.inode);
	check(!strcmp(ma.name, "/dev/zero (deleted)"), "the kernel builds it exactly like a /dev/zero mapping");
	pid = fork_or_die();
	if (pid == 0) {
		strcpy(p + PEER_OFF, "written by the child");
		_exit(0);
	}
	say("child %s", wait_child(pid));
	say("parent reads at the child's offset: %s", seen(p + PEER_OFF));
	check(strcmp(p + PEER_OFF, "written by the child") == 0, "fork hands it on, like the /dev/zero mapping");
	say("it has no path, name or key: an exec'd program has nothing to open it by");
	if (munmap(p, ps) == -1)
		die("munmap");

	step("A regular file: the peer opens it by its path.");
	char path[128];
	unique_name("file", path, sizeof path);
	fd = create_file(path, (off_t)ps);
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap file");
	say("the file is one page long {fs=%s}", fs_type("."));
	check(share_with_peer(p, "file", path), "the file's pages are shared both ways");
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
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap shm");
	check(share_with_peer(p, "shm", name), "the shm object's pages are shared both ways");
	if (munmap(p, ps) == -1 || close(fd) == -1 || shm_unlink(name) == -1)
		die("munmap/close/shm_unlink");

	step("Clean up.");
	say("unmapped everything, removed the file and the shm name");
	return lab_end();
}
