/*
 * shm-writer - the first unrelated program of lab 07.
 *
 * Usage: shm-writer NAME
 *
 * Creates the POSIX shm object NAME (O_EXCL, mode 0600), sizes it to one
 * page, writes a text at offset 0 and exits WITHOUT shm_unlink: the lab then
 * looks at what is left.
 */
#include "lab.h"
#include "options.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *name;
	const struct lab_option options[] = {
		{ "NAME", .text = &name, .help = "the POSIX shm object's name, \"/mmaplab-...\"" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the first unrelated program of lab 07; posix-shm starts it");
	lab_begin(NULL);
	size_t ps = page_size();

	/* BEGIN SOLUTION */
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1)
		die("shm_open %s", name);
	/* END SOLUTION */
	//> int fd = -1; /* TODO: create the object NAME (fail if it exists), read-write, mode 0600 */
	cleanup_shm_unlink(name); /* only if we die: a normal exit leaves it */
	say("writer: created the object, size %lld bytes", (long long)file_size(fd));
	/* BEGIN SOLUTION */
	if (ftruncate(fd, (off_t)ps) == -1)
		die("ftruncate");
	char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *p = MAP_FAILED; /* TODO: make it one page long, map it shared read-write */
	if (p == MAP_FAILED)
		die("mmap");
	strcpy(p, "hello from the writer");
	say("writer: ftruncate to 1 page, mapped, wrote \"hello from the writer\"");
	if (munmap(p, ps) == -1 || close(fd) == -1)
		die("munmap/close");
	say("writer: unmapped, closed, exiting without shm_unlink");
	return 0;
}
