/*
 * shm-reader - the second unrelated program of lab 07.
 *
 * Usage: shm-reader NAME [--offset=B] [--tag=T]
 *
 * Opens the existing POSIX shm object NAME by its name only (no O_CREAT),
 * maps all of it, prints the text at offset 0 and writes a reply ("reply
 * from the reader", with " #T" when T > 0) at byte B (REPLY_OFF, wire.h).  It never saw the writer: the name is all they have
 * in common.
 */
#include "lab.h"
#include "options.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *name;
	long off = REPLY_OFF, tag = 0;
	const struct lab_option options[] = {
		{ "NAME", .text = &name, .help = "the POSIX shm object's name, \"/mmaplab-...\"" },
		{ "--offset=B", &off, 64, 2048, .help = "write the reply at byte B" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: the reply ends in \" #T\"" },
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
	say("reader: offset 0 reads \"%.50s\"", p);
	char reply[64];
	snprintf(reply, sizeof reply, tag ? "reply from the reader #%ld" : "reply from the reader", tag);
	strcpy(p + off, reply);
	say("reader: wrote \"%s\" at its offset", reply);
	if (munmap(p, size) == -1 || close(fd) == -1)
		die("munmap/close");
	return 0;
}
