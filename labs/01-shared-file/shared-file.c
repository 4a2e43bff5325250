/*
 * shared-file - two unrelated programs share a regular file with MAP_SHARED.
 *
 * Usage: shared-file            (run by `make lab-1`; it starts ./writer and
 *                                ./reader, built beside it, with fork+exec)
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
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "wire.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WRITER_TEXT "hello from the writer"
#define READER_TEXT "hello back from the reader"

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
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	char path[128];
	unique_name("board", path, sizeof path);
	struct pair rd, wr;

	step("Create a fresh one-page file for two unrelated programs to share.");
	int fd = create_file(path, (off_t)ps);
	say("the file: one page of zero bytes {fs=%s}", fs_type("."));

	step("Start the reader program: it opens the file, maps it MAP_SHARED and looks.");
	pid_t reader = spawn_sibling("reader", &rd, path, READER_TEXT, (char *)NULL);
	check(sees(&rd, '0', ""), "the reader's load returns at once with zero bytes: a mapping never waits for a writer");

	step("Start the writer program: it maps the file, closes its descriptor and stores a text.");
	pid_t writer = spawn_sibling("writer", &wr, path, WRITER_TEXT, (char *)NULL);
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
	check(file_holds(fd, READER_AT, READER_TEXT), "read() of the file sees the reader's answer too");

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
	reader = spawn_sibling("reader", &rd, path, READER_TEXT, (char *)NULL);
	bool found = sees(&rd, '0', WRITER_TEXT);
	found = sees(&rd, '1', READER_TEXT) && found;
	pair_signal(&rd, 'q');
	how = wait_child(reader);
	say("reader %s", how);
	pair_close(&rd);
	check(found && strcmp(how, "exited 0") == 0,
	      "the late reader finds both texts: they live in the file, not in the exited writer");

	step("Clean up.");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("closed and removed the file");
	return lab_end();
}
