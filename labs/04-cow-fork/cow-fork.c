/*
 * cow-fork - copy-on-write after fork, watched one page at a time.
 *
 * Usage: cow-fork [--pages=N] [--page=K]
 *        (run by `make lab-4`; the defaults 1 and 1 are the public transcript)
 *
 * Story: a MAP_PRIVATE mapping of an N-page file is inherited by fork at the
 * same virtual address, and once the child touches it the two processes
 * share its pages (smaps Pss: half a page each).  The parent's first write
 * to page K is a minor fault that gives it a copy of that page only; the
 * child still reads the file's data and the file is unchanged.  When the
 * child writes too, it also gets a copy, and the original stays in the page
 * cache: nothing is freed.  Anonymous private memory ends differently: the
 * last process still mapping a page simply keeps it, no copy is made.
 * MAP_SHARED is the control: one page all along, every write seen by both
 * and by the file.  At each stage a picture (framemap.h) shows which frame
 * is behind each process's pages, drawn from what any user can read; frame
 * numbers from pagemap are shown only as {pfn=...} (CAP_SYS_ADMIN).
 *
 * The child works on command over a pipe pair and sends back a report of
 * what it saw, so the parent can check it.
 */
#include "framemap.h"
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t ps;
static int np, kp; /* pages of each mapping; the page both processes write, from 0 */

/* What the child saw, sent to the parent after each command. */
struct report {
	uintptr_t addr;                  /* where the child finds the mapping */
	bool present_before;             /* page K was in its page table before this command */
	bool file_before, file_after;    /* pagemap of page K: a page-cache (file) page */
	bool exclusive;                  /* pagemap of page K: mapped by this process only */
	long pss_kb, private_dirty_kb, faults;
	char data[16];                   /* what page K holds */
	struct fm_page pages[FM_MAX_PAGES]; /* every page, for the picture */
};

static double pss_pages(const void *p) { return kb_to_pages(smaps_of(p).pss); }

/* Pss of a mapping of n pages that shares all but `own` of them with one other process. */
static double pss_expected(int own) { return (np - own) * 0.5 + own; }

/* Store text in the page and count the minor faults that costs. */
static long write_counting_faults(char *p, const char *text)
{
	long faults = faults_to_write(p, (unsigned char)text[0]); /* the first byte takes the fault */
	memcpy(p, text, strlen(text) + 1);
	return faults;
}

/* Read one byte of every page of a mapping of n pages: all of them in the page table. */
static void touch_all(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		(void)((const volatile char *)p)[(size_t)i * ps];
}

/* Child: 'r'ead every page, 'w'rite text into page k counting faults,
 * 's'tore text without counting (a shared write may or may not fault, by
 * filesystem), or 'q'uit; report after each command. */
static _Noreturn void child(struct pair *pr, char *p, const char *text, int n, int k)
{
	pair_child(pr);
	char cmd, *page = p + (size_t)k * ps;
	while ((cmd = pair_wait(pr)) != 'q') {
		struct report r;
		memset(&r, 0, sizeof r); /* padding too: it all goes down the pipe */
		struct pagemap pm = pagemap_of(page);
		r.addr = (uintptr_t)p;
		r.present_before = pm.present;
		r.file_before = pm.file_or_shared_anon;
		if (cmd == 'w')
			r.faults = write_counting_faults(page, text);
		else if (cmd == 's')
			strcpy(page, text);
		snprintf(r.data, sizeof r.data, "%s", page); /* a read: maps the page if needed */
		touch_all(p, n);
		pm = pagemap_of(page);
		r.file_after = pm.file_or_shared_anon;
		r.exclusive = pm.exclusive;
		r.pss_kb = smaps_of(p).pss;
		r.private_dirty_kb = smaps_of(p).private_dirty;
		for (int i = 0; i < n; i++)
			fm_observe(&r.pages[i], p + (size_t)i * ps);
		r.pages[k].write_faults = r.faults;
		if (cmd == 'w')
			say("child: writes \"%s\": %ld minor fault(s)", text, r.faults);
		else if (cmd == 's')
			say("child: writes \"%s\"", text);
		say("child: reads \"%s\"; Pss %g page; pagemap: exclusive %d, file page %d",
		    r.data, kb_to_pages(r.pss_kb), r.exclusive, r.file_after);
		pair_send(pr, &r, sizeof r);
	}
	_exit(0);
}

static pid_t spawn(struct pair *pr, char *p, const char *text, int n, int k)
{
	pair_open(pr);
	pid_t pid = fork_or_die();
	if (pid == 0)
		child(pr, p, text, n, k);
	pair_parent(pr);
	cleanup_kill(pid);
	return pid;
}

static struct report ask(struct pair *pr, char cmd)
{
	struct report r;
	pair_signal(pr, cmd);
	pair_recv(pr, &r, sizeof r);
	return r;
}

static void finish(struct pair *pr, pid_t pid)
{
	pair_signal(pr, 'q');
	check(strcmp(wait_child(pid), "exited 0") == 0, "the child exited 0");
	pair_close(pr);
}

/* A row of the picture from this process's own pages; faults: the write
 * faults taken on page k since the last picture. */
static struct fm_row my_row(const char *who, int file, const char *p, int n, long faults)
{
	struct fm_row row = { .who = who, .file = file };
	for (int i = 0; i < n; i++)
		fm_observe(&row.page[i], p + (size_t)i * ps);
	row.page[kp < n ? kp : 0].write_faults = faults;
	return row;
}

static struct fm_row child_row(int file, const struct report *c)
{
	struct fm_row row = { .who = "child", .file = file };
	memcpy(row.page, c->pages, sizeof row.page);
	return row;
}

/* Draw parent and child (and perhaps one more row). */
static bool picture(struct framemap *fm, struct fm_row parent, struct fm_row kid, const struct fm_row *third)
{
	struct fm_row rows[3] = { parent, kid };
	if (third)
		rows[2] = *third;
	return fm_draw(fm, rows, third ? 3 : 2);
}

/* A file of n pages, text at the start of each. */
static int make_file(const char *path, const char *text, int n)
{
	int fd = create_file(path, (off_t)n * (off_t)ps);
	size_t len = strlen(text) + 1;
	for (int i = 0; i < n; i++)
		if (pwrite(fd, text, len, (off_t)i * (off_t)ps) != (ssize_t)len)
			die("pwrite");
	return fd;
}

static const char *file_text(int fd, int page)
{
	static char buf[16];
	if (pread(fd, buf, sizeof buf - 1, (off_t)page * (off_t)ps) != (ssize_t)(sizeof buf - 1))
		die("pread");
	return buf;
}

int main(int argc, char **argv)
{
	long N = 1, K = 1;
	const struct lab_option options[] = {
		{ "--pages=N", &N, 1, FM_MAX_PAGES, .help = "pages of the private mappings (file and anonymous)" },
		{ "--page=K", &K, 1, FM_MAX_PAGES, .help = "the page parent and child write, counted from 1 as in the pictures (at most N)" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	if (K > N)
		die_msg("cow-fork: --page=%ld: must be at most --pages=%ld", K, N);
	lab_begin(LAB_TITLE);
	ps = page_size();
	np = (int)N;
	kp = (int)K - 1;
	size_t len = (size_t)np * ps;
	char path[128], path2[128];
	unique_name("private", path, sizeof path);
	unique_name("shared", path2, sizeof path2);
	struct pair pr;
	struct report c;
	struct framemap fm;
	bool one = np == 1; /* the words of the one-page story */

	if (one)
		step("Create a one-page file holding \"original\", map it MAP_PRIVATE read-write, read it.");
	else
		step("Create a %d-page file, \"original\" at the start of each page, map it MAP_PRIVATE read-write, read it.", np);
	int fd = make_file(path, "original", np);
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die("mmap private");
	/* END SOLUTION */
	//> char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map the file's np pages, private (copy-on-write) */
	char *pk = p + (size_t)kp * ps; /* the page both will write */
	touch_all(p, np);
	say("parent reads \"%s\"", pk);
	say("parent: Pss %g page {fs=%s}", pss_pages(p), fs_type("."));
	check(strcmp(pk, "original") == 0 && pss_pages(p) == np,
	      one ? "one process maps the file's page: Pss is the whole page" : "one process maps the file's pages: Pss is all of them");
	fm_reset(&fm, (size_t)np);
	fm_draw(&fm, (struct fm_row[]){ my_row("parent", 1, p, np, 0) }, 1);

	step(one ? "fork; the child reads the page at the address it inherited." : "fork; the child reads the pages at the address it inherited.");
	pid_t pid = spawn(&pr, p, "child", np, kp);
	c = ask(&pr, 'r');
	check(c.addr == (uintptr_t)p, "the child finds the mapping at the parent's virtual address {addr=%p}", (void *)p);
	check(!c.present_before, "fork did not copy this page's entry: the page is in the child's page table only after its first read");
	check(strcmp(c.data, "original") == 0 && c.file_after, "the child reads \"original\" from the page-cache page");
	say("parent: Pss %g page", pss_pages(p));
	bool agree = picture(&fm, my_row("parent", 1, p, np, 0), child_row(1, &c), NULL);
	check(pss_pages(p) == np * 0.5 && kb_to_pages(c.pss_kb) == np * 0.5 && agree,
	      one ? "both map one page: Pss is half a page in each" : "both map the same pages: Pss is half of each page in each");

	char which[64];
	snprintf(which, sizeof which, "page %d of its mapping", kp + 1);
	step("The parent writes \"parent\" into %s.", one ? "its page" : which);
	long faults = write_counting_faults(pk, "parent");
	struct smaps s = smaps_of(p);
	say("parent: %ld minor fault(s); reads \"%s\"; Pss %g page, Private_Dirty %g page; pagemap: exclusive %d, file page %d",
	    faults, pk, kb_to_pages(s.pss), kb_to_pages(s.private_dirty), pagemap_of(pk).exclusive, pagemap_of(pk).file_or_shared_anon);
	check(faults == 1, "one minor fault: the page was mapped read-only although the mapping is PROT_WRITE");
	long again = faults_to_write(pk + 8, 0); /* past "parent" and its zero byte */
	say("parent: a second write to the page: %ld minor fault(s)", again);
	check(again == 0, "the copy is mapped writable: a second write costs no fault");
	check(kb_to_pages(s.pss) == pss_expected(1) && kb_to_pages(s.private_dirty) == 1 && !pagemap_of(pk).file_or_shared_anon,
	      "the parent now maps a private copy (anonymous, dirty), no longer the file's page");
	c = ask(&pr, 'r');
	check(strcmp(c.data, "original") == 0, "the child still reads \"original\"");
	check(kb_to_pages(c.pss_kb) == pss_expected(1) && c.exclusive,
	      one ? "the child is now the only mapper of the page-cache page: Pss 1 page, exclusive"
		  : "the child is now the only mapper of that page-cache page: exclusive, its Pss half a page more");
	agree = picture(&fm, my_row("parent", 1, p, np, faults), child_row(1, &c), NULL);
	say("read() of the file: \"%s\"", file_text(fd, kp));
	check(strcmp(file_text(fd, kp), "original") == 0 && agree, "the file is unchanged: a private write never reaches it");

	step("The child writes \"child\" into %s.", one ? "its page" : which);
	c = ask(&pr, 'w');
	check(c.faults == 1 && strcmp(c.data, "child") == 0, "the child's write is one minor fault and it reads back \"child\"");
	check(c.file_before && !c.file_after, "the child's page changed from the file's page to an anonymous page: a copy");
	char *q = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (q == MAP_FAILED)
		die("mmap fresh");
	touch_all(q, np);
	unsigned char vec[FM_MAX_PAGES] = { 0 };
	if (mincore(q, len, vec) == -1)
		die("mincore");
	say("a fresh mapping of the file: mincore says %s; it reads \"%s\"; read() gives \"%s\"",
	    vec[kp] & 1 ? "resident" : "not resident", q + (size_t)kp * ps, file_text(fd, kp));
	struct fm_row fresh = my_row("fresh", 1, q, np, 0);
	agree = picture(&fm, my_row("parent", 1, p, np, 0), child_row(1, &c), &fresh);
	check((vec[kp] & 1) && strcmp(q + (size_t)kp * ps, "original") == 0 && agree,
	      "the original page was not freed: it stays in the page cache");
	if (munmap(q, len) == -1)
		die("munmap fresh");
	check(strcmp(pk, "parent") == 0, "the parent still reads \"parent\"");
	finish(&pr, pid);

	step("Anonymous private memory: write \"original\" into %s, fork.",
	     one ? "a MAP_PRIVATE|MAP_ANONYMOUS page" : "each page of a MAP_PRIVATE|MAP_ANONYMOUS mapping");
	/* A new page sits for a while in a per-CPU LRU batch that holds a
	 * reference; a write fault can only flush its own CPU's batch, and an
	 * extra reference makes the kernel copy even for the last user.  One
	 * CPU for parent and child keeps that reference visible (see the note). */
	cpu_set_t cpu;
	CPU_ZERO(&cpu);
	CPU_SET(sched_getcpu(), &cpu);
	if (sched_setaffinity(0, sizeof cpu, &cpu) == -1)
		die("sched_setaffinity");
	say("parent and child run on one CPU from here on");
	/* smaps reports per mapping, and an anonymous mapping next to another
	 * with the same protection merges into it: put ours between two
	 * PROT_NONE pages so its numbers are this mapping's. */
	char *fence = mmap(NULL, len + 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fence == MAP_FAILED)
		die("mmap fence");
	char *a = mmap(fence + ps, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (a == MAP_FAILED)
		die("mmap anonymous");
	for (int i = 0; i < np; i++)
		strcpy(a + (size_t)i * ps, "original");
	char *ak = a + (size_t)kp * ps;
	pid = spawn(&pr, a, "child", np, kp);
	c = ask(&pr, 'r');
	check(c.present_before, "anonymous pages are copied into the child's page table at fork: present before it reads");
	fm_reset(&fm, (size_t)np);
	agree = picture(&fm, my_row("parent", 0, a, np, 0), child_row(0, &c), NULL);
	check(!c.exclusive && !pagemap_of(ak).exclusive && kb_to_pages(c.pss_kb) == np * 0.5 && pss_pages(a) == np * 0.5 && agree,
	      one ? "the page is shared: not exclusive, Pss half a page in each" : "the pages are shared: not exclusive, Pss half of each page in each");

	snprintf(which, sizeof which, "page %d of the anonymous mapping", kp + 1);
	step("The parent writes \"parent\" into %s.", one ? "the anonymous page" : which);
	faults = write_counting_faults(ak, "parent");
	say("parent: %ld minor fault(s); Pss %g page", faults, pss_pages(a));
	check(faults == 1 && pss_pages(a) == pss_expected(1) && pagemap_of(ak).exclusive, "one fault and the parent has a copy of its own");
	c = ask(&pr, 'r');
	agree = picture(&fm, my_row("parent", 0, a, np, faults), child_row(0, &c), NULL);
	check(strcmp(c.data, "original") == 0 && c.exclusive && kb_to_pages(c.pss_kb) == pss_expected(1) && agree,
	      "the child reads \"original\" and is now the only process mapping the old page (exclusive)");

	step("The child writes \"child\": it is the last process on the old page.");
	c = ask(&pr, 'w');
	check(c.faults == 1 && strcmp(c.data, "child") == 0, "still one minor fault: the page was write-protected at fork");
	agree = picture(&fm, my_row("parent", 0, a, np, 0), child_row(0, &c), NULL);
	check(c.exclusive && kb_to_pages(c.private_dirty_kb) == 1 && agree, "the child's page is exclusive and private");
	finish(&pr, pid);
	if (munmap(fence, len + 2 * ps) == -1)
		die("munmap anonymous");

	step("Control: the same with a MAP_SHARED mapping of a second file.");
	int fd2 = make_file(path2, "original", 1);
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	if (m == MAP_FAILED)
		die("mmap shared");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd2, shared */
	say("parent reads \"%s\"", m);
	pid = spawn(&pr, m, "child", 1, 0);
	c = ask(&pr, 'r');
	check(pss_pages(m) == 0.5 && kb_to_pages(c.pss_kb) == 0.5, "after the child's read both map one page: Pss half a page each");
	strcpy(m, "parent");
	say("parent writes \"parent\"; Pss %g page", pss_pages(m));
	c = ask(&pr, 'r');
	check(strcmp(c.data, "parent") == 0 && pss_pages(m) == 0.5, "the child sees the parent's write and the page is still shared");
	c = ask(&pr, 's');
	say("parent reads \"%s\"; read() of the file gives \"%s\"", m, file_text(fd2, 0));
	fm_reset(&fm, 1);
	struct fm_row mine = { .who = "parent", .file = 2 };
	fm_observe(&mine.page[0], m);
	struct fm_row kid = { .who = "child", .file = 2, .page = { c.pages[0] } };
	agree = picture(&fm, mine, kid, NULL);
	check(strcmp(m, "child") == 0 && strcmp(file_text(fd2, 0), "child") == 0 && agree,
	      "the parent and the file see the child's write");
	finish(&pr, pid);

	step("Clean up.");
	if (munmap(p, len) == -1 || munmap(m, ps) == -1)
		die("munmap");
	if (close(fd) == -1 || close(fd2) == -1)
		die("close");
	if (unlink(path) == -1 || unlink(path2) == -1)
		die("unlink");
	say("unmapped, closed and removed both files");
	return lab_end();
}
