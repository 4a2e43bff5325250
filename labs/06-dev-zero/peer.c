/*
 * peer - the unrelated program of lab 06: dev-zero forks and execs it, so it
 * shares no mapping with the lab, only what it can open by itself.
 *
 * Usage: peer R,W devzero "" [--offset=B] [--tag=T]   open /dev/zero itself and map it
 *        peer R,W fd N ...       map descriptor N, inherited across exec
 *        peer R,W file PATH ...  open a regular file by its path and map it
 *        peer R,W shm NAME ...   shm_open a POSIX object by its name and map it
 *        peer R,W mapfiles LINK ...   open /proc/PID/map_files/RANGE and map it,
 *                                quietly (what it finds depends on privilege)
 *
 * It maps one page MAP_SHARED, says what it reads at offset 0 (where the lab
 * wrote), writes its own text ("written by the peer", with " #T" if T > 0) at
 * offset B (PEER_OFF, wire.h), signals 'w' and waits for 'q' before it exits, so the lab
 * looks while the peer's mapping still exists.  If it cannot open or map,
 * it signals 'e' instead (mapfiles only; elsewhere that is an error).
 */
#include "lab.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ends, *mode, *target;
	long off = PEER_OFF, tag = 0;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "MODE", .text = &mode, .help = "devzero, fd, file, shm or mapfiles: what to open and map" },
		{ "TARGET", .text = &target, .help = "the descriptor (fd), path (file, mapfiles) or name (shm); \"\" for devzero" },
		{ "--offset=B", &off, 64, 2048, .help = "write at byte B of the page" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: the text written ends in \" #T\"" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the unrelated program of lab 06; dev-zero starts it");
	lab_begin(NULL);
	struct pair pr;
	pair_import(&pr, ends);
	size_t ps = page_size();
	bool quiet = !strcmp(mode, "mapfiles");

	int fd;
	if (!strcmp(mode, "devzero")) {
		fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
		say("peer: opened /dev/zero itself");
	} else if (!strcmp(mode, "fd")) {
		long n;
		if (!parse_long(target, 0, INT_MAX, &n))
			die_msg("peer: bad descriptor '%s'", target);
		fd = (int)n;
		int fl = fcntl(fd, F_GETFL);
		if (fl == -1)
			die("fcntl F_GETFL");
		/* O_NONBLOCK lives in the open file description, not in the descriptor */
		say("peer: inherited descriptor, O_NONBLOCK %s: the lab's own open file",
		    fl & O_NONBLOCK ? "set" : "clear");
	} else if (!strcmp(mode, "file")) {
		fd = open(target, O_RDWR | O_CLOEXEC);
		say("peer: opened the file by its path");
	} else if (!strcmp(mode, "shm")) {
		fd = shm_open(target, O_RDWR, 0);
		say("peer: shm_open'ed the object by its name");
	} else if (quiet) {
		fd = open(target, O_RDWR | O_CLOEXEC);
	} else {
		die_msg("unknown mode '%s'", mode);
	}
	if (fd == -1 && quiet) {
		pair_signal(&pr, 'e');
		pair_wait(&pr);
		return 0;
	}
	if (fd == -1)
		die("open (%s)", mode);

	/* BEGIN SOLUTION */
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *p = MAP_FAILED; /* TODO: map one page of fd, shared, read-write */
	if (p == MAP_FAILED)
		die("mmap");
	if (quiet) {
	} else if (p[0] == '\0') {
		say("peer: offset 0 reads zeros");
	} else {
		say("peer: offset 0 reads \"%.50s\"", p);
	}
	char text[64];
	snprintf(text, sizeof text, tag ? "written by the peer #%ld" : "written by the peer", tag);
	strcpy(p + off, text);
	if (!quiet)
		say("peer: wrote \"%s\" at its offset", text);
	pair_signal(&pr, 'w');
	pair_wait(&pr); /* 'q': the lab has looked */

	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	pair_close(&pr);
	return 0;
}
