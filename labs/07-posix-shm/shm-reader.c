/*
 * shm-reader - the second unrelated program of lab 07.
 *
 * Usage: shm-reader NAME
 *
 * Opens the existing POSIX shm object NAME by its name only (no O_CREAT),
 * maps all of it, prints the text at offset 0 and writes a reply at
 * REPLY_OFF (wire.h).  It never saw the writer: the name is all they have
 * in common.
 */
#include "lab.h"
#include "options.h"
#include "wire.h"

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
	lab_options(argc, argv, options, "the second unrelated program of lab 07; posix-shm starts it");
	lab_begin(NULL);
	size_t ps = page_size();

	/* BEGIN SOLUTION */
	int fd = shm_open(name, O_RDWR, 0);
	/* END SOLUTION */
	//> int fd = -1; /* TODO: open the existing object NAME read-write */
	if (fd == -1)
		die("shm_open %s", name);
	size_t size = (size_t)file_size(fd);
	say("reader: opened it by name, size %zu page(s)", size / ps);
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	say("reader: offset 0 reads \"%.40s\"", p);
	strcpy(p + REPLY_OFF, "reply from the reader");
	say("reader: wrote \"reply from the reader\" at its offset");
	if (munmap(p, size) == -1 || close(fd) == -1)
		die("munmap/close");
	return 0;
}
