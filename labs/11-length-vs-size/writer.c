/*
 * writer - the source notes' map_normalfile1, run by length-vs-size as a
 * separate program.
 *
 * Usage: writer R,W FILE     (R,W: its ends of the handshake pipes)
 *
 * Creates FILE fresh with room for 5 records (seek to the last byte, write
 * one ' '), maps 10 records MAP_SHARED, closes the descriptor, fills all 10
 * records and says "initialize over".  Where the notes' program slept ten
 * seconds it waits for the lab to send 'u', then unmaps (no msync) and says
 * "umap ok".
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
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file to create (it must not exist)" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the notes' map_normalfile1 for lab 11; length-vs-size starts it");
	lab_begin(NULL);
	struct pair lab;
	pair_import(&lab, ends);

	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	if (lseek(fd, sizeof(people) * 5 - 1, SEEK_SET) == -1)
		die("lseek");
	if (write(fd, " ", 1) != 1)
		die("write");
	say("writer: created the file with room for 5 records");
	/* BEGIN SOLUTION */
	people *p_map = mmap(NULL, sizeof(people) * 10, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> people *p_map = mmap(NULL, sizeof(people) * 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map 10 records of fd, shared */
	if (p_map == MAP_FAILED)
		die("mmap");
	if (close(fd) == -1)
		die("close");
	say("writer: mapped 10 records MAP_SHARED and closed the descriptor");

	char temp = 'a';
	for (int i = 0; i < 10; i++) {
		snprintf(p_map[i].name, sizeof p_map[i].name, "%c", temp);
		p_map[i].age = 20 + i;
		temp += 1;
	}
	say("writer: wrote records a..j with ages 20..29");
	say("writer: initialize over");
	pair_signal(&lab, 'i');

	if (pair_wait(&lab) != 'u')
		die_msg("writer: unexpected handshake message");
	if (munmap(p_map, sizeof(people) * 10) == -1)
		die("munmap");
	say("writer: umap ok (no msync was called)");
	pair_signal(&lab, 'u');
	pair_close(&lab);
	return 0;
}
