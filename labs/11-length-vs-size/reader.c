/*
 * reader - the source notes' map_normalfile2, run by length-vs-size as a
 * separate program.
 *
 * Usage: reader R,W FILE [--past-eof-as-token]
 *
 * Maps 10 records of FILE MAP_SHARED (read-only: it only reads) and prints
 * them as the notes did ("name: a age 20;").  With --past-eof-as-token the
 * records past the end of the file (6-10), whose content depends on the
 * filesystem once the page was written back, are summed up in one
 * {past_eof=...} token instead.  Then it sends the lab two bytes: how many
 * records hold what the writer stored, and how many are all zero.
 */
#include "lab.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ends, *path;
	bool token = false;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file of records to map" },
		{ "--past-eof-as-token", .flag = &token, .help = "sum records 6-10 up in one {past_eof=...} token" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the notes' map_normalfile2 for lab 11; length-vs-size starts it");
	lab_begin(NULL);
	struct pair lab;
	pair_import(&lab, ends);

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	/* BEGIN SOLUTION */
	people *p_map = mmap(NULL, sizeof(people) * 10, PROT_READ, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> people *p_map = mmap(NULL, sizeof(people) * 10, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map 10 records of fd, shared */
	if (p_map == MAP_FAILED)
		die("mmap");
	if (close(fd) == -1)
		die("close");

	static const people zero;
	int intact = 0, zeros = 0, tail_intact = 0, tail_zeros = 0;
	for (int i = 0; i < 10; i++) {
		bool ok = as_written(&p_map[i], i);
		bool nothing = !memcmp(&p_map[i], &zero, sizeof zero);
		intact += ok;
		zeros += nothing;
		tail_intact += i >= 5 && ok;
		tail_zeros += i >= 5 && nothing;
		if (i < 5 || !token)
			say("reader: name: %.4s age %d;", p_map[i].name, p_map[i].age);
	}
	if (token)
		say("reader: records 6-10, past EOF: {past_eof=%s}",
		    tail_zeros == 5 ? "all zero" : tail_intact == 5 ? "f..j still there" : "mixed");
	if (munmap(p_map, sizeof(people) * 10) == -1)
		die("munmap");
	pair_signal(&lab, (char)intact);
	pair_signal(&lab, (char)zeros);
	pair_close(&lab);
	return 0;
}
