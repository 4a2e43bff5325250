/*
 * length-vs-size - a mapping longer than its file: what other processes,
 * read() and the file itself see of the part past the end.
 *
 * Usage: length-vs-size      (run by `make lab-11`; execs ./writer, ./reader)
 *
 * Story: the source notes' map_normalfile1 (here: writer) makes a file with
 * room for 5 records of 8 bytes, maps 10 and fills all 10; their
 * map_normalfile2 (here: reader) maps the file in another process and prints
 * 10 records.  All 10 fit in the file's one page-cache page, so while that
 * page stays in memory every mapping sees all 10, although the file holds
 * only 5: fstat and read() never see more than 5, and no write through a
 * mapping grows the file.  read() sees the writer's 5 records at once, with
 * no msync.  The writer's munmap writes nothing back; only write-back
 * decides what happens to records 6-10, and that depends on the filesystem
 * (ext4 zeroes the part of the page past EOF when it writes the page out,
 * tmpfs never writes it out), so the lab forces the write-back itself.
 * The notes' ten-second sleep is replaced by a pipe handshake.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Run the reader to the end; it reports how many records it found intact
 * (what the writer stored) and how many all zero. */
static void run_reader(const char *file, const char *opt, int *intact, int *zeros)
{
	struct pair p;
	pid_t pid = spawn_sibling("reader", &p, file, opt, (char *)NULL); /* opt NULL: no option */
	*intact = pair_wait(&p);
	*zeros = pair_wait(&p);
	pair_close(&p);
	const char *how = wait_child(pid);
	if (strcmp(how, "exited 0") != 0)
		die_msg("reader %s", how);
}

static off_t records_in_file(int fd)
{
	return file_size(fd) / (off_t)sizeof(people);
}

/* read() up to 10 records from the start of the file; how many came back
 * and how many of them hold what the writer stored. */
static int read_records(int fd, int *intact)
{
	people buf[10];
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	if (n == -1)
		die("pread");
	*intact = 0;
	for (int i = 0; i < n / (ssize_t)sizeof(people); i++)
		*intact += as_written(&buf[i], i);
	return (int)(n / (ssize_t)sizeof(people));
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	char file[128];
	unique_name("people", file, sizeof file);
	cleanup_unlink(file); /* the writer creates it */
	int intact, zeros, n;

	step("Start the writer: it creates a file with room for 5 records, maps 10 and fills all 10.");
	struct pair w;
	pid_t writer = spawn_sibling("writer", &w, file, (char *)NULL);
	if (pair_wait(&w) != 'i')
		die_msg("writer: unexpected handshake message");
	int fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("open %s", file);
	say("file size: %lld records {fs=%s}", (long long)records_in_file(fd), fs_type("."));
	check(records_in_file(fd) == 5, "writing 10 records through the mapping did not grow the file");

	step("read() the file while the writer still holds its mapping; nobody has called msync.");
	n = read_records(fd, &intact);
	say("read() returned %d records, %d of them as the writer stored them", n, intact);
	check(n == 5 && intact == 5,
	      "read() sees the writer's records at once: the mapping is the file's page cache, not a private copy");

	step("Run the reader while the writer still holds its mapping.");
	run_reader(file, NULL, &intact, &zeros);
	check(intact == 10,
	      "a second process sees all 10 records: 6-10 lie past EOF but in the same page as 1-5");

	step("Tell the writer to unmap (still no msync), then run the reader again.");
	pair_signal(&w, 'u');
	if (pair_wait(&w) != 'u')
		die_msg("writer: unexpected handshake message");
	pair_close(&w);
	say("writer %s; file size: %lld records", wait_child(writer), (long long)records_in_file(fd));
	run_reader(file, NULL, &intact, &zeros);
	check(intact == 10,
	      "before write-back a new mapping still sees all 10: munmap neither wrote the page back nor cleared it");

	step("Force the write-back with fsync, then look with fstat, read() and the reader.");
	/* BEGIN SOLUTION */
	if (fsync(fd) == -1)
		die("fsync");
	/* END SOLUTION */
	//> /* TODO: force the write-back of the file's dirty page */
	n = read_records(fd, &intact);
	say("file size: %lld records; read() returned %d records, %d of them as stored",
	    (long long)records_in_file(fd), n, intact);
	check(records_in_file(fd) == 5 && n == 5 && intact == 5, "the file holds exactly the first 5 records");
	run_reader(file, "--past-eof-as-token", &intact, &zeros);
	const char *fs = fs_type(".");
	check(!strcmp(fs, "ext4") ? intact == 5 && zeros == 5 : !strcmp(fs, "tmpfs") ? intact == 10 : true,
	      "after write-back a new mapping shows what the filesystem keeps past EOF {fs=%s}", fs);

	step("Clean up.");
	if (close(fd) == -1)
		die("close");
	if (unlink(file) == -1)
		die("unlink");
	say("closed and removed the file");
	return lab_end();
}
