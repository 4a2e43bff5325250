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

/* Become uid/gid 65534 (nobody), as root only: the unprivileged side of a
 * step in a root run.  Returns false when this process was not root. */
static bool become_nobody(void)
{
	if (geteuid() != 0)
		return false;
	if (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1)
		die("drop to uid 65534");
	return true;
}

/* Step [10], the client of source note 1 started before its server: its one
 * helper opens with O_CREAT and sizes the file for every caller. */
static void early_client_note1(size_t ps)
{
	char path[128];
	unique_name("early", path, sizeof path);
	errno = 0;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int err = errno;
	say("a client that opens without O_CREAT: %s", fd == -1 ? errname(err) : "opened a file nobody made");
	check(fd == -1 && err == ENOENT, "without O_CREAT an early client learns at once that no server has run: ENOENT");
	if (fd != -1)
		close(fd);

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644); /* the notes' helper */
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	if (ftruncate(fd, (off_t)ps) == -1)
		die("ftruncate");
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("mmap");
	say("source note 1's client: open(O_RDWR | O_CREAT) and ftruncate made a file of %s; it prints \"%s\"",
	    file_size(fd) == (off_t)ps ? "one page" : "another size", m);
	check(file_size(fd) == (off_t)ps && m[0] == '\0',
	      "with O_CREAT the early client silently made an empty file and printed an empty line");
	if (munmap(m, ps) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
}

/* What the note-4 reader saw, sent from the child that ran it. */
struct early_report {
	bool created;
	mode_t mode;
	off_t size;
	int read_sig;   /* what its first read of the mapping raised (0: none) */
	int reopen_err; /* 0: the owner could open it O_RDWR again */
};

/* Step [10], source note 4's reader started first: open(path, O_RDWR |
 * O_CREAT, MAP_SHARED ...) -- MAP_SHARED (1) lands where the mode goes.  Run
 * in a child, as uid 65534 when we are root, in /dev/shm (a directory any
 * user may create in: root's work directory is closed to uid 65534). */
static void early_reader_note4(size_t ps)
{
	char name[128], path[160];
	unique_shm_name("mode1", name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	cleanup_unlink(path);
	struct pair p;
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		bool dropped = become_nobody();
		umask(022);
		struct early_report r;
		memset(&r, 0, sizeof r); /* padding too: the whole struct goes down the pipe */
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, MAP_SHARED); /* the notes' slip, O_EXCL ours */
		if (fd == -1)
			die("child: open %s", path);
		struct stat st;
		if (fstat(fd, &st) == -1)
			die("child: fstat");
		r.created = true;
		r.mode = st.st_mode & 07777;
		r.size = st.st_size;
		char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			die("child: mmap");
		struct probe first = probe_read(m);
		r.read_sig = first.sig;
		if (munmap(m, ps) == -1 || close(fd) == -1)
			die("child: munmap/close");
		errno = 0;
		fd = open(path, O_RDWR | O_CLOEXEC);
		r.reopen_err = fd == -1 ? errno : 0;
		if (fd != -1)
			close(fd);
		say("source note 4's reader, as an ordinary user {user=%s}: open(path, O_RDWR | O_CREAT, MAP_SHARED)",
		    dropped ? "uid 65534 in a child of this root run" : "this run's own uid");
		say("it made a file of mode %04o (MAP_SHARED is 1), %lld bytes", (unsigned)r.mode, (long long)r.size);
		say("its first read of a one-page mapping: %s", probe_str(first));
		say("its owner opens it O_RDWR again: %s", r.reopen_err ? errname(r.reopen_err) : "opened");
		pair_send(&p, &r, sizeof r);
		_exit(0);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	struct early_report r;
	pair_recv(&p, &r, sizeof r);
	const char *how = wait_child(pid);
	pair_close(&p);
	bool root = geteuid() == 0, root_opens = false;
	if (root) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		root_opens = fd != -1;
		if (fd != -1)
			close(fd);
		say("root opens it O_RDWR: {root=%s}", root_opens ? "opened (CAP_DAC_OVERRIDE)" : errname(errno));
	} else {
		say("root opens it O_RDWR: {root=not shown, this run is not root}");
	}
	check(r.read_sig == SIGBUS && r.size == 0,
	      "the early reader made a 0-byte file: its first read is SIGBUS, not an empty string");
	check(strcmp(how, "exited 0") == 0 && r.mode == 01 && r.reopen_err == EACCES && (!root || root_opens),
	      "the mode was MAP_SHARED, 1: the file's own owner cannot open it read-write (only root could)");
	if (unlink(path) == -1)
		die("unlink %s", path);
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

	step("Clean up.");
	if (close(fd) == -1)
		die("close");
	if (unlink(path) == -1)
		die("unlink");
	say("closed and removed the file");
	return lab_end();
}
