/*
 * anon-fork - anonymous shared memory across fork.
 *
 * Usage: anon-fork              (run by `make lab-2`)
 *
 * Story: a MAP_SHARED|MAP_ANONYMOUS mapping made before fork is one piece of
 * memory seen by parent and child at the same virtual address: each sees
 * the other's stores.  A MAP_PRIVATE|MAP_ANONYMOUS mapping made the same way
 * starts with the same bytes but each side's stores stay its own.  The
 * kernel backs the shared one with an unnamed shmem file (maps calls it
 * "/dev/zero (deleted)"): with no name to open, only a forked child gets it.
 * Then seed 003's "people" example, with a pipe handshake in place of
 * two- and five-second sleeps, and a file-backed MAP_SHARED mapping inherited over
 * fork whose descriptor was closed before the fork.  Mappings never block:
 * the handshake, not a one-microsecond usleep, is what lets the reader see the data.
 */
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
	char name[4];
	int age;
} people; /* seed 003's record */

static void child_shared_vs_private(struct pair *p, volatile int *shared, volatile int *private,
				    void *parent_start)
{
	void *start = (void *)maps_of((const void *)shared).start;
	say("child: the shared mapping starts at {child_addr=%p}", start);
	pair_signal(p, start == parent_start ? 's' : 'd');
	pair_wait(p); /* go */
	*shared = 2;
	*private = 2;
	say("child: stored 2 in both mappings");
	pair_signal(p, 'k');
	pair_wait(p); /* the parent has stored 3 */
	say("child: reads shared %d, private %d", *shared, *private);
	pair_signal(p, (char)('0' + *shared));
	pair_signal(p, (char)('0' + *private));
	_exit(0);
}

static void child_people(struct pair *p, people *p_map)
{
	pair_wait(p); /* the parent has written the records (the seed sleeps 2 s) */
	for (int i = 0; i < 5; i++)
		say("child read: the %d people's age is %d (name %s)", i + 1, p_map[i].age, p_map[i].name);
	p_map[0].age = 100;
	say("child: set the first age to 100");
	pair_signal(p, 'k'); /* the seed: the parent sleeps 5 s */
	_exit(0);
}

static void child_file(struct pair *p, char *m)
{
	pair_wait(p); /* seed 004 sleeps 1 µs "so the child can read the data" */
	say("child: reads \"%s\"", m);
	pair_signal(p, strcmp(m, "I am the parent") == 0 ? 'y' : 'n');
	_exit(0);
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, LAB_TITLE);
	lab_begin(LAB_TITLE);
	size_t ps = page_size();
	struct pair p;

	step("Map one page MAP_SHARED|MAP_ANONYMOUS and one MAP_PRIVATE|MAP_ANONYMOUS; store 1 in each.");
	/* BEGIN SOLUTION */
	int *shared = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap shared");
	/* END SOLUTION */
	//> int *shared = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* TODO: a page parent and child share */
	int *private = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (private == MAP_FAILED)
		die("mmap private");
	*shared = *private = 1;
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
		child_shared_vs_private(&p, shared, private, start);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	check(pair_wait(&p) == 's', "the child has it at the parent's address: fork copies the address space layout");

	step("The child stores 2 in both mappings; the parent reads.");
	pair_signal(&p, 'g');
	pair_wait(&p);
	say("parent: reads shared %d, private %d", *shared, *private);
	check(*shared == 2, "the child's store to the shared page reaches the parent");
	check(*private == 1, "the child's store to the private page does not: it got its own copy");

	step("The parent stores 3 in both mappings; the child reads.");
	*shared = *private = 3;
	pair_signal(&p, 'g');
	char s = pair_wait(&p), v = pair_wait(&p);
	const char *how = wait_child(pid);
	say("child %s", how);
	check(s == '3', "the parent's store to the shared page reaches the child");
	check(v == '2', "the parent's store to the private page does not: the child still has its own 2");
	pair_close(&p);
	if (munmap(shared, ps) == -1 || munmap(private, ps) == -1)
		die("munmap");

	step("Seed 003, example 2: ten people records, shared and anonymous; fork; the parent fills five.");
	people *p_map = mmap(NULL, sizeof(people) * 10, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p_map == MAP_FAILED)
		die("mmap people");
	pair_open(&p);
	pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		child_people(&p, p_map);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	char temp = 'a';
	for (int i = 0; i < 5; i++) {
		temp += 1;
		p_map[i].name[0] = temp; /* the seed's memcpy(name, &temp, 2) reads past temp */
		p_map[i].name[1] = '\0';
		p_map[i].age = 20 + i;
	}
	say("parent: wrote five records, tells the child");
	pair_signal(&p, 'g');
	pair_wait(&p);
	say("parent read: the first people's age is %d", p_map[0].age);
	how = wait_child(pid);
	say("child %s", how);
	check(p_map[0].age == 100 && strcmp(how, "exited 0") == 0, "the parent reads the child's 100");
	pair_close(&p);
	if (munmap(p_map, sizeof(people) * 10) == -1)
		die("munmap people");

	step("Seed 004: a file mapped MAP_SHARED, descriptor closed, then fork; the parent writes, then tells.");
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
	pair_open(&p);
	pid = fork_or_die();
	if (pid == 0) {
		pair_child(&p);
		child_file(&p, m);
	}
	pair_parent(&p);
	cleanup_kill(pid);
	strcpy(m, "I am the parent");
	say("parent: stored \"I am the parent\", then signals the child");
	pair_signal(&p, 'g'); /* after the store: this order is what makes the child see it */
	char saw = pair_wait(&p);
	how = wait_child(pid);
	say("child %s", how);
	check(saw == 'y', "the child sees the parent's text: it inherited the mapping, no descriptor needed");
	pair_close(&p);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	char buf[32] = "";
	if (pread(fd, buf, sizeof buf - 1, 0) == -1)
		die("pread");
	say("read() of the file: \"%s\"", buf);
	check(strcmp(buf, "I am the parent") == 0, "the store is in the file too: one page-cache page behind both");

	step("Clean up.");
	if (munmap(m, ps) == -1 || close(fd) == -1 || unlink(path) == -1)
		die("munmap/close/unlink");
	say("unmapped, closed and removed the file");
	return lab_end();
}
