/*
 * cow-fork - copy-on-write after fork, watched one page at a time.
 *
 * Usage: cow-fork            (run by `make lab-4`)
 *
 * Story: a MAP_PRIVATE mapping of a file is inherited by fork at the same
 * virtual address, and once the child touches it the two processes share
 * one page (smaps Pss: half a page each).  The parent's first write is a
 * minor fault that gives it a copy of its own; the child still reads the
 * file's data and the file is unchanged.  When the child writes too, it
 * also gets a copy, and the original stays in the page cache: nothing is
 * freed.  Anonymous private memory ends differently: the last process
 * still mapping a page simply keeps it, no copy is made.  MAP_SHARED is
 * the control: one page all along, every write seen by both and by the file.
 *
 * The child works on command over a pipe pair and sends back a report of
 * what it saw, so the parent can check it; frame numbers from pagemap are
 * shown only as {pfn=...} because they need CAP_SYS_ADMIN.
 */
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

/* What the child saw, sent to the parent after each command. */
struct report {
	uintptr_t addr;                  /* where the child finds the mapping */
	bool present_before;             /* in its page table before this command */
	bool file_before, file_after;    /* pagemap: a page-cache (file) page */
	bool exclusive;                  /* pagemap: mapped by this process only */
	long pss_kb, private_dirty_kb, faults;
	uint64_t pfn_before, pfn_after;
	char data[16];
};

static double pss_pages(const void *p) { return kb_to_pages(smaps_of(p).pss); }

/* Store text in the page and count the minor faults that costs. */
static long write_counting_faults(char *p, const char *text)
{
	long faults = faults_to_write(p, (unsigned char)text[0]); /* the first byte takes the fault */
	memcpy(p, text, strlen(text) + 1);
	return faults;
}

/* Child: 'r'ead, 'w'rite text counting faults, 's'tore text without
 * counting (a shared write may or may not fault, by filesystem), or 'q'uit;
 * report after each command. */
static _Noreturn void child(struct pair *pr, char *p, const char *text)
{
	pair_child(pr);
	char cmd;
	while ((cmd = pair_wait(pr)) != 'q') {
		struct pagemap pm = pagemap_of(p);
		struct report r = { .addr = (uintptr_t)p, .present_before = pm.present,
				    .file_before = pm.file_or_shared_anon, .pfn_before = pm.pfn };
		if (cmd == 'w')
			r.faults = write_counting_faults(p, text);
		else if (cmd == 's')
			strcpy(p, text);
		snprintf(r.data, sizeof r.data, "%s", p); /* a read: maps the page if needed */
		pm = pagemap_of(p);
		r.file_after = pm.file_or_shared_anon;
		r.exclusive = pm.exclusive;
		r.pfn_after = pm.pfn;
		r.pss_kb = smaps_of(p).pss;
		r.private_dirty_kb = smaps_of(p).private_dirty;
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

static pid_t spawn(struct pair *pr, char *p, const char *text)
{
	pair_open(pr);
	pid_t pid = fork_or_die();
	if (pid == 0)
		child(pr, p, text);
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

/* Frame numbers are privileged: the verdict goes inside the token. */
static void frames(const char *what, const char *a_name, uint64_t a, const char *b_name, uint64_t b)
{
	if (!pagemap_has_pfn())
		say("%s: {pfn=unavailable without CAP_SYS_ADMIN}", what);
	else
		say("%s: {pfn=%s %#llx, %s %#llx (%s)}", what, a_name, (unsigned long long)a,
		    b_name, (unsigned long long)b, a == b ? "same frame" : "different frames");
}

static int make_file(const char *path, const char *text)
{
	int fd = create_file(path, (off_t)page_size());
	size_t n = strlen(text) + 1;
	if (pwrite(fd, text, n, 0) != (ssize_t)n)
		die("pwrite");
	return fd;
}

static const char *file_text(int fd)
{
	static char buf[16];
	if (pread(fd, buf, sizeof buf - 1, 0) != (ssize_t)(sizeof buf - 1))
		die("pread");
	return buf;
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	char path[128], path2[128];
	unique_name("private", path, sizeof path);
	unique_name("shared", path2, sizeof path2);
	struct pair pr;
	struct report c;

	step("Create a one-page file holding \"original\", map it MAP_PRIVATE read-write, read it.");
	int fd = make_file(path, "original");
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die("mmap private");
	/* END SOLUTION */
	//> char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd, private (copy-on-write) */
	say("parent reads \"%s\"", p);
	say("parent: Pss %g page {fs=%s}", pss_pages(p), fs_type("."));
	check(strcmp(p, "original") == 0 && pss_pages(p) == 1, "one process maps the file's page: Pss is the whole page");

	step("fork; the child reads the page at the address it inherited.");
	pid_t pid = spawn(&pr, p, "child");
	uint64_t parent_pfn = pagemap_of(p).pfn;
	c = ask(&pr, 'r');
	check(c.addr == (uintptr_t)p, "the child finds the mapping at the parent's virtual address {addr=%p}", (void *)p);
	check(!c.present_before, "fork did not copy this page's entry: the page is in the child's page table only after its first read");
	check(strcmp(c.data, "original") == 0 && c.file_after, "the child reads \"original\" from the page-cache page");
	say("parent: Pss %g page", pss_pages(p));
	check(pss_pages(p) == 0.5 && kb_to_pages(c.pss_kb) == 0.5, "both map one page: Pss is half a page in each");
	frames("frames", "parent", parent_pfn, "child", c.pfn_after);

	step("The parent writes \"parent\" into its page.");
	long faults = write_counting_faults(p, "parent");
	struct smaps s = smaps_of(p);
	say("parent: %ld minor fault(s); reads \"%s\"; Pss %g page, Private_Dirty %g page; pagemap: exclusive %d, file page %d",
	    faults, p, kb_to_pages(s.pss), kb_to_pages(s.private_dirty), pagemap_of(p).exclusive, pagemap_of(p).file_or_shared_anon);
	check(faults == 1, "one minor fault: the page was mapped read-only although the mapping is PROT_WRITE");
	check(kb_to_pages(s.pss) == 1 && kb_to_pages(s.private_dirty) == 1 && !pagemap_of(p).file_or_shared_anon,
	      "the parent now maps a private copy (anonymous, dirty), no longer the file's page");
	frames("parent's frame", "before", parent_pfn, "after", pagemap_of(p).pfn);
	c = ask(&pr, 'r');
	check(strcmp(c.data, "original") == 0, "the child still reads \"original\"");
	check(kb_to_pages(c.pss_kb) == 1 && c.exclusive, "the child is now the only mapper of the page-cache page: Pss 1 page, exclusive");
	say("read() of the file: \"%s\"", file_text(fd));
	check(strcmp(file_text(fd), "original") == 0, "the file is unchanged: a private write never reaches it");

	step("The child writes \"child\" into its page.");
	c = ask(&pr, 'w');
	check(c.faults == 1 && strcmp(c.data, "child") == 0, "the child's write is one minor fault and it reads back \"child\"");
	check(c.file_before && !c.file_after, "the child's page changed from the file's page to an anonymous page: a copy");
	frames("child's frame", "before", c.pfn_before, "after", c.pfn_after);
	char *q = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
	if (q == MAP_FAILED)
		die("mmap fresh");
	unsigned char vec = 0;
	if (mincore(q, ps, &vec) == -1)
		die("mincore");
	say("a fresh mapping of the file: mincore says %s; it reads \"%s\"; read() gives \"%s\"",
	    vec & 1 ? "resident" : "not resident", q, file_text(fd));
	check((vec & 1) && strcmp(q, "original") == 0, "the original page was not freed: it stays in the page cache");
	frames("page-cache frame", "now", pagemap_of(q).pfn, "child's old", c.pfn_before);
	if (munmap(q, ps) == -1)
		die("munmap fresh");
	check(strcmp(p, "parent") == 0, "the parent still reads \"parent\"");
	finish(&pr, pid);

	step("Anonymous private memory: write \"original\" into a MAP_PRIVATE|MAP_ANONYMOUS page, fork.");
	/* A new page sits for a while in a per-CPU LRU batch that holds a
	 * reference; a write fault can only flush its own CPU's batch, and an
	 * extra reference makes the kernel copy even for the last user.  One
	 * CPU for parent and child keeps that reference visible (see the note). */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (sched_setaffinity(0, sizeof one, &one) == -1)
		die("sched_setaffinity");
	say("parent and child run on one CPU from here on");
	/* smaps reports per mapping, and an anonymous mapping next to another
	 * with the same protection merges into it: put ours between two
	 * PROT_NONE pages so its numbers are this one page's. */
	char *fence = mmap(NULL, 3 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fence == MAP_FAILED)
		die("mmap fence");
	char *a = mmap(fence + ps, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (a == MAP_FAILED)
		die("mmap anonymous");
	strcpy(a, "original");
	pid = spawn(&pr, a, "child");
	parent_pfn = pagemap_of(a).pfn;
	c = ask(&pr, 'r');
	check(c.present_before, "anonymous pages are copied into the child's page table at fork: present before it reads");
	check(!c.exclusive && !pagemap_of(a).exclusive && kb_to_pages(c.pss_kb) == 0.5 && pss_pages(a) == 0.5,
	      "the page is shared: not exclusive, Pss half a page in each");
	frames("frames", "parent", parent_pfn, "child", c.pfn_after);

	step("The parent writes \"parent\" into the anonymous page.");
	faults = write_counting_faults(a, "parent");
	say("parent: %ld minor fault(s); Pss %g page", faults, pss_pages(a));
	check(faults == 1 && pss_pages(a) == 1 && pagemap_of(a).exclusive, "one fault and the parent has a copy of its own");
	c = ask(&pr, 'r');
	check(strcmp(c.data, "original") == 0 && c.exclusive && kb_to_pages(c.pss_kb) == 1,
	      "the child reads \"original\" and is now the only process mapping the old page (exclusive)");

	step("The child writes \"child\": it is the last process on the old page.");
	c = ask(&pr, 'w');
	check(c.faults == 1 && strcmp(c.data, "child") == 0, "still one minor fault: the page was write-protected at fork");
	check(c.exclusive && kb_to_pages(c.private_dirty_kb) == 1, "the child's page is exclusive and private");
	frames("child's frame", "before", c.pfn_before, "after", c.pfn_after);
	finish(&pr, pid);
	if (munmap(fence, 3 * ps) == -1)
		die("munmap anonymous");

	step("Control: the same with a MAP_SHARED mapping of a second file.");
	int fd2 = make_file(path2, "original");
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	if (m == MAP_FAILED)
		die("mmap shared");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd2, shared */
	say("parent reads \"%s\"", m);
	pid = spawn(&pr, m, "child");
	parent_pfn = pagemap_of(m).pfn;
	c = ask(&pr, 'r');
	check(pss_pages(m) == 0.5 && kb_to_pages(c.pss_kb) == 0.5, "after the child's read both map one page: Pss half a page each");
	strcpy(m, "parent");
	say("parent writes \"parent\"; Pss %g page", pss_pages(m));
	c = ask(&pr, 'r');
	check(strcmp(c.data, "parent") == 0 && pss_pages(m) == 0.5, "the child sees the parent's write and the page is still shared");
	c = ask(&pr, 's');
	say("parent reads \"%s\"; read() of the file gives \"%s\"", m, file_text(fd2));
	check(strcmp(m, "child") == 0 && strcmp(file_text(fd2), "child") == 0, "the parent and the file see the child's write");
	frames("frames", "parent", parent_pfn, "child", c.pfn_after);
	finish(&pr, pid);

	step("Clean up.");
	if (munmap(p, ps) == -1 || munmap(m, ps) == -1)
		die("munmap");
	if (close(fd) == -1 || close(fd2) == -1)
		die("close");
	if (unlink(path) == -1 || unlink(path2) == -1)
		die("unlink");
	say("unmapped, closed and removed both files");
	return lab_end();
}
