/*
 * writer - the source notes' map_normalfile1, run by length-vs-size as a
 * separate program.
 *
 * Usage: writer R,W FILE [--file-records=F] [--map-records=M] [--first-age=A] [--trunc] [--quiet]
 *        (R,W: its ends of the handshake pipes; defaults 5, 10, 20)
 *
 * Creates FILE fresh with room for F records (seek to the last byte, write
 * one ' '), maps M records MAP_SHARED, closes the descriptor, fills all M
 * records and says "initialize over".  With --trunc it opens an existing FILE
 * with O_TRUNC instead, as the notes' program does.  Where the notes' program
 * slept ten seconds it waits for the lab to send 'u', then unmaps (no msync)
 * and says "umap ok".  --quiet: no transcript lines (the lab says what it did).
 */
#include "lab.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ends, *path;
	long F = 5, M = 10, A = 20;
	bool trunc = false, quiet = false;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file to create (it must not exist, unless --trunc)" },
		{ "--file-records=F", &F, 1, MAX_RECORDS, .help = "room for F records in the file" },
		{ "--map-records=M", &M, 1, MAX_RECORDS, .help = "map and fill M records" },
		{ "--first-age=A", &A, 0, 1000, .help = "the first record's age" },
		{ "--trunc", .flag = &trunc, .help = "open the existing FILE with O_TRUNC, as the notes do" },
		{ "--quiet", .flag = &quiet, .help = "print nothing" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the notes' map_normalfile1 for lab 11; length-vs-size starts it");
	lab_begin(NULL);
	struct pair lab;
	pair_import(&lab, ends);

	int fd = open(path, trunc ? O_RDWR | O_TRUNC | O_CLOEXEC : O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	if (lseek(fd, (off_t)sizeof(people) * F - 1, SEEK_SET) == -1)
		die("lseek");
	if (write(fd, " ", 1) != 1)
		die("write");
	if (!quiet)
		say("writer: created the file with room for %ld records", F);
	/* BEGIN SOLUTION */
	people *p_map = mmap(NULL, sizeof(people) * (size_t)M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> people *p_map = mmap(NULL, sizeof(people) * (size_t)M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map M records of fd, shared */
	if (p_map == MAP_FAILED)
		die("mmap");
	if (close(fd) == -1)
		die("close");
	if (!quiet)
		say("writer: mapped %ld records MAP_SHARED and closed the descriptor", M);

	char temp = 'a';
	for (int i = 0; i < M; i++) {
		snprintf(p_map[i].name, sizeof p_map[i].name, "%c", temp);
		p_map[i].age = (int)A + i;
		temp += 1;
	}
	if (!quiet) {
		say("writer: wrote records a..%c with ages %ld..%ld", (char)('a' + M - 1), A, A + M - 1);
		say("writer: initialize over");
	}
	pair_signal(&lab, 'i');

	if (pair_wait(&lab) != 'u')
		die_msg("writer: unexpected handshake message");
	if (munmap(p_map, sizeof(people) * (size_t)M) == -1)
		die("munmap");
	if (!quiet)
		say("writer: umap ok (no msync was called)");
	pair_signal(&lab, 'u');
	pair_close(&lab);
	return 0;
}
