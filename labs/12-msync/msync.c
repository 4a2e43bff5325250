/*
 * msync - when do stores into a MAP_SHARED file mapping reach the file, and
 * what do msync()'s flags do?
 *
 * Usage: msync [--pages=P] [--text=T]     (defaults 1, "hello page cache"; `make lab-12`)
 *
 * Story: a store into a shared file mapping lands in the page cache page
 * the file itself uses, so read() and every other mapper see it at once;
 * the page is only marked dirty.  /proc/self/smaps shows that mark (the
 * *_Dirty fields: "Private" while this process is the only mapper,
 * "Shared" once a second process has the page mapped too).  munmap(),
 * close() and process exit do not write the page back: map the file again
 * and the page is still dirty -- for a file created fresh.  ext4 starts the
 * write-back of a file that was truncated by O_TRUNC (as the source notes'
 * samples do) when its last user closes it (auto_da_alloc): both are shown.
 * msync(MS_SYNC) (like fsync) writes the page back and it turns clean -- on
 * a filesystem with a disk behind it.  tmpfs has nowhere to write to, so
 * there the page stays dirty.  Every step runs on two files side by side:
 * one in the work directory (ext4 here; its values that depend on the
 * filesystem are tokens) and one in /dev/shm (tmpfs).  MS_ASYNC starts
 * nothing on Linux, MS_SYNC and MS_ASYNC together are EINVAL, and
 * MS_INVALIDATE neither discards stores nor re-reads the file: not in the
 * shared mapping (there is one copy, the page cache) and not in a private
 * copy that was written (it keeps its own bytes).
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
#include <time.h>
#include <unistd.h>

static size_t ps, len; /* the page size; the files' length: P pages */
static long P = 1;
static const char *text = "hello page cache";

/* One file of the experiment: in the work directory, or in /dev/shm. */
struct side {
	const char *where; /* "work directory", "/dev/shm" */
	char path[160];
	int fd;
	char *p; /* its MAP_SHARED mapping, P pages */
};

static const char *pages(long kb)
{
	static char buf[4][32];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%g page%s", kb_to_pages(kb), kb_to_pages(kb) == 1 ? "" : "s");
	return buf[i];
}

static long dirty_kb(struct smaps s) { return s.shared_dirty + s.private_dirty; }
static bool all_dirty(struct smaps s) { return kb_to_pages(dirty_kb(s)) == (double)P; }
static bool clean(struct smaps s) { return dirty_kb(s) == 0; }

/* "work directory: Shared_Dirty 0 pages, Private_Dirty 1 page, Private_Clean 0 pages" */
static struct smaps show(const struct side *x)
{
	struct smaps s = smaps_of(x->p);
	say("%-15s Shared_Dirty %s, Private_Dirty %s, Private_Clean %s", x->where, pages(s.shared_dirty),
	    pages(s.private_dirty), pages(s.private_clean));
	return s;
}

/* After write-back the work directory's answer depends on its filesystem:
 * a token; /dev/shm is tmpfs everywhere: plain text. */
static struct smaps show_written_back(const struct side *here, const struct side *shm, const char *token,
				      const char *fs)
{
	struct smaps h = smaps_of(here->p), s = smaps_of(shm->p);
	say("work directory: {%s=%s dirty} {fs=%s}; /dev/shm (tmpfs): %s dirty", token, pages(dirty_kb(h)), fs,
	    pages(dirty_kb(s)));
	return h;
}

static char *map_shared(int fd)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void store_text(char *p)
{
	for (long i = 0; i < P; i++)
		memcpy(p + (size_t)i * ps, text, strlen(text) + 1);
}

/* Read the text back from every page (each read faults the page in); true
 * when every page holds it. */
static bool reads_text(const char *p)
{
	bool all = true;
	for (long i = 0; i < P; i++)
		all &= strcmp(p + (size_t)i * ps, text) == 0;
	return all;
}

/* Map x's file again after munmap + close: open it, map it, read every page. */
static void reopen(struct side *x)
{
	x->fd = open(x->path, O_RDWR | O_CLOEXEC);
	if (x->fd == -1)
		die("open %s again", x->path);
	x->p = map_shared(x->fd);
	if (!reads_text(x->p))
		die_msg("%s: the text is gone after munmap and close", x->where);
}

/* The notes' way: a file left by an earlier run, opened with O_TRUNC,
 * grown, filled through a mapping, unmapped and closed; then mapped again. */
static struct smaps truncated_file(const char *dir, const char *what, struct side *x)
{
	char name[128];
	unique_shm_name(what, name, sizeof name); /* "/mmaplab-...-what" */
	snprintf(x->path, sizeof x->path, "%s%s", dir, name);
	int fd = create_file(x->path, 0);
	char old[256];
	memset(old, 'z', sizeof old);
	if (write(fd, old, sizeof old) != (ssize_t)sizeof old || close(fd) == -1)
		die("write/close %s", x->path);
	fd = open(x->path, O_RDWR | O_TRUNC | O_CLOEXEC);
	if (fd == -1)
		die("open %s", x->path);
	if (ftruncate(fd, (off_t)len) == -1)
		die("ftruncate");
	char *p = map_shared(fd);
	store_text(p);
	if (munmap(p, len) == -1 || close(fd) == -1)
		die("munmap/close");
	reopen(x);
	return smaps_of(x->p);
}

static void drop(struct side *x)
{
	if (munmap(x->p, len) == -1 || close(x->fd) == -1 || unlink(x->path) == -1)
		die("munmap/close/unlink %s", x->path);
}

static long sysctl_vm(const char *name)
{
	char path[96];
	long v = -1;
	snprintf(path, sizeof path, "/proc/sys/vm/%s", name);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
	const struct lab_option options[] = {
		{ "--pages=P", &P, 1, 8, .help = "each file is P pages long; the text is stored at the start of every page" },
		{ "--text=T", .text = &text, .help = "the text stored (3 to 40 printable characters, no quotes)" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	size_t tl = strlen(text);
	if (tl < 3 || tl > 40 || strpbrk(text, "\"\\"))
		die_msg("--text: 3 to 40 characters, no \" or \\");
	for (size_t i = 0; i < tl; i++)
		if (text[i] < ' ' || text[i] > '~')
			die_msg("--text: printable ASCII only");
	lab_begin(LAB_TITLE);
	ps = page_size();
	len = (size_t)P * ps;
	const char *fs = fs_type(".");
	bool has_disk = strcmp(fs, "tmpfs") != 0 && strcmp(fs, "ramfs") != 0;
	struct side here = { .where = "work directory:" }, shm = { .where = "/dev/shm:" };
	char name[128];
	unique_name("msync", here.path, sizeof here.path);
	unique_shm_name("msync-shm", name, sizeof name);
	snprintf(shm.path, sizeof shm.path, "/dev/shm%s", name);
	struct side *both[] = { &here, &shm };
	struct smaps s, t;

	step("Create a fresh %ld-page file (O_EXCL) in the work directory and one in /dev/shm; map each MAP_SHARED.", P);
	for (int i = 0; i < 2; i++) {
		both[i]->fd = create_file(both[i]->path, (off_t)len);
		both[i]->p = map_shared(both[i]->fd);
	}
	say("the work directory is on {fs=%s}, /dev/shm on %s", fs, fs_type("/dev/shm"));
	say("a disk filesystem in the work directory? {disk=%s}",
	    has_disk ? "yes" : "no, both files are in memory: rerun with TMPDIR=/var/tmp make lab-12");
	s = smaps_of(here.p), t = smaps_of(shm.p);
	say("smaps before any access: Rss %s and %s", pages(s.rss), pages(t.rss));
	check(s.rss == 0 && t.rss == 0, "nothing is mapped yet: mmap only reserved the range");

	step("Store \"%s\" at the start of every page through both mappings (no write(), no msync).", text);
	store_text(here.p);
	store_text(shm.p);
	s = show(&here), t = show(&shm);
	check(kb_to_pages(s.private_dirty) == (double)P && s.shared_dirty == 0 && kb_to_pages(t.private_dirty) == (double)P,
	      "the page is dirty, and counted Private because no other process maps it (even for MAP_SHARED)");

	step("Fork a child that reads every page through the inherited mappings.");
	struct pair hs;
	pair_open(&hs);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&hs);
		bool seen = reads_text(here.p) && reads_text(shm.p);
		say("child: reads \"%s\" %s of both mappings", seen ? text : "something else", P == 1 ? "in the page" : "in every page");
		pair_signal(&hs, 'r'); /* the child has the pages mapped now */
		pair_wait(&hs);        /* stay until the parent has looked */
		_exit(0);
	}
	pair_parent(&hs);
	cleanup_kill(pid);
	pair_wait(&hs);
	s = show(&here), t = show(&shm);
	check(kb_to_pages(s.shared_dirty) == (double)P && s.private_dirty == 0 && kb_to_pages(t.shared_dirty) == (double)P,
	      "with two mappers the same dirty page is counted Shared_Dirty");
	pair_signal(&hs, 'q');
	say("child %s", wait_child(pid));
	pair_close(&hs);

	step("read() the last page of both files, still without msync.");
	char buf[48] = { 0 }, buf2[48] = { 0 };
	if (pread(here.fd, buf, tl, (off_t)len - (off_t)ps) == -1 || pread(shm.fd, buf2, tl, (off_t)len - (off_t)ps) == -1)
		die("pread");
	say("read() returns \"%s\" and \"%s\"", buf, buf2);
	check(!strcmp(buf, text) && !strcmp(buf2, text),
	      "read() sees the store at once: it reads the same page cache page the mapping writes");

	step("munmap() and close() without msync, then open and map each file again.");
	for (int i = 0; i < 2; i++) {
		/* BEGIN SOLUTION */
		if (munmap(both[i]->p, len) == -1)
			die("munmap");
		if (close(both[i]->fd) == -1)
			die("close");
		reopen(both[i]);
		/* END SOLUTION */
		//> /* TODO: munmap both[i]->p, close both[i]->fd, then reopen(both[i]) maps it again */
	}
	say("fresh files, mapped again: \"%s\" on every page", text);
	s = show(&here), t = show(&shm);
	check(all_dirty(s) && all_dirty(t), "the page is still dirty: neither munmap nor close wrote anything back");
	say("the same with a file left by an earlier run, opened with O_TRUNC as the notes' samples do:");
	struct side th = { .where = "work directory:" }, tsh = { .where = "/dev/shm:" };
	s = truncated_file(".", "trunc", &th);
	t = truncated_file("/dev/shm", "trunc-shm", &tsh);
	say("O_TRUNC files, mapped again: work directory {trunc_dirty=%s dirty}; /dev/shm (tmpfs): %s dirty",
	    pages(dirty_kb(s)), pages(dirty_kb(t)));
	check((strcmp(fs, "ext4") ? !strcmp(fs, "tmpfs") ? all_dirty(s) : true : clean(s)) && all_dirty(t),
	      "a file truncated by O_TRUNC was written back at its close on ext4 (auto_da_alloc), not on tmpfs {fs=%s}", fs);
	drop(&th);
	drop(&tsh);

	step("msync(MS_SYNC) both mappings.");
	for (int i = 0; i < 2; i++) {
		/* BEGIN SOLUTION */
		if (msync(both[i]->p, len, MS_SYNC) == -1)
			die("msync");
		/* END SOLUTION */
		//> /* TODO: write the dirty pages of both[i]->p back with msync */
	}
	s = show_written_back(&here, &shm, "dirty_after_sync", fs);
	t = smaps_of(shm.p);
	check(clean(s) == has_disk && all_dirty(t),
	      "the page is clean where the filesystem has a disk to write to (ext4 ...), still dirty on tmpfs");

	step("A child stores into every page of both mappings and exits.");
	pid = fork_or_die();
	if (pid == 0) {
		for (long i = 0; i < P; i++)
			here.p[(size_t)i * ps] = shm.p[(size_t)i * ps] = 'H';
		_exit(0);
	}
	say("child %s", wait_child(pid));
	s = show(&here), t = show(&shm);
	check(all_dirty(s) && all_dirty(t), "the child's store left the page dirty: exiting does not write back either");

	step("msync(MS_SYNC) again, store, then msync(MS_ASYNC).");
	struct timespec stored;
	for (int i = 0; i < 2; i++) {
		if (msync(both[i]->p, len, MS_SYNC) == -1)
			die("msync");
		clock_gettime(CLOCK_MONOTONIC, &stored);
		for (long k = 0; k < P; k++)
			both[i]->p[(size_t)k * ps] = 'H';
		if (msync(both[i]->p, len, MS_ASYNC) == -1)
			die("msync MS_ASYNC");
	}
	s = show(&here), t = show(&shm);
	say("the flusher threads write a page once it has been dirty for {dirty_expire_centisecs=%ld} cs; "
	    "these were dirtied {dirty_ms=%ld} ms ago", sysctl_vm("dirty_expire_centisecs"), ms_since(&stored));
	check(all_dirty(s) && all_dirty(t), "MS_ASYNC returned at once and the page is still dirty: on Linux it starts no write-back");

	step("Pass MS_SYNC and MS_ASYNC together.");
	errno = 0;
	int r = msync(here.p, len, MS_SYNC | MS_ASYNC); /* EINVAL: pick one */
	say("msync(MS_SYNC|MS_ASYNC): %s", r == 0 ? "succeeded" : errname(errno));
	check(r == -1 && errno == EINVAL, "asking for both is EINVAL");

	step("MS_INVALIDATE: beside the shared mapping, two MAP_PRIVATE mappings of the work directory's file, one written.");
	char *copied = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, here.fd, 0);
	char *unwritten = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, here.fd, 0);
	if (copied == MAP_FAILED || unwritten == MAP_FAILED)
		die("mmap MAP_PRIVATE");
	copied[1] = 'P';                 /* a private copy of the page, with 'P' in it */
	volatile char seen = unwritten[1]; /* read only: still the page cache page */
	(void)seen;
	here.p[1] = 'X';                 /* then the file changes: a store ... */
	if (pwrite(here.fd, "Y", 1, 2) != 1) /* ... and a write() */
		die("pwrite");
	say("before msync: shared \"%.3s\", private written \"%.3s\", private unwritten \"%.3s\"", here.p, copied,
	    unwritten);
	if (msync(here.p, ps, MS_INVALIDATE) == -1 || msync(copied, ps, MS_INVALIDATE) == -1 ||
	    msync(unwritten, ps, MS_INVALIDATE) == -1)
		die("msync MS_INVALIDATE");
	if (pread(here.fd, buf, 3, 0) != 3)
		die("pread");
	say("msync(MS_INVALIDATE) on all three: succeeded; read() returns \"%.3s\"", buf);
	say("after msync:  shared \"%.3s\", private written \"%.3s\", private unwritten \"%.3s\"", here.p, copied,
	    unwritten);
	struct side view = here;
	view.where = "shared mapping:";
	s = show(&view);
	check(here.p[1] == 'X' && here.p[2] == 'Y' && memcmp(buf, here.p, 3) == 0 && all_dirty(s),
	      "nothing was discarded or re-read, nothing written back: mapping and file share one page");
	check(copied[1] == 'P' && copied[2] == text[2] && memcmp(copied, buf, 3) != 0,
	      "the written MAP_PRIVATE page keeps its own bytes, unlike the file's: MS_INVALIDATE does not re-read it");
	check(memcmp(unwritten, buf, 3) == 0,
	      "the unwritten MAP_PRIVATE page shows the file's new bytes: it never had a copy to invalidate");
	if (munmap(copied, ps) == -1 || munmap(unwritten, ps) == -1)
		die("munmap");

	step("msync(MS_INVALIDATE) on a locked mapping of the page.");
	char *locked = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, here.fd, 0);
	if (locked == MAP_FAILED)
		die("mmap MAP_LOCKED");
	errno = 0;
	r = msync(locked, ps, MS_SYNC | MS_INVALIDATE); /* EBUSY: locked */
	say("msync(MS_SYNC|MS_INVALIDATE) on a MAP_LOCKED mapping: %s", r == 0 ? "succeeded" : errname(errno));
	check(r == -1 && errno == EBUSY, "EBUSY: the one case where MS_INVALIDATE changes anything on Linux");
	if (munmap(locked, ps) == -1)
		die("munmap");

	step("fsync() both files, then unmap, close and remove them.");
	for (int i = 0; i < 2; i++)
		if (fsync(both[i]->fd) == -1)
			die("fsync");
	s = show_written_back(&here, &shm, "dirty_after_fsync", fs);
	t = smaps_of(shm.p);
	check(clean(s) == has_disk && all_dirty(t), "fsync cleans the page just like msync(MS_SYNC) (and tmpfs keeps it dirty)");
	drop(&here);
	drop(&shm);
	say("done");
	return lab_end();
}
