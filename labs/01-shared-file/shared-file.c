/*
 * shared-file - two unrelated programs share a regular file with MAP_SHARED.
 *
 * Usage: shared-file [--seed=S] [--reader-at=N]
 *        (run by `make lab-1`; it starts ./writer and ./reader, built beside
 *        it, with fork+exec; the defaults 0 and 64 are the public transcript)
 *
 * Story: the writer and the reader are separate programs: nothing is
 * inherited, each one opens the file and calls mmap itself.  They get
 * different virtual addresses (printed only as {tokens}: ASLR makes them
 * differ, setarch -R or valgrind may make them equal) and the same bytes,
 * because both mappings point at the one page-cache page of the file.
 * read() of the file sees a store at once, long before any msync/munmap;
 * the writer closed its descriptor right after mmap and nothing changed;
 * the reader's load never waits, so the programs need a handshake (here a
 * pipe pair) instead of sleeping and polling.  smaps charges each mapper
 * half of the page.  After the writer exits, a new reader still finds the
 * bytes: they belong to the file, not to a process.
 *
 * Then three mistakes of the source notes' sample programs, met the way a
 * student would meet them: a strncpy that fills its field leaves no
 * terminator, and the reader's printf("%s") runs on into the next field; a
 * client started before any server creates the file itself (O_CREAT) and
 * reads an empty string instead of failing; and open() given MAP_SHARED
 * where its mode belongs creates a file of mode 0001, which its own owner
 * cannot open again (root can: CAP_DAC_OVERRIDE; a root run shows both
 * sides, the owner's in a child that became uid 65534).
 */
#include "clients.h"
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The two texts: the notes' greetings for seed 0, else made from the seed. */
static char WRITER_TEXT[40] = "hello from the writer";
static char READER_TEXT[40] = "hello back from the reader";

static void make_texts(uint64_t seed)
{
	char w[2][9];
	uint64_t x = seed * 2654435761u + 1;
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 8; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			w[k][i] = (char)('a' + (x >> 33) % 26);
		}
		w[k][8] = '\0';
	}
	snprintf(WRITER_TEXT, sizeof WRITER_TEXT, "writer's word %s", w[0]);
	snprintf(READER_TEXT, sizeof READER_TEXT, "reader's answer %s", w[1]);
}

/* Send a command, return the one-byte answer. */
static char ask(struct pair *p, char cmd)
{
	pair_signal(p, cmd);
	return pair_wait(p);
}

/* Ask a helper what a slot holds ('0' or '1'): it answers with a
 * NUL-terminated ANSWER_SIZE-byte buffer (wire.h). */
static bool sees(struct pair *p, char slot, const char *text)
{
	char buf[ANSWER_SIZE];
	pair_signal(p, slot);
	pair_recv(p, buf, sizeof buf);
	return strncmp(buf, text, sizeof buf) == 0;
}

/* Print what read() returns at an offset; true when it is the text. */
static bool file_holds(int fd, off_t at, const char *text)
{
	char buf[48] = "";
	if (pread(fd, buf, sizeof buf - 1, at) == -1)
		die("pread");
	say("read() of the file at offset %lld: \"%s\"", (long long)at, buf);
	return strcmp(buf, text) == 0;
}

int main(int argc, char **argv)
{
	long seed = 0, at = 64;
	const struct lab_option options[] = {
		{ "--seed=S", &seed, 0, 999999, .help = "the two texts: 0 the notes' greetings, else words made from S" },
		{ "--reader-at=N", &at, 32, 1024, .help = "where the reader's slot starts; the writer's slot is the N bytes before" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	lab_begin(LAB_TITLE);
	if (seed)
		make_texts((uint64_t)seed);
	size_t ps = page_size();
	char path[128], at_arg[16];
	snprintf(at_arg, sizeof at_arg, "%ld", at);
	unique_name("board", path, sizeof path);
	struct pair rd, wr;

	step("Create a fresh one-page file for two unrelated programs to share.");
	int fd = create_file(path, (off_t)ps);
	say("the file: one page of zero bytes {fs=%s}", fs_type("."));

	step("Start the reader program: it opens the file, maps it MAP_SHARED and looks.");
	pid_t reader = spawn_sibling("reader", &rd, path, READER_TEXT, at_arg, (char *)NULL);
	check(sees(&rd, '0', ""), "the reader's load returns at once with zero bytes: a mapping never waits for a writer");

	step("Start the writer program: it maps the file, closes its descriptor and stores a text.");
	pid_t writer = spawn_sibling("writer", &wr, path, WRITER_TEXT, at_arg, (char *)NULL);
	if (ask(&wr, 'w') != 'k')
		die_msg("writer: unexpected answer");
	check(file_holds(fd, 0, WRITER_TEXT),
	      "read() sees the writer's bytes now: no msync, no munmap, the writer is still running");

	step("Ask the reader to look again, through the mapping it made in step 2.");
	check(sees(&rd, '0', WRITER_TEXT), "the reader sees the writer's bytes: no new mmap, no read(), nothing copied");

	step("The reader answers in its slot; the writer (descriptor closed) looks.");
	if (ask(&rd, 'r') != 'k')
		die_msg("reader: unexpected answer");
	check(sees(&wr, '1', READER_TEXT), "the writer sees the reader's answer: it works both ways, the closed descriptor changes nothing");
	check(file_holds(fd, at, READER_TEXT), "read() of the file sees the reader's answer too");

	step("The reader unmaps and exits; we map the file ourselves and ask smaps about the page.");
	pair_signal(&rd, 'q');
	const char *how = wait_child(reader);
	say("reader %s", how);
	check(strcmp(how, "exited 0") == 0, "the reader exited normally");
	pair_close(&rd);
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("mmap");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: map the file, read-only, shared */
	say("our mapping is at {main_addr=%p}; it shows \"%.40s\"", (void *)m, m);
	struct smaps s = smaps_of(m);
	say("smaps of our mapping: Rss %.2f page, Pss %.2f page", kb_to_pages(s.rss), kb_to_pages(s.pss));
	check(s.rss * 1024 == (long)ps && s.pss * 2048 == (long)ps,
	      "Rss 1 page but Pss half a page: the writer and we map the same single page");

	step("The writer exits, without msync or munmap; smaps again.");
	pair_signal(&wr, 'q');
	how = wait_child(writer);
	say("writer %s", how);
	check(strcmp(how, "exited 0") == 0, "the writer exited normally");
	pair_close(&wr);
	s = smaps_of(m);
	say("smaps of our mapping: Rss %.2f page, Pss %.2f page", kb_to_pages(s.rss), kb_to_pages(s.pss));
	check(s.pss * 1024 == (long)ps, "Pss is the whole page now: we are its only mapper, no copy was left behind");
	if (munmap(m, ps) == -1)
		die("munmap");

	step("No process maps the file now. Start a new reader.");
	reader = spawn_sibling("reader", &rd, path, READER_TEXT, at_arg, (char *)NULL);
	bool found = sees(&rd, '0', WRITER_TEXT);
	found = sees(&rd, '1', READER_TEXT) && found;
	pair_signal(&rd, 'q');
	how = wait_child(reader);
	say("reader %s", how);
	pair_close(&rd);
	check(found && strcmp(how, "exited 0") == 0,
	      "the late reader finds both texts: they live in the file, not in the exited writer");

	step("A writer fills its whole %ld-byte slot with strncpy(slot, text, %ld); a reader prints the slot with %%s.", at, at);
	writer = spawn_sibling("writer", &wr, path, WRITER_TEXT, at_arg, (char *)NULL);
	if (ask(&wr, 'n') != 'k')
		die_msg("writer: unexpected answer");
	reader = spawn_sibling("reader", &rd, path, READER_TEXT, at_arg, (char *)NULL);
	long len;
	pair_signal(&rd, 'l');
	pair_recv(&rd, &len, sizeof len);
	pair_signal(&rd, 'q');
	bool both = strcmp(wait_child(reader), "exited 0") == 0;
	pair_signal(&wr, 'q');
	both = strcmp(wait_child(writer), "exited 0") == 0 && both;
	pair_close(&rd);
	pair_close(&wr);
	check(both && len == at + (long)strlen(READER_TEXT),
	      "strncpy left no terminator: the reader's string runs on past the slot, through the reader's answer");

	step("Clients started before any writer, as the source notes write them.");
	early_client_note1(ps);
	early_reader_note4(ps);
	early_reader_note3();

	step("The modes the notes create their files with (0666, 00777), under umask 022 and under umask 0.");
	modes_left_to_umask();

	step("Another name for the file: a reader started with a hard link's path, then one with a copy's.");
	char link_path[160], copy_path[160];
	snprintf(link_path, sizeof link_path, "%s-link", path);
	snprintf(copy_path, sizeof copy_path, "%s-copy", path);
	if (link(path, link_path) == -1)
		die("link");
	cleanup_unlink(link_path);
	int copy = create_file(copy_path, 0);
	char page[ANSWER_SIZE * 32];
	ssize_t n = pread(fd, page, sizeof page, 0);
	if (n <= 0 || write(copy, page, (size_t)n) != n || ftruncate(copy, (off_t)ps) == -1)
		die("copy the file");
	struct stat orig, ln, cp;
	if (fstat(fd, &orig) == -1 || stat(link_path, &ln) == -1 || fstat(copy, &cp) == -1)
		die("stat");
	say("the link's inode is the file's: %s; the copy's: %s", ln.st_ino == orig.st_ino ? "yes" : "no",
	    cp.st_ino == orig.st_ino ? "yes" : "no");
	bool through[2];
	for (int k = 0; k < 2; k++) {
		const char *name = k ? copy_path : link_path, *what = k ? "through the copy" : "through the hard link";
		reader = spawn_sibling("reader", &rd, name, what, at_arg, (char *)NULL);
		if (ask(&rd, 'r') != 'k')
			die_msg("reader: unexpected answer");
		pair_signal(&rd, 'q');
		how = wait_child(reader);
		pair_close(&rd);
		through[k] = file_holds(fd, at, what) && strcmp(how, "exited 0") == 0;
	}
	check(through[0] && !through[1],
	      "what counts is the file, not its path: through a hard link the reader's store reaches our file, through a copy it does not");
	if (close(copy) == -1 || unlink(copy_path) == -1 || unlink(link_path) == -1)
		die("close/unlink");

	step("Clean up.");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("closed and removed the files");
	return lab_end();
}
