/*
 * anon-fork - anonymous shared memory across fork.
 *
 * Usage: anon-fork [--value=V] [--people=N] [--first-age=A] [--new-age=B]
 *        (run by `make lab-2`; the defaults 1, 5, 20, 100 are the public transcript)
 *
 * Story: a MAP_SHARED|MAP_ANONYMOUS mapping made before fork is one piece of
 * memory seen by parent and child at the same virtual address: each sees
 * the other's stores (V, then V + 1 by the child, V + 2 by the parent).  A
 * MAP_PRIVATE|MAP_ANONYMOUS mapping made the same way starts with the same
 * bytes but each side's stores stay its own.  Both start as zeros.  The
 * kernel backs the shared one with an unnamed shmem file (maps calls it
 * "/dev/zero (deleted)"): with no name to open, only a forked child gets it.
 * Then source note 3's "people" example (N records, ages from A, the child sets
 * B), with a pipe handshake in place of two- and five-second sleeps, and a
 * file-backed MAP_SHARED mapping inherited over fork whose descriptor was
 * closed before the fork.  Mappings never block: the handshake, not a
 * one-microsecond usleep, is what lets the reader see the data.  Source note 4's
 * parent copies its text without the terminating zero: over an earlier,
 * longer text the child reads the leftover.  Last, the one way into a
 * shared anonymous page without inheriting it, /proc/PID/map_files/: root
 * opens and maps it, an ordinary user gets EPERM (a root run shows both, the
 * ordinary side in a child that became uid 65534).
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"
#include "mapfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
	char name[4];
	int age;
} people; /* source note 3's record */

static void send_int(struct pair *p, int v) { pair_send(p, &v, sizeof v); }
static int recv_int(struct pair *p)
{
	int v;
	pair_recv(p, &v, sizeof v);
	return v;
}

static void child_shared_vs_private(struct pair *p, volatile int *shared, volatile int *private,
				    void *parent_start, int v)
{
	void *start = (void *)maps_of((const void *)shared).start;
	say("child: the shared mapping starts at {child_addr=%p}", start);
	pair_signal(p, start == parent_start ? 's' : 'd');
	pair_wait(p); /* go */
	*shared = v + 1;
	*private = v + 1;
	say("child: stored %d in both mappings", v + 1);
	pair_signal(p, 'k');
	pair_wait(p); /* the parent has stored v + 2 */
	say("child: reads shared %d, private %d", *shared, *private);
	send_int(p, *shared);
	send_int(p, *private);
	_exit(0);
}

static void child_people(struct pair *p, people *p_map, int n, int new_age)
{
	pair_wait(p); /* the parent has written the records (source note 3 sleeps 2 s) */
	for (int i = 0; i < n; i++)
		say("child read: the %d people's age is %d (name %s)", i + 1, p_map[i].age, p_map[i].name);
	p_map[0].age = new_age;
	say("child: set the first age to %d", new_age);
	pair_signal(p, 'k'); /* source note 3: the parent sleeps 5 s */
	_exit(0);
}

/* Source note 4's child: after the go, it reads the text and sends what it read. */
static void child_file(struct pair *p, char *m)
{
	pair_wait(p); /* source note 4 sleeps 1 µs "so the child can read the data" */
	char got[40] = "";
	snprintf(got, sizeof got, "%s", m);
	say("child: reads \"%s\"", got);
	pair_send(p, got, sizeof got);
	_exit(0);
}

/* Fork a child that runs fn(p, m) and return its pid; the parent's ends are ready. */
static pid_t fork_file_child(struct pair *p, char *m)
{
	pair_open(p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(p);
		child_file(p, m);
	}
	pair_parent(p);
	cleanup_kill(pid);
	return pid;
}

static const char *number_word(int n)
{
	static const char *w[] = { "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten" };
	return n >= 0 && n <= 10 ? w[n] : "many";
}

/* The bytes of n pages that are not zero. */
static size_t nonzero_bytes(const void *p, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += ((const volatile unsigned char *)p)[i] != 0;
	return count;
}

int main(int argc, char **argv)
{
	long V = 1, N = 5, A = 20, B = 100;
	const struct lab_option options[] = {
		{ "--value=V", &V, 1, 999, .help = "stored in both pages first; the child stores V+1, the parent V+2" },
		{ "--people=N", &N, 1, 10, .help = "how many of the ten records the parent fills" },
		{ "--first-age=A", &A, 0, 150, .help = "the first record's age; the next ones count up" },
		{ "--new-age=B", &B, 0, 999, .help = "the age the child stores in the first record (not A)" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	if (B == A)
		die_msg("anon-fork: --new-age=%ld: must differ from --first-age, or the check could not fail", B);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	int v = (int)V;
	struct pair p;

	step("Map one page MAP_SHARED|MAP_ANONYMOUS and one MAP_PRIVATE|MAP_ANONYMOUS; store %d in each.", v);
	/* BEGIN SOLUTION */
	int *shared = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap shared");
	/* END SOLUTION */
	//> int *shared = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: a page parent and child share */
	int *private = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (private == MAP_FAILED)
		die("mmap private");
	size_t zs = nonzero_bytes(shared, ps), zp = nonzero_bytes(private, ps);
	say("before any store: %zu non-zero bytes in the shared page, %zu in the private one", zs, zp);
	check(zs == 0 && zp == 0, "a fresh anonymous page reads as zeros, shared or private");
	*shared = *private = v;
	struct maps_entry me = maps_of(shared);
	void *start = (void *)me.start;
	say("shared at {parent_addr=%p}, /proc/self/maps names it \"%s\"", start, me.name);
	check(strcmp(me.name, "/dev/zero (deleted)") == 0,
	      "the shared page is backed by a deleted shmem file: no name for an unrelated process to open");
	me = maps_of(private);
	say("private at {private_addr=%p}, /proc/self/maps gives it %s", (void *)private, me.name[0] ? me.name : "no name");

	step("Fork. Where is the shared mapping in the child?");
	pair_open(&p);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		child_shared_vs_private(&p, shared, private, start, v);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	check(pair_wait(&p) == 's', "the child has it at the parent's address: fork copies the address space layout");

	step("The child stores %d in both mappings; the parent reads.", v + 1);
	pair_signal(&p, 'g');
	pair_wait(&p);
	say("parent: reads shared %d, private %d", *shared, *private);
	check(*shared == v + 1, "the child's store to the shared page reaches the parent");
	check(*private == v, "the child's store to the private page does not: it got its own copy");

	step("The parent stores %d in both mappings; the child reads.", v + 2);
	*shared = *private = v + 2;
	pair_signal(&p, 'g');
	int s = recv_int(&p), pv = recv_int(&p);
	const char *how = wait_child(pid);
	say("child %s", how);
	check(s == v + 2, "the parent's store to the shared page reaches the child");
	check(pv == v + 1, "the parent's store to the private page does not: the child still has its own %d", v + 1);
	pair_close(&p);
	if (munmap(shared, ps) == -1 || munmap(private, ps) == -1)
		die("munmap");

	step("Source note 3, example 2: ten people records, shared and anonymous; fork; the parent fills %s.", number_word((int)N));
	people *p_map = mmap(NULL, sizeof(people) * 10, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p_map == MAP_FAILED)
		die("mmap people");
	pair_open(&p);
	pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		child_people(&p, p_map, (int)N, (int)B);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	char temp = 'a';
	for (int i = 0; i < N; i++) {
		temp += 1;
		p_map[i].name[0] = temp; /* the source note's memcpy(name, &temp, 2) reads past temp */
		p_map[i].name[1] = '\0';
		p_map[i].age = (int)A + i;
	}
	say("parent: wrote %s record%s, tells the child", number_word((int)N), N == 1 ? "" : "s");
	pair_signal(&p, 'g');
	pair_wait(&p);
	say("parent read: the first people's age is %d", p_map[0].age);
	how = wait_child(pid);
	say("child %s", how);
	check(p_map[0].age == B && strcmp(how, "exited 0") == 0, "the parent reads the child's %ld", B);
	pair_close(&p);
	if (munmap(p_map, sizeof(people) * 10) == -1)
		die("munmap people");

	step("Source note 4: a file mapped MAP_SHARED, descriptor closed, then fork; the parent writes, then tells.");
	char path[128];
	unique_name("family", path, sizeof path);
	int fd = create_file(path, (off_t)ps);
	/* BEGIN SOLUTION */
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("mmap file");
	/* END SOLUTION */
	//> char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0); /* TODO: a file mapping parent and child share */
	if (close(fd) == -1)
		die("close");
	say("mapped one page of a fresh file {fs=%s}, closed the descriptor before fork", fs_type("."));
	pid = fork_file_child(&p, m);
	strcpy(m, "I am the parent");
	say("parent: stored \"I am the parent\", then signals the child");
	pair_signal(&p, 'g'); /* after the store: this order is what makes the child see it */
	char saw[40];
	pair_recv(&p, saw, sizeof saw);
	how = wait_child(pid);
	say("child %s", how);
	check(strcmp(saw, "I am the parent") == 0, "the child sees the parent's text: it inherited the mapping, no descriptor needed");
	pair_close(&p);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	char buf[32] = "";
	if (pread(fd, buf, sizeof buf - 1, 0) == -1)
		die("pread");
	say("read() of the file: \"%s\"", buf);
	check(strcmp(buf, "I am the parent") == 0, "the store is in the file too: one page-cache page behind both");

	step("Source note 4's parent copies strlen(text) bytes, no zero byte, into a file an earlier run left a longer text in.");
	strcpy(m, "I am the parent of run 10000");
	say("the file holds an earlier run's \"%s\"", m);
	pid = fork_file_child(&p, m);
	const char *now = "I am the parent of run 7";
	memcpy(m, now, strlen(now)); /* the source note's memcpy(m_ptr, buf, strlen(buf)) */
	say("parent: copied the %zu bytes of \"%s\", then signals the child", strlen(now), now);
	pair_signal(&p, 'g');
	pair_recv(&p, saw, sizeof saw);
	how = wait_child(pid);
	say("child %s", how);
	check(strcmp(how, "exited 0") == 0 && strcmp(saw, "I am the parent of run 70000") == 0,
	      "without its zero byte the new text runs on into the old one's leftover bytes");
	pair_close(&p);

	step("A page made after fork, in a child: can another process reach it? /proc/PID/map_files/");
	map_files_both_sides(ps);

	step("Clean up.");
	if (munmap(m, ps) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
