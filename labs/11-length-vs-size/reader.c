/*
 * reader - the source notes' map_normalfile2, run by length-vs-size as a
 * separate program.
 *
 * Usage: reader R,W FILE [--map-records=M] [--first-age=A] [--past-eof-as-token] [--summary] [--strip]
 *
 * Maps M records of FILE MAP_SHARED (read-only: it only reads) and prints
 * them as the notes did ("name: a age 20;").  The records past the end of
 * the file (from fstat) are those the file has no room for.  With
 * --past-eof-as-token, whose content depends on the filesystem once the page
 * was written back, they are summed up in one {past_eof=...} token instead;
 * with --summary every record is summed up in one line.  --strip draws the
 * page (strip.h) as this process sees it.  Then it sends the lab two bytes:
 * how many records hold what the writer stored, and how many are all zero.
 */
#include "lab.h"
#include "options.h"
#include "proc.h"
#include "strip.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ends, *path;
	long M = 10, A = 20;
	bool token = false, summary = false, draw = false;
	const struct lab_option options[] = {
		{ "R,W", .text = &ends, .help = "its ends of the handshake pipes" },
		{ "FILE", .text = &path, .help = "the file of records to map" },
		{ "--map-records=M", &M, 1, MAX_RECORDS, .help = "map and print M records" },
		{ "--first-age=A", &A, 0, 1000, .help = "the first record's age, as the writer stored it" },
		{ "--past-eof-as-token", .flag = &token, .help = "sum the records past EOF up in one {past_eof=...} token" },
		{ "--summary", .flag = &summary, .help = "sum every record up in one line" },
		{ "--strip", .flag = &draw, .help = "draw the page: file, mapping, touch" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the notes' map_normalfile2 for lab 11; length-vs-size starts it");
	lab_begin(NULL);
	struct pair lab;
	pair_import(&lab, ends);

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	int in_file = (int)(file_size(fd) / (off_t)sizeof(people)), n = (int)M;
	/* BEGIN SOLUTION */
	people *p_map = mmap(NULL, sizeof(people) * (size_t)n, PROT_READ, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> people *p_map = mmap(NULL, sizeof(people) * (size_t)n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map M records of fd, shared */
	if (p_map == MAP_FAILED)
		die("mmap");
	struct strip pic = { .base = p_map, .columns = 1, .file_size = file_size(fd), .tail_token = token };
	if (close(fd) == -1)
		die("close");

	static const people zero;
	int intact = 0, zeros = 0, head_intact = 0, tail_intact = 0, tail_zeros = 0;
	for (int i = 0; i < n; i++) {
		bool ok = as_written(&p_map[i], i, (int)A);
		bool nothing = !memcmp(&p_map[i], &zero, sizeof zero);
		intact += ok;
		zeros += nothing;
		head_intact += i < in_file && ok;
		tail_intact += i >= in_file && ok;
		tail_zeros += i >= in_file && nothing;
		if (!summary && (i < in_file || !token))
			say("reader: name: %.4s age %d;", p_map[i].name, p_map[i].age);
	}
	char past[64], what[80];
	int tail = n - in_file;
	snprintf(past, sizeof past, tail == 1 ? "record %d" : "records %d-%d", in_file + 1, n);
	snprintf(what, sizeof what, "%s", tail_zeros == tail ? "all zero" : "mixed");
	if (tail_intact == tail)
		snprintf(what, sizeof what, "%c..%c still there", 'a' + in_file, 'a' + n - 1);
	if (summary)
		say(token ? "reader: records 1-%d %s; %s, past EOF: {past_eof=%s}" : "reader: records 1-%d %s; %s, past EOF: %s",
		    in_file, head_intact == in_file ? "as stored" : "NOT as stored", past, what);
	else if (token)
		say("reader: %s, past EOF: {past_eof=%s}", past, what);
	if (draw)
		strip_say(&pic);
	if (munmap(p_map, sizeof(people) * (size_t)n) == -1)
		die("munmap");
	pair_signal(&lab, (char)intact);
	pair_signal(&lab, (char)zeros);
	pair_close(&lab);
	return 0;
}
