/*
 * virt-phys - virtual addresses and the physical pages behind them.
 *
 * Usage: virt-phys [--pages=N] [--page=K]
 *        (run by `make lab-5`; the defaults 1 and 1 are the public transcript)
 *
 * Story: mmap only records an address range: no page-table entry exists
 * until the first access, which is one (minor) fault on the page written
 * (page K of N); later accesses cost no fault at all.  An unrelated process
 * (peer, exec'd) that maps the same file MAP_SHARED gets the very same
 * physical page, at an address its own mmap chose: smaps shows the page
 * shared, half a page of Pss each, and a write by one is read by the other.
 * The other way round, after fork with MAP_PRIVATE, one virtual address
 * holds different data in parent and child: each has its own copy of the
 * page.  At each stage a picture (framemap.h) shows which frame is behind
 * each process's pages, drawn from what any user can read.
 *
 * Frame numbers (pagemap) need CAP_SYS_ADMIN, so they appear only inside
 * {pfn=...}; smaps and the pagemap flags are the evidence anyone can read.
 */
#include "framemap.h"
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <unistd.h>

static size_t ps;
static int np, kp; /* pages of the file; the page the story is about, from 0 */

static const char *file_text(int fd)
{
	static char buf[24];
	if (pread(fd, buf, sizeof buf - 1, (off_t)kp * (off_t)ps) != (ssize_t)(sizeof buf - 1))
		die("pread");
	return buf;
}

/* A row of the picture from this process's own mapping; faults: the write
 * faults taken on page K since the last picture. */
static struct fm_row my_row(const char *who, const char *p, long faults)
{
	struct fm_row row = { .who = who, .file = 1 };
	for (int i = 0; i < np; i++)
		fm_observe(&row.page[i], p + (size_t)i * ps);
	row.page[kp].write_faults = faults;
	return row;
}

static struct fm_row their_row(const char *who, const struct peer_report *r)
{
	struct fm_row row = { .who = who, .file = 1 };
	memcpy(row.page, r->pages, sizeof row.page);
	row.page[kp].write_faults = r->faults;
	return row;
}

static bool draw2(struct framemap *fm, struct fm_row a, struct fm_row b)
{
	struct fm_row rows[2] = { a, b };
	return fm_draw(fm, rows, 2);
}

/* The child of step [6]: read page K, report; write it, report. */
static _Noreturn void private_child(struct pair *pr, char *q)
{
	pair_child(pr);
	char *qk = q + (size_t)kp * ps;
	struct peer_report c;
	pair_wait(pr); /* the parent has read */
	report_mapping(&c, q, np, kp);
	pair_send(pr, &c, sizeof c);
	pair_wait(pr); /* the parent has written */
	long faults = faults_to_write(qk, 'c');
	strcpy(qk, "child's copy");
	report_mapping(&c, q, np, kp);
	c.faults = faults;
	say("child: wrote and reads \"%s\" at {addr=%p}; Pss %g page", c.data, (void *)q, kb_to_pages(c.pss_kb));
	pair_send(pr, &c, sizeof c);
	pair_wait(pr); /* stay, so the parent's Pss still counts our mapping */
	_exit(0);
}

int main(int argc, char **argv)
{
	long N = 1, K = 1;
	const struct lab_option options[] = {
		{ "--pages=N", &N, 1, FM_MAX_PAGES, .help = "the file's size in pages" },
		{ "--page=K", &K, 1, FM_MAX_PAGES, .help = "the page written and shared, counted from 1 as in the pictures (at most N)" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	if (K > N)
		die_msg("virt-phys: --page=%ld: must be at most --pages=%ld", K, N);
	lab_begin(LAB_TITLE);
	ps = page_size();
	np = (int)N;
	kp = (int)K - 1;
	size_t len = (size_t)np * ps;
	bool one = np == 1;
	char path[128], nk[2][8];
	snprintf(nk[0], sizeof nk[0], "%d", np);
	snprintf(nk[1], sizeof nk[1], "%d", kp);
	unique_name("page", path, sizeof path);
	struct framemap fm;
	fm_reset(&fm, (size_t)np);

	if (one)
		step("Write \"hello\" into a new one-page file, map it MAP_SHARED, do not touch it yet.");
	else
		step("Write \"hello\" into page %d of a new %d-page file, map it MAP_SHARED, do not touch it yet.", kp + 1, np);
	int fd = create_file(path, (off_t)len);
	if (pwrite(fd, "hello", 6, (off_t)kp * (off_t)ps) != 6)
		die("pwrite");
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map the file's np pages, shared */
	char *pk = p + (size_t)kp * ps;
	struct pagemap pm = pagemap_of(pk);
	struct smaps s = smaps_of(p);
	say("smaps lists the mapping; Rss %g page; pagemap: present %d {fs=%s}", kb_to_pages(s.rss), pm.present, fs_type("."));
	check(!pm.present && s.rss == 0, "mmap mapped nothing yet: no present page-table entry, Rss 0");
	unsigned char vec[FM_MAX_PAGES] = { 0 };
	if (mincore(p, len, vec) == -1)
		die("mincore");
	say("mincore: the file's page is %s", vec[kp] & 1 ? "in the page cache" : "not in the page cache");
	check(vec[kp] & 1, "the data is already in memory: what is missing is only the page-table entry");
	fm_draw(&fm, (struct fm_row[]){ my_row("lab", p, 0) }, 1);

	step("First touch: write \"hello from lab\" into the page.");
	long faults = faults_to_write(pk, 'h'); /* the first byte takes the fault */
	strcpy(pk, "hello from lab");
	pm = pagemap_of(pk);
	say("%ld minor fault(s); pagemap: present %d; Rss %g page", faults, pm.present, kb_to_pages(smaps_of(p).rss));
	bool agree = fm_draw(&fm, (struct fm_row[]){ my_row("lab", p, faults) }, 1);
	check(faults == 1 && pm.present && smaps_of(p).rss * 1024 == (long)ps && agree,
	      "one minor fault filled in the page-table entry (nothing was read from disk)");

	step("Later accesses: read every byte of the page 100 times.");
	long before = minor_faults();
	unsigned sum = 0;
	for (int round = 0; round < 100; round++)
		for (size_t i = 0; i < ps; i++)
			sum += ((volatile unsigned char *)pk)[i];
	faults = minor_faults() - before;
	(void)sum;
	say("%ld minor fault(s)", faults);
	check(faults == 0, "no more faults: the MMU finds the page through the page table");

	step("An unrelated process: exec peer, which opens the file and maps it MAP_SHARED itself.");
	struct pair pr;
	pid_t pid = spawn_sibling("peer", &pr, path, nk[0], nk[1], (char *)NULL);
	struct peer_report r;
	pair_recv(&pr, &r, sizeof r);
	s = smaps_of(p);
	say("lab: Rss %g page, Pss %g page, Shared_Clean + Shared_Dirty %g page",
	    kb_to_pages(s.rss), kb_to_pages(s.pss), kb_to_pages(s.shared_clean + s.shared_dirty));
	check(strcmp(r.data, "hello from lab") == 0, "the peer reads what the lab wrote");
	agree = draw2(&fm, my_row("lab", p, 0), their_row("peer", &r));
	check(kb_to_pages(s.pss) == 0.5 && kb_to_pages(r.pss_kb) == np - 0.5 &&
	      kb_to_pages(s.shared_clean + s.shared_dirty) == 1 && kb_to_pages(r.shared_kb) == 1 && agree,
	      "one physical page for both: each counts it as shared and is charged half of it (Pss)");
	say("addresses: {addr=lab %p, peer %#lx (%s)}", (void *)p, (unsigned long)r.addr,
	    r.addr == (uintptr_t)p ? "equal" : "different");
	check(starts_mapping_of(p, fd) && r.own_mapping,
	      "each process's own mmap chose its address: the start of a mapping of the file in its own maps");
	say("ASLR usually makes them differ, nothing guarantees it (step 7 starts two peers without it)");

	step("The peer writes \"hello from peer\"; the lab reads at its own address.");
	pair_signal(&pr, 'w');
	pair_wait(&pr);
	say("lab reads \"%s\"; read() of the file gives \"%s\"", pk, file_text(fd));
	check(strcmp(pk, "hello from peer") == 0 && strcmp(file_text(fd), "hello from peer") == 0,
	      "the peer's write is in the lab's mapping and in the file at once: one page");
	pair_signal(&pr, 'q');
	check(strcmp(wait_child(pid), "exited 0") == 0, "the peer exited 0");
	pair_close(&pr);

	step("Same virtual address, different data: map the file MAP_PRIVATE, fork, both write.");
	/* BEGIN SOLUTION */
	char *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (q == MAP_FAILED)
		die("mmap private");
	/* END SOLUTION */
	//> char *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0); /* TODO: map the file's np pages, private */
	char *qk = q + (size_t)kp * ps;
	pair_open(&pr);
	pid = fork_or_die();
	if (pid == 0)
		private_child(&pr, q);
	pair_parent(&pr);
	cleanup_kill(pid);
	for (int i = 0; i < np; i++) /* both read every page first */
		(void)((volatile char *)q)[(size_t)i * ps];
	pair_signal(&pr, 'r');
	pair_recv(&pr, &r, sizeof r);
	draw2(&fm, my_row("parent", q, 0), their_row("child", &r));
	faults = faults_to_write(qk, 'p');
	strcpy(qk, "parent's copy");
	say("parent: wrote \"parent's copy\"");
	pair_signal(&pr, 'w');
	pair_recv(&pr, &r, sizeof r);
	say("parent reads \"%s\" at {addr=%p}; Pss %g page", qk, (void *)q, kb_to_pages(smaps_of(q).pss));
	check(r.addr == (uintptr_t)q, "parent and child use the same virtual address");
	agree = draw2(&fm, my_row("parent", q, faults), their_row("child", &r));
	check(strcmp(qk, "parent's copy") == 0 && strcmp(r.data, "child's copy") == 0 && agree,
	      "and read different data there: each has its own page");
	double own = (np - 1) * 0.5 + 1; /* the other pages are still shared */
	check(kb_to_pages(smaps_of(q).pss) == own && kb_to_pages(r.pss_kb) == own && !pagemap_of(qk).file_or_shared_anon,
	      one ? "each page is a private (anonymous) copy: Pss a whole page in each"
		  : "each written page is a private (anonymous) copy: a whole page of Pss in each");
	say("read() of the file: \"%s\"", file_text(fd));
	check(strcmp(file_text(fd), "hello from peer") == 0, "neither private write reached the file");
	pair_signal(&pr, 'q');
	check(strcmp(wait_child(pid), "exited 0") == 0, "the child exited 0");
	pair_close(&pr);

	if (munmap(q, len) == -1)
		die("munmap private");

	step("Two more peers, one after the other, without address randomisation (as setarch -R runs them).");
	int persona = personality(0xffffffff);
	bool fixed = persona != -1 && personality((unsigned long)persona | ADDR_NO_RANDOMIZE) != -1;
	say("personality ADDR_NO_RANDOMIZE for the peers: {noaslr=%s}", fixed ? "set" : errname(errno));
	uintptr_t at[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		pid = spawn_sibling("peer", &pr, path, nk[0], nk[1], (char *)NULL);
		pair_recv(&pr, &r, sizeof r);
		at[i] = r.addr;
		pair_signal(&pr, 'q');
		if (strcmp(wait_child(pid), "exited 0") != 0)
			die_msg("peer failed");
		pair_close(&pr);
	}
	if (fixed && personality((unsigned long)persona) == -1)
		die("personality");
	say("their addresses: {addr=%#lx and %#lx}", (unsigned long)at[0], (unsigned long)at[1]);
	check(!fixed || at[0] == at[1],
	      "without randomisation two unrelated processes got the same address: only ASLR makes them differ");

	step("Clean up.");
	if (munmap(p, len) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
