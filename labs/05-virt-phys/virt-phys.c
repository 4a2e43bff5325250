/*
 * virt-phys - virtual addresses and the physical pages behind them.
 *
 * Usage: virt-phys           (run by `make lab-5`)
 *
 * Story: mmap only records an address range: no page-table entry exists
 * until the first access, which is one (minor) fault; later accesses cost
 * no fault at all.  An unrelated process (peer, exec'd) that maps the same
 * file MAP_SHARED gets the very same physical page, at an address its own
 * mmap chose: smaps shows the page shared, half a page of Pss each, and a
 * write by one is read by the other.  The other way round, after fork with
 * MAP_PRIVATE, one virtual address holds different data in parent and
 * child: each has its own copy of the page.
 *
 * Frame numbers (pagemap) need CAP_SYS_ADMIN, so they appear only inside
 * {pfn=...}; smaps and the pagemap flags are the evidence anyone can read.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Frame numbers are privileged: the verdict goes inside the token. */
static void frames(const char *a_name, uint64_t a, const char *b_name, uint64_t b)
{
	if (!pagemap_has_pfn())
		say("frames: {pfn=unavailable without CAP_SYS_ADMIN}");
	else
		say("frames: {pfn=%s %#llx, %s %#llx (%s)}", a_name, (unsigned long long)a,
		    b_name, (unsigned long long)b, a == b ? "same frame" : "different frames");
}

static const char *file_text(int fd)
{
	static char buf[24];
	if (pread(fd, buf, sizeof buf - 1, 0) != (ssize_t)(sizeof buf - 1))
		die("pread");
	return buf;
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	char path[128];
	unique_name("page", path, sizeof path);

	step("Write \"hello\" into a new one-page file, map it MAP_SHARED, do not touch it yet.");
	int fd = create_file(path, (off_t)ps);
	if (pwrite(fd, "hello", 6, 0) != 6)
		die("pwrite");
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd, shared */
	struct pagemap pm = pagemap_of(p);
	struct smaps s = smaps_of(p);
	say("smaps lists the mapping; Rss %g page; pagemap: present %d {fs=%s}", kb_to_pages(s.rss), pm.present, fs_type("."));
	check(!pm.present && s.rss == 0, "mmap mapped nothing yet: no present page-table entry, Rss 0");
	unsigned char vec = 0;
	if (mincore(p, ps, &vec) == -1)
		die("mincore");
	say("mincore: the file's page is %s", vec & 1 ? "in the page cache" : "not in the page cache");
	check(vec & 1, "the data is already in memory: what is missing is only the page-table entry");

	step("First touch: write \"hello from lab\" into the page.");
	long faults = faults_to_write(p, 'h'); /* the first byte takes the fault */
	strcpy(p, "hello from lab");
	pm = pagemap_of(p);
	say("%ld minor fault(s); pagemap: present %d; Rss %g page", faults, pm.present, kb_to_pages(smaps_of(p).rss));
	check(faults == 1 && pm.present, "one minor fault filled in the page-table entry (nothing was read from disk)");

	step("Later accesses: read every byte of the page 100 times.");
	long before = minor_faults();
	unsigned sum = 0;
	for (int round = 0; round < 100; round++)
		for (size_t i = 0; i < ps; i++)
			sum += ((volatile unsigned char *)p)[i];
	faults = minor_faults() - before;
	(void)sum;
	say("%ld minor fault(s)", faults);
	check(faults == 0, "no more faults: the MMU finds the page through the page table");

	step("An unrelated process: exec peer, which opens the file and maps it MAP_SHARED itself.");
	struct pair pr;
	pid_t pid = spawn_sibling("peer", &pr, path, (char *)NULL);
	struct peer_report r;
	pair_recv(&pr, &r, sizeof r);
	s = smaps_of(p);
	say("lab: Rss %g page, Pss %g page, Shared_Clean + Shared_Dirty %g page",
	    kb_to_pages(s.rss), kb_to_pages(s.pss), kb_to_pages(s.shared_clean + s.shared_dirty));
	check(strcmp(r.data, "hello from lab") == 0, "the peer reads what the lab wrote");
	check(kb_to_pages(s.pss) == 0.5 && kb_to_pages(r.pss_kb) == 0.5 &&
	      kb_to_pages(s.shared_clean + s.shared_dirty) == 1 && kb_to_pages(r.shared_kb) == 1,
	      "one physical page for both: each counts it as shared and is charged half of it (Pss)");
	say("addresses: {addr=lab %p, peer %#lx (%s)}", (void *)p, (unsigned long)r.addr,
	    r.addr == (uintptr_t)p ? "equal" : "different");
	say("each process's own mmap chose its address: ASLR usually makes them differ, nothing guarantees it");
	frames("lab", pm.pfn, "peer", r.pfn);

	step("The peer writes \"hello from peer\"; the lab reads at its own address.");
	pair_signal(&pr, 'w');
	pair_wait(&pr);
	say("lab reads \"%s\"; read() of the file gives \"%s\"", p, file_text(fd));
	check(strcmp(p, "hello from peer") == 0 && strcmp(file_text(fd), "hello from peer") == 0,
	      "the peer's write is in the lab's mapping and in the file at once: one page");
	pair_signal(&pr, 'q');
	check(strcmp(wait_child(pid), "exited 0") == 0, "the peer exited 0");
	pair_close(&pr);

	step("Same virtual address, different data: map the file MAP_PRIVATE, fork, both write.");
	/* BEGIN SOLUTION */
	char *q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (q == MAP_FAILED)
		die("mmap private");
	/* END SOLUTION */
	//> char *q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd, private */
	pair_open(&pr);
	pid = fork_or_die();
	if (pid == 0) {
		pair_child(&pr);
		pair_wait(&pr); /* the parent has written */
		strcpy(q, "child's copy");
		struct peer_report c = { .addr = (uintptr_t)q, .pfn = pagemap_of(q).pfn, .pss_kb = smaps_of(q).pss };
		snprintf(c.data, sizeof c.data, "%s", q);
		say("child: wrote and reads \"%s\" at {addr=%p}; Pss %g page", c.data, (void *)q, kb_to_pages(c.pss_kb));
		pair_send(&pr, &c, sizeof c);
		_exit(0);
	}
	pair_parent(&pr);
	cleanup_kill(pid);
	strcpy(q, "parent's copy");
	say("parent: wrote \"parent's copy\"");
	pair_signal(&pr, 'w');
	pair_recv(&pr, &r, sizeof r);
	say("parent reads \"%s\" at {addr=%p}; Pss %g page", q, (void *)q, kb_to_pages(smaps_of(q).pss));
	check(r.addr == (uintptr_t)q, "parent and child use the same virtual address");
	check(strcmp(q, "parent's copy") == 0 && strcmp(r.data, "child's copy") == 0,
	      "and read different data there: each has its own page");
	check(kb_to_pages(smaps_of(q).pss) == 1 && kb_to_pages(r.pss_kb) == 1 && !pagemap_of(q).file_or_shared_anon,
	      "each page is a private (anonymous) copy: Pss a whole page in each");
	say("read() of the file: \"%s\"", file_text(fd));
	check(strcmp(file_text(fd), "hello from peer") == 0, "neither private write reached the file");
	frames("parent", pagemap_of(q).pfn, "child", r.pfn);
	check(strcmp(wait_child(pid), "exited 0") == 0, "the child exited 0");
	pair_close(&pr);

	step("Clean up.");
	if (munmap(p, ps) == -1 || munmap(q, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
