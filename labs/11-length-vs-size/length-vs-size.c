/*
 * length-vs-size - a mapping longer than its file: what other processes,
 * read() and the file itself see of the part past the end.
 *
 * Usage: length-vs-size [--file-records=F] [--map-records=M] [--first-age=A]
 *        (defaults 5, 10, 20; run by `make lab-11`; execs ./writer, ./reader)
 *
 * Story: the source notes' map_normalfile1 (here: writer) makes a file with
 * room for F records of 8 bytes, maps M and fills all M; their
 * map_normalfile2 (here: reader) maps the file in another process and prints
 * M records.  All M fit in the file's one page-cache page, so while that page
 * stays in memory every mapping sees all M, although the file holds only F:
 * fstat and read() never see more than F, and no write through a mapping
 * grows the file.  read() sees the writer's F records at once, with no msync.
 * The writer's munmap writes nothing back; only write-back decides what
 * happens to the records past EOF, and that depends on the filesystem (ext4
 * zeroes the part of the page past EOF when it writes the page out, tmpfs
 * never writes it out), so the lab forces the write-back itself, and runs
 * the same writer in /dev/shm (tmpfs) beside the work directory, whatever
 * filesystem that is.  Last, the notes' own way: the writer opens an existing
 * file with O_TRUNC, which ext4 writes back when its last user lets go (at
 * the writer's munmap), in both places again.  The notes' ten-second sleep
 * is replaced by a pipe handshake.  The reader draws the page (strip.h).
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long F = 5, M = 10, A = 20;
static char opt_f[32], opt_m[32], opt_a[32];

/* Run the reader to the end with up to two more options; it reports how
 * many records it found intact (what the writer stored) and how many all zero. */
static void run_reader(const char *file, const char *opt, const char *opt2, int *intact, int *zeros)
{
	struct pair p;
	pid_t pid = spawn_sibling("reader", &p, file, opt_m, opt_a, opt ? opt : opt2, opt ? opt2 : NULL, (char *)NULL);
	*intact = pair_wait(&p);
	*zeros = pair_wait(&p);
	pair_close(&p);
	const char *how = wait_child(pid);
	if (strcmp(how, "exited 0") != 0)
		die_msg("reader %s", how);
}

/* Start the writer on file (extra: NULL, "--quiet" or "--trunc") and wait
 * until it has filled its mapping. */
static pid_t start_writer(struct pair *w, const char *file, const char *extra, const char *extra2)
{
	pid_t pid = spawn_sibling("writer", w, file, opt_f, opt_m, opt_a, extra, extra2, (char *)NULL);
	if (pair_wait(w) != 'i')
		die_msg("writer: unexpected handshake message");
	return pid;
}

/* Tell the writer to unmap, wait for it, and say how it ended. */
static const char *unmap_writer(struct pair *w, pid_t pid)
{
	pair_signal(w, 'u');
	if (pair_wait(w) != 'u')
		die_msg("writer: unexpected handshake message");
	pair_close(w);
	return wait_child(pid);
}

static off_t records_in_file(int fd)
{
	return file_size(fd) / (off_t)sizeof(people);
}

/* read() up to M records from the start of the file; how many came back
 * and how many of them hold what the writer stored. */
static int read_records(int fd, int *intact)
{
	people buf[MAX_RECORDS];
	ssize_t n = pread(fd, buf, sizeof(people) * (size_t)M, 0);
	if (n == -1)
		die("pread");
	*intact = 0;
	for (int i = 0; i < n / (ssize_t)sizeof(people); i++)
		*intact += as_written(&buf[i], i, (int)A);
	return (int)(n / (ssize_t)sizeof(people));
}

/* What a reader found past EOF, in words ("all zero" ...). */
static const char *past_eof(int intact, int zeros)
{
	static char buf[2][32];
	static int which;
	char *b = buf[which++ % 2];
	if (intact == M)
		snprintf(b, sizeof buf[0], "%c..%c still there", (char)('a' + F), (char)('a' + M - 1));
	else
		snprintf(b, sizeof buf[0], "%s", intact == F && zeros == M - F ? "all zero" : "mixed");
	return b;
}

/* The expectation for a file on fs after its page was written back: ext4
 * zeroes the tail, tmpfs keeps it; another filesystem is not predicted. */
static bool as_fs_keeps(const char *fs, int intact, int zeros)
{
	return !strcmp(fs, "ext4") ? intact == F && zeros == M - F : !strcmp(fs, "tmpfs") ? intact == M : true;
}

/* A file left by an earlier run: F records of something else. */
static void old_file(const char *path)
{
	int fd = create_file(path, 0);
	people old[MAX_RECORDS];
	memset(old, 'z', sizeof old);
	if (write(fd, old, sizeof(people) * (size_t)F) != (ssize_t)(sizeof(people) * (size_t)F) || close(fd) == -1)
		die("write/close %s", path);
}

int main(int argc, char **argv)
{
	const struct lab_option options[] = {
		{ "--file-records=F", &F, 1, 8, .help = "the writer makes a file with room for F records ..." },
		{ "--map-records=M", &M, 10, MAX_RECORDS, .help = "... and maps and fills M" },
		{ "--first-age=A", &A, 0, 1000, .help = "the first record's age" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	lab_begin(LAB_TITLE);
	snprintf(opt_f, sizeof opt_f, "--file-records=%ld", F);
	snprintf(opt_m, sizeof opt_m, "--map-records=%ld", M);
	snprintf(opt_a, sizeof opt_a, "--first-age=%ld", A);
	char file[128], shm[160], name[128];
	unique_name("people", file, sizeof file);
	cleanup_unlink(file); /* the writer creates it */
	unique_shm_name("people-shm", name, sizeof name);
	snprintf(shm, sizeof shm, "/dev/shm%s", name);
	cleanup_unlink(shm);
	const char *fs = fs_type(".");
	int intact, zeros, n;
	char tail[32];
	snprintf(tail, sizeof tail, M - F == 1 ? "%ld" : "%ld-%ld", F + 1, M);

	step("Start the writer: it creates a file with room for %ld records, maps %ld and fills all %ld.", F, M, M);
	struct pair w;
	pid_t writer = start_writer(&w, file, NULL, NULL);
	int fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		die("open %s", file);
	say("file size: %lld records {fs=%s}", (long long)records_in_file(fd), fs);
	check(records_in_file(fd) == F, "writing %ld records through the mapping did not grow the file", M);

	step("read() the file while the writer still holds its mapping; nobody has called msync.");
	n = read_records(fd, &intact);
	say("read() returned %d records, %d of them as the writer stored them", n, intact);
	check(n == F && intact == F,
	      "read() sees the writer's records at once: the mapping is the file's page cache, not a private copy");

	step("Run the reader while the writer still holds its mapping.");
	run_reader(file, "--strip", NULL, &intact, &zeros);
	check(intact == M, "a second process sees all %ld records: %s lie past EOF but in the same page as 1-%ld", M,
	      tail, F);

	step("Tell the writer to unmap (still no msync), then run the reader again.");
	const char *how = unmap_writer(&w, writer);
	say("writer %s; file size: %lld records", how, (long long)records_in_file(fd));
	run_reader(file, "--strip", NULL, &intact, &zeros);
	check(intact == M, "before write-back a new mapping still sees all %ld: munmap neither wrote the page back nor cleared it",
	      M);

	step("Force the write-back with fsync, then look with fstat, read() and the reader.");
	/* BEGIN SOLUTION */
	if (fsync(fd) == -1)
		die("fsync");
	/* END SOLUTION */
	//> /* TODO: force the write-back of the file's dirty page */
	n = read_records(fd, &intact);
	say("file size: %lld records; read() returned %d records, %d of them as stored",
	    (long long)records_in_file(fd), n, intact);
	check(records_in_file(fd) == F && n == F && intact == F, "the file holds exactly the first %ld records", F);
	run_reader(file, "--past-eof-as-token", "--strip", &intact, &zeros);
	char here[32];
	snprintf(here, sizeof here, "%s", past_eof(intact, zeros));
	check(as_fs_keeps(fs, intact, zeros), "after write-back a new mapping shows what the filesystem keeps past EOF {fs=%s}",
	      fs);

	step("The same writer in /dev/shm, a tmpfs, beside the work directory: unmap, fsync, reader.");
	writer = start_writer(&w, shm, "--quiet", NULL);
	how = unmap_writer(&w, writer);
	say("writer: %ld records in a file with room for %ld, unmapped; writer %s", M, F, how);
	int sfd = open(shm, O_RDWR | O_CLOEXEC);
	if (sfd == -1)
		die("open %s", shm);
	if (fsync(sfd) == -1 || close(sfd) == -1)
		die("fsync/close %s", shm);
	run_reader(shm, "--summary", "--strip", &intact, &zeros);
	say("after fsync, records %s past EOF: work directory {fs=%s} {past_eof=%s}; /dev/shm (tmpfs) %s", tail, fs, here,
	    past_eof(intact, zeros));
	bool memory_fs = !strcmp(fs, "tmpfs") || !strcmp(fs, "ramfs");
	say("a disk filesystem on the left? {disk=%s}", memory_fs ? "no, both are in memory: rerun with TMPDIR=/var/tmp make lab-11"
								 : "yes");
	check(intact == M, "tmpfs has nothing to write back: fsync leaves records %s in its page", tail);
	if (unlink(shm) == -1)
		die("unlink %s", shm);

	step("The notes' own writer opens an existing file with O_TRUNC: in both places, reader after its munmap.");
	char old[128], old_shm[160];
	unique_name("old", old, sizeof old);
	unique_shm_name("old-shm", name, sizeof name);
	snprintf(old_shm, sizeof old_shm, "/dev/shm%s", name);
	old_file(old);
	old_file(old_shm);
	say("two files of %ld records left by an earlier run; this lab holds neither open", F);
	say("the work directory's file: writer with O_TRUNC, munmap, then the reader");
	writer = start_writer(&w, old, "--trunc", "--quiet");
	unmap_writer(&w, writer);
	run_reader(old, "--summary", "--past-eof-as-token", &intact, &zeros);
	bool here_ok = as_fs_keeps(fs, intact, zeros);
	say("the file in /dev/shm: writer with O_TRUNC, munmap, then the reader");
	writer = start_writer(&w, old_shm, "--trunc", "--quiet");
	unmap_writer(&w, writer);
	run_reader(old_shm, "--summary", NULL, &intact, &zeros);
	check(here_ok && intact == M,
	      "with no fsync, a truncated file's tail is gone after munmap on ext4 (written back), kept on tmpfs {fs=%s}", fs);
	if (unlink(old) == -1 || unlink(old_shm) == -1)
		die("unlink");

	step("Clean up.");
	if (close(fd) == -1)
		die("close");
	if (unlink(file) == -1)
		die("unlink");
	say("closed and removed the files");
	return lab_end();
}
