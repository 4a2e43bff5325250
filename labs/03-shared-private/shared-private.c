/*
 * shared-private - MAP_SHARED and MAP_PRIVATE mappings of one file, in two
 * processes.
 *
 * Usage: shared-private         (run by `make lab-3`)
 *
 * Story: we map a two-page file MAP_SHARED and write through it.  A child
 * opens the same file O_RDONLY and makes its own mappings: MAP_SHARED with
 * PROT_WRITE is refused (EACCES), MAP_PRIVATE with PROT_WRITE is allowed,
 * and a read-only MAP_SHARED view serves as "another shared mapping".
 * Our stores reach the file (read()) and the child's shared view.  The
 * child's private mapping sees them too, as long as it has not written:
 * on Linux an unwritten private page *is* the page-cache page (POSIX leaves
 * it unspecified whether a private mapping sees later changes).  The
 * child's first store copies the page (copy on write): that store reaches
 * nobody, not even with msync, smaps counts the copy as Private_Dirty,
 * pagemap shows it is now anonymous memory, and later changes to the file
 * no longer show on that page -- while the other, unwritten page still
 * follows the file.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t ps;

/* The child: its own mappings of the file, then commands from the parent. */
static void private_process(struct pair *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("child: open %s", path);
	void *no = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = errno;
	say("child: O_RDONLY descriptor, MAP_SHARED with PROT_WRITE: %s", no == MAP_FAILED ? errname(err) : "succeeded");
	/* BEGIN SOLUTION */
	char *priv = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	/* END SOLUTION */
	//> char *priv = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: a private, writable mapping of the read-only fd */
	if (priv == MAP_FAILED)
		die("child: mmap MAP_PRIVATE");
	say("child: same descriptor, MAP_PRIVATE with PROT_WRITE: succeeded");
	char *view = mmap(NULL, 2 * ps, PROT_READ, MAP_SHARED, fd, 0);
	if (view == MAP_FAILED)
		die("child: mmap MAP_SHARED read-only");
	if (close(fd) == -1)
		die("child: close");
	pair_signal(p, no == MAP_FAILED && err == EACCES ? 'E' : '?');

	for (;;) {
		char cmd = pair_wait(p);
		if (cmd == 'l') { /* look: report the version byte of each page */
			say("child: private mapping: page 0 \"%.2s\", page 1 \"%.2s\"", priv, priv + ps);
			say("child: shared mapping:  page 0 \"%.2s\", page 1 \"%.2s\"", view, view + ps);
			pair_signal(p, priv[1]);
			pair_signal(p, priv[ps + 1]);
			pair_signal(p, view[1]);
			pair_signal(p, view[ps + 1]);
		} else if (cmd == 'w') { /* write page 0 of the private mapping */
			/* BEGIN SOLUTION */
			strcpy(priv, "vP");
			if (msync(priv, 2 * ps, MS_SYNC) == -1)
				die("child: msync");
			/* END SOLUTION */
			//> /* TODO: store "vP" at the start of the private mapping, then msync it (MS_SYNC) */
			struct smaps s = smaps_of(priv);
			struct pagemap p0 = pagemap_of(priv), p1 = pagemap_of(priv + ps);
			say("child: stored \"vP\" on page 0 of its private mapping, then msync(MS_SYNC)");
			say("child: smaps Private_Dirty %.2f page; pagemap: page 0 %s, page 1 %s",
			    kb_to_pages(s.private_dirty), p0.file_or_shared_anon ? "file page" : "anonymous",
			    p1.file_or_shared_anon ? "file page" : "anonymous");
			pair_signal(p, (char)('0' + s.private_dirty * 1024 / (long)ps));
			pair_signal(p, p0.file_or_shared_anon ? 'f' : 'a');
			pair_signal(p, p1.file_or_shared_anon ? 'f' : 'a');
		} else {
			if (munmap(priv, 2 * ps) == -1 || munmap(view, 2 * ps) == -1)
				die("child: munmap");
			_exit(0);
		}
	}
}

/* Ask the child to look; got[] = private page 0, 1, shared page 0, 1. */
static void child_looks(struct pair *p, char got[4])
{
	pair_signal(p, 'l');
	for (int i = 0; i < 4; i++)
		got[i] = pair_wait(p);
}

/* The version byte of a page as read() sees it. */
static char file_version(int fd, int page)
{
	char v[3] = "";
	if (pread(fd, v, 2, (off_t)page * (off_t)ps) != 2)
		die("pread");
	say("read() of the file, page %d: \"%s\"", page, v);
	return v[1];
}

static void put(int fd, const char *v) /* write() a version at both pages */
{
	for (int page = 0; page < 2; page++)
		if (pwrite(fd, v, 2, (off_t)page * (off_t)ps) != 2)
			die("pwrite");
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	ps = page_size();
	char path[128], got[4];
	unique_name("file", path, sizeof path);

	step("Create a two-page file, \"v1\" at the start of each page; map it MAP_SHARED read-write.");
	int fd = create_file(path, (off_t)(2 * ps));
	put(fd, "v1");
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0); /* TODO: the shared mapping */
	if (m == MAP_FAILED)
		die("mmap");
	say("our shared mapping: page 0 \"%.2s\", page 1 \"%.2s\" {fs=%s}", m, m + ps, fs_type("."));

	step("Fork a child; it opens the file O_RDONLY and maps it itself, twice.");
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		private_process(&p, path);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	check(pair_wait(&p) == 'E', "a shared writable mapping needs a descriptor open for writing: EACCES");
	child_looks(&p, got);
	check(memcmp(got, "1111", 4) == 0, "a private writable mapping of an O_RDONLY descriptor is allowed, and shows the file");

	step("We store \"v2\" on both pages through our shared mapping; the child looks again.");
	strcpy(m, "v2");
	strcpy(m + ps, "v2");
	check(file_version(fd, 0) == '2', "our store reaches the file at once (read() sees it)");
	child_looks(&p, got);
	check(got[2] == '2' && got[3] == '2', "it reaches the child's shared mapping");
	check(got[0] == '2' && got[1] == '2',
	      "the child's unwritten private mapping shows it too (Linux: the page is still the page-cache page)");

	step("The child stores \"vP\" on page 0 of its private mapping (copy on write).");
	pair_signal(&p, 'w');
	char dirty = pair_wait(&p), kind0 = pair_wait(&p), kind1 = pair_wait(&p);
	check(dirty == '1' && kind0 == 'a' && kind1 == 'f',
	      "one private copy: page 0 is now anonymous memory, page 1 is still the file's page");
	say("our shared mapping: page 0 \"%.2s\"", m);
	check(file_version(fd, 0) == '2' && m[1] == '2',
	      "the private store reached neither the file nor our mapping, msync or not");
	child_looks(&p, got);
	check(got[0] == 'P' && got[2] == '2', "only the child's private mapping shows \"vP\"; its shared mapping does not");

	step("We change the file with write(): \"v3\" on both pages; the child looks again.");
	put(fd, "v3");
	say("our shared mapping: page 0 \"%.2s\", page 1 \"%.2s\"", m, m + ps);
	check(m[1] == '3' && m[ps + 1] == '3', "our shared mapping shows write()'s bytes: same page-cache pages");
	child_looks(&p, got);
	check(got[2] == '3' && got[3] == '3', "so does the child's shared mapping");
	check(got[0] == 'P', "the written private page keeps the child's copy: later file changes no longer show there");
	check(got[1] == '3', "the unwritten private page still follows the file (Linux behaviour, not a POSIX promise)");

	step("The child unmaps and exits; clean up.");
	pair_signal(&p, 'q');
	const char *how = wait_child(pid);
	say("child %s", how);
	check(strcmp(how, "exited 0") == 0 && file_version(fd, 0) == '3',
	      "the child's \"vP\" died with it: the file never had it");
	pair_close(&p);
	if (munmap(m, 2 * ps) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
