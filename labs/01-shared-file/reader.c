/*
 * reader - the reading half of lab 01 (started by shared-file, never alone).
 *
 * Usage: reader R,W FILE TEXT     R,W: the handshake descriptors (pair_export)
 *
 * Maps FILE MAP_SHARED, then obeys one-byte commands from shared-file:
 * '0' report what offset 0 (the writer's slot) holds, '1' the same for its
 * own slot at READER_AT, 'r' store TEXT in its slot, 'q' unmap and exit.
 */
#include "common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define READER_AT 64 /* the reader's slot: the same in shared-file.c and writer.c */

/* Say what a slot holds and send its text to the main program, in a
 * NUL-terminated 48-byte buffer. */
static void tell(struct pair *boss, const char *slot)
{
	char buf[48] = "";
	snprintf(buf, sizeof buf, "%.*s", (int)sizeof buf - 1, slot);
	if (buf[0] == '\0')
		say("reader: sees zero bytes there");
	else
		say("reader: sees \"%s\"", buf);
	pair_send(boss, buf, sizeof buf);
}

int main(int argc, char **argv)
{
	lab_begin(NULL);
	if (argc != 4)
		die_msg("usage: reader R,W FILE TEXT (shared-file starts it)");
	struct pair boss;
	pair_import(&boss, argv[1]);
	size_t ps = page_size();

	int fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("reader: open %s", argv[2]);
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("reader: mmap");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd so that it sees the writer */
	say("reader: mapped the file at {reader_addr=%p}", (void *)m);

	for (;;) {
		char cmd = pair_wait(&boss);
		switch (cmd) {
		case '0':
			tell(&boss, m);
			break;
		case '1':
			tell(&boss, m + READER_AT);
			break;
		case 'r':
			snprintf(m + READER_AT, READER_AT, "%s", argv[3]);
			say("reader: stored \"%s\" at offset %d", m + READER_AT, READER_AT);
			pair_signal(&boss, 'k');
			break;
		case 'q':
			if (munmap(m, ps) == -1 || close(fd) == -1)
				die("reader: munmap/close");
			say("reader: unmapped, closed, exits");
			exit(0);
		default:
			die_msg("reader: unknown command '%c'", cmd);
		}
	}
}
