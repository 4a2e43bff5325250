/*
 * writer - the writing half of lab 01 (started by shared-file, never alone).
 *
 * Usage: writer R,W FILE TEXT AT     R,W: its ends of the handshake pipes
 *
 * Maps FILE MAP_SHARED, closes the descriptor at once, then obeys one-byte
 * commands from shared-file (wire.h): 'w' store TEXT at offset 0, 'n' fill
 * the whole slot (AT bytes) with strncpy, '1' report what the reader's slot
 * (offset AT) holds, 'q' exit -- without msync and without munmap.
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
		{ "TEXT", .text = &text, .help = "what to store at offset 0 on 'w'" },
		{ "AT", &at, 1, 1024, .help = "where the reader's slot starts: the writer's slot is the AT bytes before" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the writing half of lab 01; shared-file starts it");
	lab_begin(NULL);
	struct pair lab;
	pair_import(&lab, ends);
	size_t ps = page_size();

	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("writer: open %s", path);
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
		char cmd = pair_wait(&lab);
		switch (cmd) {
		case 'w':
			snprintf(m, (size_t)at, "%s", text); /* plain stores: no system call */
			say("writer: stored \"%s\" at offset 0; no msync, no munmap", m);
			pair_signal(&lab, 'k');
			break;
		case 'n': { /* the source notes' strncpy(dst, src, size of dst) with a long src */
			char fill[1025];
			size_t len = strlen(text);
			for (long i = 0; i < at; i++)
				fill[i] = i % (long)(len + 1) == (long)len ? ' ' : text[i % (long)(len + 1)];
			fill[at] = '\0';
			strncpy(m, fill, (size_t)at);
			say("writer: strncpy(slot, text, %ld) of a %ld-character text: %ld bytes, no terminator", at, at, at);
			pair_signal(&lab, 'k');
			break;
		}
		case '1':
			answer_slot(&lab, "writer", m + at);
			break;
		case 'q':
			say("writer: exits without msync or munmap");
			exit(0);
		default:
			die_msg("writer: unknown command '%c'", cmd);
		}
	}
}
