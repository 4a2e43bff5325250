/*
 * peer - the unrelated program of lab 06: dev-zero forks and execs it, so it
 * shares no mapping with the lab, only what it can open by itself.
 *
 * Usage: peer R,W devzero        open /dev/zero itself and map it
 *        peer R,W fd N           map descriptor N, inherited across exec
 *        peer R,W file PATH      open a regular file by its path and map it
 *        peer R,W shm NAME       shm_open a POSIX object by its name and map it
 *
 * It maps one page MAP_SHARED, says what it reads at offset 0 (where the lab
 * wrote), writes its own text at PEER_OFF, signals 'w' and waits for 'q'
 * before it exits, so the lab looks while the peer's mapping still exists.
 */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PEER_OFF 64

int main(int argc, char **argv)
{
	lab_begin(NULL);
	if (argc < 3)
		die_msg("usage: peer R,W devzero | fd N | file PATH | shm NAME");
	struct pair pr;
	pair_import(&pr, argv[1]);
	const char *mode = argv[2], *target = argc > 3 ? argv[3] : "";
	size_t ps = page_size();

	int fd;
	if (!strcmp(mode, "devzero")) {
		fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
		say("peer: opened /dev/zero itself");
	} else if (!strcmp(mode, "fd")) {
		fd = atoi(target);
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
	} else {
		die_msg("unknown mode '%s'", mode);
	}
	if (fd == -1)
		die("open (%s)", mode);

	/* BEGIN SOLUTION */
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *p = MAP_FAILED; /* TODO: map one page of fd, shared, read-write */
	if (p == MAP_FAILED)
		die("mmap");
	if (p[0] == '\0')
		say("peer: offset 0 reads zeros");
	else
		say("peer: offset 0 reads \"%.40s\"", p);
	strcpy(p + PEER_OFF, "written by the peer");
	say("peer: wrote \"written by the peer\" at its offset");
	pair_signal(&pr, 'w');
	pair_wait(&pr); /* 'q': the lab has looked */

	if (munmap(p, ps) == -1)
		die("munmap");
	if (close(fd) == -1)
		die("close");
	pair_close(&pr);
	return 0;
}
