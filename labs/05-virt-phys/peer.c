/*
 * peer - the unrelated process of lab 05 (virt-phys execs it).
 *
 * Usage: peer R,W FILE      (R,W: its ends of the handshake pipes)
 *
 * Maps FILE MAP_SHARED, reads it, reports what its own /proc/self/smaps and
 * pagemap say about the page, then on 'w' writes "hello from peer" and on
 * 'q' leaves.  It shares no memory with the lab except through the file.
 */
#include "lab.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ends, *path;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file to map" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the unrelated process of lab 05; virt-phys starts it");
	lab_begin(NULL);
	struct pair pr;
	pair_import(&pr, ends);
	size_t ps = page_size();
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("peer: open");
	/* BEGIN SOLUTION */
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("peer: mmap");
	/* END SOLUTION */
	//> char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd, shared */

	struct peer_report r = { .addr = (uintptr_t)p };
	snprintf(r.data, sizeof r.data, "%s", p); /* the first touch */
	struct smaps s = smaps_of(p);
	r.pfn = pagemap_of(p).pfn;
	r.rss_kb = s.rss;
	r.pss_kb = s.pss;
	r.shared_kb = s.shared_clean + s.shared_dirty;
	say("peer: mapped the file at {addr=%p} and reads \"%s\"", (void *)p, r.data);
	say("peer: Rss %g page, Pss %g page, Shared_Clean + Shared_Dirty %g page",
	    kb_to_pages(r.rss_kb), kb_to_pages(r.pss_kb), kb_to_pages(r.shared_kb));
	pair_send(&pr, &r, sizeof r);

	char cmd;
	while ((cmd = pair_wait(&pr)) != 'q') {
		strcpy(p, "hello from peer");
		say("peer: wrote \"%s\" at its address", p);
		pair_signal(&pr, 'd');
	}
	if (munmap(p, ps) == -1 || close(fd) == -1)
		die("peer: cleanup");
	pair_close(&pr);
	return 0;
}
