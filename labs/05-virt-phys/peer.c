/*
 * peer - the unrelated process of lab 05 (virt-phys execs it).
 *
 * Usage: peer R,W FILE N K      (R,W: its ends of the handshake pipes)
 *
 * Maps the N pages of FILE MAP_SHARED, reads page K (from 0) and every other
 * page, reports what its own /proc/self/smaps and pagemap say about them,
 * then on 'w' writes "hello from peer" on page K and on 'q' leaves.  It
 * shares no memory with the lab except through the file.
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
	long n = 1, k = 0;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file to map" },
		{ "N", &n, 1, FM_MAX_PAGES, .help = "the file's pages" },
		{ "K", &k, 0, FM_MAX_PAGES - 1, .help = "the page the lab wrote, from 0" },
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
	char *p = mmap(NULL, (size_t)n * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("peer: mmap");
	/* END SOLUTION */
	//> char *p = mmap(NULL, (size_t)n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map the n pages of fd, shared */
	char *pk = p + (size_t)k * ps;
	struct peer_report r;
	report_mapping(&r, p, (int)n, (int)k); /* the first touch of every page */
	r.own_mapping = starts_mapping_of(p, fd);
	say("peer: mapped the file at {addr=%p} and reads \"%s\"", (void *)p, r.data);
	say("peer: Rss %g page, Pss %g page, Shared_Clean + Shared_Dirty %g page",
	    kb_to_pages(r.rss_kb), kb_to_pages(r.pss_kb), kb_to_pages(r.shared_kb));
	pair_send(&pr, &r, sizeof r);

	char cmd;
	while ((cmd = pair_wait(&pr)) != 'q') {
		strcpy(pk, "hello from peer");
		say("peer: wrote \"%s\" at its address", pk);
		pair_signal(&pr, 'd');
	}
	if (munmap(p, (size_t)n * ps) == -1 || close(fd) == -1)
		die("peer: cleanup");
	pair_close(&pr);
	return 0;
}
