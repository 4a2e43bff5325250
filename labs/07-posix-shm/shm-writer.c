/*
 * shm-writer - the first unrelated program of lab 07.
 *
 * Usage: shm-writer NAME [--pages=N] [--tag=T]
 *
 * Creates the POSIX shm object NAME (O_EXCL, mode 0600), sizes it to N pages
 * (1), writes a text at offset 0 ("hello from the writer", with " #T" when
 * T > 0) and exits WITHOUT shm_unlink: the lab then looks at what is left.
 */
#include "lab.h"
#include "options.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *name;
	long pages = 1, tag = 0;
	const struct lab_option options[] = {
		{ "NAME", .text = &name, .help = "the POSIX shm object's name, \"/mmaplab-...\"" },
		{ "--pages=N", &pages, 1, 64, .help = "make the object N pages long" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: the text written ends in \" #T\"" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the first unrelated program of lab 07; posix-shm starts it");
	lab_begin(NULL);
	size_t size = page_size() * (size_t)pages;
	char text[64];
	snprintf(text, sizeof text, tag ? "hello from the writer #%ld" : "hello from the writer", tag);

	/* BEGIN SOLUTION */
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1)
		die("shm_open %s", name);
	/* END SOLUTION */
	//> int fd = -1; /* TODO: create the object NAME (fail if it exists), read-write, mode 0600 */
	cleanup_shm_unlink(name); /* only if we die: a normal exit leaves it */
	say("writer: created the object, size %lld bytes", (long long)file_size(fd));
	/* BEGIN SOLUTION */
	if (ftruncate(fd, (off_t)size) == -1)
		die("ftruncate");
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* END SOLUTION */
	//> char *p = MAP_FAILED; /* TODO: make it `size` bytes long, map it shared read-write */
	if (p == MAP_FAILED)
		die("mmap");
	strcpy(p, text);
	say("writer: ftruncate to %ld page%s, mapped, wrote \"%s\"", pages, pages == 1 ? "" : "s", text);
	if (munmap(p, size) == -1 || close(fd) == -1)
		die("munmap/close");
	say("writer: unmapped, closed, exiting without shm_unlink");
	return 0;
}
