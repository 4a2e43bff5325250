/*
 * writer - the short-lived program of lab 08: it writes a text into shared
 * memory and exits.  The lab then checks what is left for the next process.
 *
 * Usage: writer sysv KEY [--tag=T]   find a System V segment by its key, attach, write, detach
 *        writer file PATH ...   map an existing file MAP_SHARED, write
 *        writer shm NAME ...    map an existing POSIX shm object, write
 *        writer anon "" ...     make a MAP_SHARED|MAP_ANONYMOUS mapping, write
 *
 * The text is "hello from the writer", with " #T" when T > 0.
 */
#include "lab.h"
#include "options.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

static char text[64];

int main(int argc, char **argv)
{
	const char *mode, *arg;
	long tag = 0;
	const struct lab_option options[] = {
		{ "MODE", .text = &mode, .help = "sysv, file, shm or anon: what to write into" },
		{ "ARG", .text = &arg, .help = "the key (sysv), path (file) or name (shm); \"\" for anon" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: the text written ends in \" #T\"" },
		{ 0 }
	};
	lab_options(argc, argv, options, "the short-lived program of lab 08; sysv-persistence starts it");
	lab_begin(NULL);
	if (strcmp(mode, "sysv") && strcmp(mode, "file") && strcmp(mode, "shm") && strcmp(mode, "anon"))
		die_msg("writer: unknown mode '%s'", mode);
	size_t ps = page_size();
	snprintf(text, sizeof text, tag ? "hello from the writer #%ld" : "hello from the writer", tag);

	if (!strcmp(mode, "sysv")) {
		long k;
		if (!parse_long(arg, INT_MIN, INT_MAX, &k))
			die_msg("writer: bad key '%s'", arg);
		key_t key = (key_t)k;
		/* BEGIN SOLUTION */
		int id = shmget(key, 0, 0);
		if (id == -1)
			die("shmget");
		char *p = shmat(id, NULL, 0);
		/* END SOLUTION */
		//> int id = -1; char *p = (char *)-1; (void)key; /* TODO: find the segment by key, attach it */
		if (p == (char *)-1)
			die("shmat");
		struct shmid_ds ds;
		if (shmctl(id, IPC_STAT, &ds) == -1)
			die("shmctl IPC_STAT");
		strcpy(p, text);
		say("writer: found it by key, attached (shm_nattch %lu), wrote \"%s\"", (unsigned long)ds.shm_nattch, text);
		if (shmdt(p) == -1)
			die("shmdt");
		say("writer: detached, exiting");
		return 0;
	}

	char *p;
	int fd = -1;
	if (!strcmp(mode, "anon")) {
		p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	} else {
		fd = !strcmp(mode, "shm") ? shm_open(arg, O_RDWR, 0) : open(arg, O_RDWR | O_CLOEXEC);
		if (fd == -1)
			die("open %s", mode);
		p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	if (p == MAP_FAILED)
		die("mmap");
	strcpy(p, text);
	say("writer: mapped the %s MAP_SHARED, wrote \"%s\", exiting",
	    !strcmp(mode, "anon") ? "anonymous memory" : !strcmp(mode, "shm") ? "shm object" : "file", text);
	return 0; /* no munmap: exit tears the mapping down */
}
