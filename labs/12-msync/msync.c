/*
 * msync - when do stores into a MAP_SHARED file mapping reach the file, and
 * what do msync()'s flags do?
 *
 * Usage: msync            (run by `make lab-12`)
 *
 * Story: a store into a shared file mapping lands in the page cache page
 * the file itself uses, so read() and every other mapper see it at once;
 * the page is only marked dirty.  /proc/self/smaps shows that mark (the
 * *_Dirty fields: "Private" while this process is the only mapper,
 * "Shared" once a second process has the page mapped too).  munmap(),
 * close() and process exit do not write the page back: map the file again
 * and the page is still dirty.
 * msync(MS_SYNC) (like fsync) writes it back and the page turns clean --
 * on a filesystem with a disk behind it.  tmpfs has nowhere to write to,
 * so there the page stays dirty; the lab states both expectations and
 * checks the one for the filesystem it runs on ({fs=...}).  MS_ASYNC starts
 * nothing on Linux (the flusher threads write later), MS_SYNC and
 * MS_ASYNC together are EINVAL, and MS_INVALIDATE neither discards your
 * stores nor re-reads the file: there is one copy, the page cache.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *pages(long kb)
{
	static char buf[4][32];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%g page%s", kb_to_pages(kb), kb_to_pages(kb) == 1 ? "" : "s");
	return buf[i];
}

/* One line of the smaps fields that matter here. */
static struct smaps show(const char *when, const void *p)
{
	struct smaps s = smaps_of(p);
	say("smaps %s: Shared_Dirty %s, Private_Dirty %s, Private_Clean %s", when,
	    pages(s.shared_dirty), pages(s.private_dirty), pages(s.private_clean));
	return s;
}

static bool dirty(struct smaps s) { return s.shared_dirty + s.private_dirty > 0; }

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	char path[128];
	unique_name("msync", path, sizeof path);
	const char *fs = fs_type(".");
	bool has_disk = strcmp(fs, "tmpfs") != 0;

	step("Create a fresh one-page file (O_EXCL) and map it MAP_SHARED.");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	if (ftruncate(fd, (off_t)ps) == -1)
		die("ftruncate");
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	say("the work directory is on {fs=%s}", fs);
	struct smaps s = smaps_of(p);
	say("smaps before any access: Rss %s", pages(s.rss));
	check(s.rss == 0, "nothing is mapped yet: mmap only reserved the range");

	step("Store a string through the mapping (no write(), no msync).");
	strcpy(p, "hello page cache");
	s = show("after the store", p);
	check(s.private_dirty > 0 && s.shared_dirty == 0,
	      "the page is dirty, and counted Private because no other process maps it (even for MAP_SHARED)");

	step("Fork a child that reads the page through the inherited mapping.");
	struct pair hs;
	pair_open(&hs);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&hs);
		say("child: reads \"%s\" through the mapping", (const char *)p);
		pair_signal(&hs, 'r'); /* the child has the page mapped now */
		pair_wait(&hs);        /* stay until the parent has looked */
		_exit(0);
	}
	pair_parent(&hs);
	cleanup_kill(pid);
	pair_wait(&hs);
	s = show("while the child maps the page", p);
	check(s.shared_dirty > 0 && s.private_dirty == 0,
	      "with two mappers the same dirty page is counted Shared_Dirty");
	pair_signal(&hs, 'q');
	say("child %s", wait_child(pid));
	pair_close(&hs);

	step("read() the file, still without msync.");
	char buf[32] = { 0 };
	if (pread(fd, buf, sizeof buf - 1, 0) == -1)
		die("pread");
	say("read() returns \"%s\"", buf);
	check(strcmp(buf, "hello page cache") == 0,
	      "read() sees the store at once: it reads the same page cache page the mapping writes");

	step("munmap() and close() without msync, then open and map the file again.");
	/* BEGIN SOLUTION */
	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("open %s again", path);
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap again");
	/* END SOLUTION */
	//> /* TODO: munmap p, close fd, open path again into fd and map its page again into p */
	say("the new mapping reads \"%s\"", (const char *)p);
	s = show("of the new mapping", p);
	check(dirty(s), "the page is still dirty: neither munmap nor close wrote anything back");

	step("msync(MS_SYNC) the mapping.");
	/* BEGIN SOLUTION */
	if (msync(p, ps, MS_SYNC) == -1)
		die("msync");
	/* END SOLUTION */
	//> /* TODO: write the dirty page back with msync */
	s = smaps_of(p);
	say("smaps after msync: {dirty_after_sync=%s dirty} {fs=%s}", pages(s.private_dirty), fs);
	check(dirty(s) != has_disk,
	      "the page is clean where the filesystem has a disk to write to (ext4 ...), still dirty on tmpfs");

	step("A child stores into the page and exits.");
	pid = fork_or_die();
	if (pid == 0) {
		p[0] = 'H';
		_exit(0);
	}
	say("child %s", wait_child(pid));
	s = show("after the child's exit", p);
	check(dirty(s), "the child's store left the page dirty: exiting does not write back either");

	step("msync(MS_SYNC) again, store, then msync(MS_ASYNC).");
	if (msync(p, ps, MS_SYNC) == -1)
		die("msync");
	p[0] = 'H';
	if (msync(p, ps, MS_ASYNC) == -1)
		die("msync MS_ASYNC");
	s = show("after msync(MS_ASYNC)", p);
	check(dirty(s), "MS_ASYNC returned at once and the page is still dirty: on Linux it starts no write-back");

	step("Pass MS_SYNC and MS_ASYNC together.");
	errno = 0;
	int r = msync(p, ps, MS_SYNC | MS_ASYNC); /* EINVAL: pick one */
	say("msync(MS_SYNC|MS_ASYNC): %s", r == 0 ? "succeeded" : errname(errno));
	check(r == -1 && errno == EINVAL, "asking for both is EINVAL");

	step("MS_INVALIDATE: store 'X', change the file with pwrite(), msync(MS_INVALIDATE).");
	p[1] = 'X';
	if (pwrite(fd, "Y", 1, 2) != 1)
		die("pwrite");
	say("before msync the mapping already shows \"%.3s\"", p);
	r = msync(p, ps, MS_INVALIDATE);
	if (r == -1)
		die("msync MS_INVALIDATE");
	say("msync(MS_INVALIDATE): succeeded; the mapping shows \"%.3s\"", p);
	if (pread(fd, buf, 3, 0) != 3)
		die("pread");
	say("read() returns \"%.3s\"", buf);
	s = show("after MS_INVALIDATE", p);
	check(p[1] == 'X' && p[2] == 'Y' && memcmp(buf, p, 3) == 0 && dirty(s),
	      "nothing was discarded or re-read, nothing written back: mapping and file share one page");

	step("msync(MS_INVALIDATE) on a locked mapping of the page.");
	char *locked = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
	if (locked == MAP_FAILED)
		die("mmap MAP_LOCKED");
	errno = 0;
	r = msync(locked, ps, MS_SYNC | MS_INVALIDATE); /* EBUSY: locked */
	say("msync(MS_SYNC|MS_INVALIDATE) on a MAP_LOCKED mapping: %s", r == 0 ? "succeeded" : errname(errno));
	check(r == -1 && errno == EBUSY, "EBUSY: the one case where MS_INVALIDATE changes anything on Linux");
	if (munmap(locked, ps) == -1)
		die("munmap");

	step("fsync(), unmap, close and remove the file.");
	if (fsync(fd) == -1)
		die("fsync");
	s = smaps_of(p);
	say("smaps after fsync: {dirty_after_fsync=%s dirty} {fs=%s}", pages(s.private_dirty), fs);
	check(dirty(s) != has_disk, "fsync cleans the page just like msync(MS_SYNC) (and tmpfs keeps it dirty)");
	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("done");
	return lab_end();
}
