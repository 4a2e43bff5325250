/*
 * reader - the reading half of lab 01 (started by shared-file, never alone).
 *
 * Usage: reader R,W FILE TEXT AT     R,W: its ends of the handshake pipes
 *
 * Maps FILE MAP_SHARED, then obeys one-byte commands from shared-file
 * (wire.h): '0' report what offset 0 (the writer's slot) holds, '1' the
 * same for its own slot at offset AT, 'r' store TEXT in its slot, 'l' measure
 * the writer's slot with strlen, 'q' unmap and exit.
 */
#include "lab.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ends, *path, *text;
	long at = 0;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file to map" },
		{ "TEXT", .text = &text, .help = "what to store in its slot on 'r'" },
		{ "AT", &at, 1, 1024, .help = "where its slot starts (the writer's slot is the bytes before)" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the reading half of lab 01; shared-file starts it");
	lab_begin(NULL);
	struct pair lab;
	pair_import(&lab, ends);
	size_t ps = page_size();

	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("reader: open %s", path);
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("reader: mmap");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map one page of fd so that it sees the writer */
	say("reader: mapped the file at {reader_addr=%p}", (void *)m);

	for (;;) {
		char cmd = pair_wait(&lab);
		switch (cmd) {
		case '0':
			answer_slot(&lab, "reader", m);
			break;
		case '1':
			answer_slot(&lab, "reader", m + at);
			break;
		case 'r':
			snprintf(m + at, ANSWER_SIZE, "%s", text);
			say("reader: stored \"%s\" at offset %ld", m + at, at);
			pair_signal(&lab, 'k');
			break;
		case 'l': { /* what printf("%s", m) would print: up to the first zero byte */
			long n = (long)strnlen(m, ps);
			say("reader: strlen() of the writer's slot is %ld: it runs on into offset %ld, \"%.*s\"",
			    n, at, (int)(n > at ? n - at : 0), m + at);
			pair_send(&lab, &n, sizeof n);
			break;
		}
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
