/*
 * shared-private - MAP_SHARED and MAP_PRIVATE mappings of one file, in two
 * processes.
 *
 * Usage: shared-private [--pages=N] [--private-page=K]
 *        (run by `make lab-3`; the defaults 2 and 0 are the public transcript)
 *
 * Story: we map an N-page file MAP_SHARED and write through it.  A child
 * opens the same file O_RDONLY and makes its own mappings: MAP_SHARED with
 * PROT_WRITE is refused (EACCES), MAP_PRIVATE with PROT_WRITE is allowed,
 * and a read-only MAP_SHARED view serves as "another shared mapping".
 * Our stores reach the file (read()) and the child's shared view.  The
 * child's private mapping sees them too, as long as it has not written:
 * on Linux an unwritten private page *is* the page-cache page (POSIX leaves
 * it unspecified whether a private mapping sees later changes).  The
 * child's first store, on page K, copies that page (copy on write): it reaches
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
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t ps;
static int np; /* pages of the file */
static int kp; /* the page the child writes */

/* Say "page 0 "v1", page 1 "v1"" for the version at the start of each page. */
static void versions(const char *who, const char *base, const char *suffix)
{
	char line[256] = "";
	size_t n = 0;
	for (int i = 0; i < np && n < sizeof line; i++)
		n += (size_t)snprintf(line + n, sizeof line - n, "%spage %d \"%.2s\"", i ? ", " : "", i,
				      base + (size_t)i * ps);
	say("%s%s%s", who, line, suffix);
}

/* The pages other than k, in words: "page 1", "pages 0, 2". */
static const char *other_pages(void)
{
	static char buf[64];
	size_t n = (size_t)snprintf(buf, sizeof buf, np == 2 ? "page" : "pages");
	for (int i = 0, first = 1; i < np; i++)
		if (i != kp) {
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %d", first ? "" : ",", i);
			first = 0;
		}
	return buf;
}

/* The child: its own mappings of the file, then commands from the parent. */
static void private_process(struct pair *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("child: open %s", path);
	void *no = mmap(NULL, (size_t)np * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = errno;
	say("child: O_RDONLY descriptor, MAP_SHARED with PROT_WRITE: %s", no == MAP_FAILED ? errname(err) : "succeeded");
	/* BEGIN SOLUTION */
	char *priv = mmap(NULL, (size_t)np * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	/* END SOLUTION */
	//> char *priv = mmap(NULL, (size_t)np * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: a private, writable mapping of the read-only fd */
	if (priv == MAP_FAILED)
		die("child: mmap MAP_PRIVATE");
	say("child: same descriptor, MAP_PRIVATE with PROT_WRITE: succeeded");
	char *view = mmap(NULL, (size_t)np * ps, PROT_READ, MAP_SHARED, fd, 0);
	if (view == MAP_FAILED)
		die("child: mmap MAP_SHARED read-only");
	if (close(fd) == -1)
		die("child: close");
	pair_signal(p, no == MAP_FAILED && err == EACCES ? 'E' : '?');

	for (;;) {
		char cmd = pair_wait(p);
		if (cmd == 'l') { /* look: report the version byte of each page */
			versions("child: private mapping: ", priv, "");
			versions("child: shared mapping:  ", view, "");
			for (int i = 0; i < np; i++)
				pair_signal(p, priv[(size_t)i * ps + 1]);
			for (int i = 0; i < np; i++)
				pair_signal(p, view[(size_t)i * ps + 1]);
		} else if (cmd == 'w') { /* write page kp of the private mapping */
			char *page = priv + (size_t)kp * ps;
			/* BEGIN SOLUTION */
			strcpy(page, "vP");
			if (msync(priv, (size_t)np * ps, MS_SYNC) == -1)
				die("child: msync");
			/* END SOLUTION */
			//> (void)page; /* TODO: store "vP" at the start of page (page kp of the private mapping), then msync the mapping (MS_SYNC) */
			struct smaps s = smaps_of(priv);
			say("child: stored \"vP\" on page %d of its private mapping, then msync(MS_SYNC)", kp);
			char kinds[256] = "";
			size_t n = 0;
			for (int i = 0; i < np && n < sizeof kinds; i++)
				n += (size_t)snprintf(kinds + n, sizeof kinds - n, "%spage %d %s", i ? ", " : "", i,
						      pagemap_of(priv + (size_t)i * ps).file_or_shared_anon ? "file page" : "anonymous");
			say("child: smaps Private_Dirty %.2f page; pagemap: %s", kb_to_pages(s.private_dirty), kinds);
			pair_signal(p, (char)('0' + s.private_dirty * 1024 / (long)ps));
			for (int i = 0; i < np; i++)
				pair_signal(p, pagemap_of(priv + (size_t)i * ps).file_or_shared_anon ? 'f' : 'a');
		} else {
			if (munmap(priv, (size_t)np * ps) == -1 || munmap(view, (size_t)np * ps) == -1)
				die("child: munmap");
			_exit(0);
		}
	}
}

/* What the child saw: the version byte of each page of each of its mappings. */
struct look {
	char priv[4], view[4];
};

static struct look child_looks(struct pair *p)
{
	struct look l;
	pair_signal(p, 'l');
	for (int i = 0; i < np; i++)
		l.priv[i] = pair_wait(p);
	for (int i = 0; i < np; i++)
		l.view[i] = pair_wait(p);
	return l;
}

/* Is page i's version byte v in every page of a[] (except page `except`)? */
static bool all_are(const char *a, char v, int except)
{
	for (int i = 0; i < np; i++)
		if (i != except && a[i] != v)
			return false;
	return true;
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

static void put(int fd, const char *v) /* write() a version at every page */
{
	for (int page = 0; page < np; page++)
		if (pwrite(fd, v, 2, (off_t)page * (off_t)ps) != 2)
			die("pwrite");
}

static const char *number_word(int n)
{
	static const char *w[] = { "no", "one", "two", "three", "four" };
	return n >= 0 && n <= 4 ? w[n] : "many";
}

int main(int argc, char **argv)
{
	long N = 2, K = 0;
	const struct lab_option options[] = {
		{ "--pages=N", &N, 2, 4, .help = "the file's size in pages" },
		{ "--private-page=K", &K, 0, 3, .help = "the page the child writes through its private mapping (less than N)" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	if (K >= N)
		die_msg("shared-private: --private-page=%ld: must be less than --pages=%ld", K, N);
	lab_begin(LAB_TITLE);
	ps = page_size();
	np = (int)N;
	kp = (int)K;
	size_t len = (size_t)np * ps;
	char path[128];
	struct look got;
	unique_name("file", path, sizeof path);

	step("Create a %s-page file, \"v1\" at the start of each page; map it MAP_SHARED read-write.", number_word(np));
	int fd = create_file(path, (off_t)len);
	put(fd, "v1");
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0); /* TODO: the shared mapping */
	if (m == MAP_FAILED)
		die("mmap");
	char fs[64];
	snprintf(fs, sizeof fs, " {fs=%s}", fs_type("."));
	versions("our shared mapping: ", m, fs);

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
	got = child_looks(&p);
	check(all_are(got.priv, '1', -1) && all_are(got.view, '1', -1),
	      "a private writable mapping of an O_RDONLY descriptor is allowed, and shows the file");

	const char *each = np == 2 ? "both pages" : "every page";
	step("We store \"v2\" on %s through our shared mapping; the child looks again.", each);
	for (int i = 0; i < np; i++)
		strcpy(m + (size_t)i * ps, "v2");
	check(file_version(fd, kp) == '2', "our store reaches the file at once (read() sees it)");
	got = child_looks(&p);
	check(all_are(got.view, '2', -1), "it reaches the child's shared mapping");
	check(all_are(got.priv, '2', -1),
	      "the child's unwritten private mapping shows it too (Linux: the page is still the page-cache page)");

	step("The child stores \"vP\" on page %d of its private mapping (copy on write).", kp);
	pair_signal(&p, 'w');
	char dirty = pair_wait(&p), kind[4];
	for (int i = 0; i < np; i++)
		kind[i] = pair_wait(&p);
	check(dirty == '1' && kind[kp] == 'a' && all_are(kind, 'f', kp),
	      "one private copy: page %d is now anonymous memory, %s %s still the file's page%s", kp, other_pages(),
	      np == 2 ? "is" : "are", np == 2 ? "" : "s");
	say("our shared mapping: page %d \"%.2s\"", kp, m + (size_t)kp * ps);
	check(file_version(fd, kp) == '2' && m[(size_t)kp * ps + 1] == '2',
	      "the private store reached neither the file nor our mapping, msync or not");
	got = child_looks(&p);
	check(got.priv[kp] == 'P' && got.view[kp] == '2', "only the child's private mapping shows \"vP\"; its shared mapping does not");

	step("We change the file with write(): \"v3\" on %s; the child looks again.", each);
	put(fd, "v3");
	versions("our shared mapping: ", m, "");
	bool ours = true;
	for (int i = 0; i < np; i++)
		ours &= m[(size_t)i * ps + 1] == '3';
	check(ours, "our shared mapping shows write()'s bytes: same page-cache pages");
	got = child_looks(&p);
	check(all_are(got.view, '3', -1), "so does the child's shared mapping");
	check(got.priv[kp] == 'P', "the written private page keeps the child's copy: later file changes no longer show there");
	check(all_are(got.priv, '3', kp), "the unwritten private page%s still follow%s the file (Linux behaviour, not a POSIX promise)",
	      np == 2 ? "" : "s", np == 2 ? "s" : "");

	step("The child unmaps and exits; clean up.");
	pair_signal(&p, 'q');
	const char *how = wait_child(pid);
	say("child %s", how);
	check(strcmp(how, "exited 0") == 0 && file_version(fd, kp) == '3',
	      "the child's \"vP\" died with it: the file never had it");
	pair_close(&p);
	if (munmap(m, len) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
