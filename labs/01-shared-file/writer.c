/*
 * writer - the writing half of lab 01 (started by shared-file, never alone).
 *
 * Usage: writer R,W FILE TEXT     R,W: the handshake descriptors (pair_export)
 *
 * Maps FILE MAP_SHARED, closes the descriptor at once, then obeys one-byte
 * commands from shared-file: 'w' store TEXT at offset 0, '1' report what
 * the reader's slot (offset READER_AT) holds, 'q' exit -- without msync and
 * without munmap.
 */
#include "common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define READER_AT 64 /* the reader's slot: the same in shared-file.c and reader.c */

/* Say what a slot holds and send its text to the main program, in a
 * NUL-terminated 48-byte buffer. */
static void tell(struct pair *boss, const char *slot)
{
	char buf[48] = "";
	snprintf(buf, sizeof buf, "%.*s", (int)sizeof buf - 1, slot);
	if (buf[0] == '\0')
		say("writer: sees zero bytes there");
	else
		say("writer: sees \"%s\"", buf);
	pair_send(boss, buf, sizeof buf);
}

int main(int argc, char **argv)
{
	lab_begin(NULL);
	if (argc != 4)
		die_msg("usage: writer R,W FILE TEXT (shared-file starts it)");
	struct pair boss;
	pair_import(&boss, argv[1]);
	size_t ps = page_size();

	int fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("writer: open %s", argv[2]);
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("writer: mmap");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd so that others see it */
	if (close(fd) == -1) /* the mapping holds its own reference to the file */
		die("writer: close");
	say("writer: mapped the file at {writer_addr=%p}, then closed its descriptor", (void *)m);

	for (;;) {
		char cmd = pair_wait(&boss);
		switch (cmd) {
		case 'w':
			snprintf(m, READER_AT, "%s", argv[3]); /* plain stores: no system call */
			say("writer: stored \"%s\" at offset 0; no msync, no munmap", m);
			pair_signal(&boss, 'k');
			break;
		case '1':
			tell(&boss, m + READER_AT);
			break;
		case 'q':
			say("writer: exits without msync or munmap");
			exit(0);
		default:
			die_msg("writer: unknown command '%c'", cmd);
		}
	}
}
