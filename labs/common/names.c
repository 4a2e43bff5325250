/*
 * names.c - unique names and keys carrying the run token (names.h).
 */
#include "names.h"
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/random.h>
#include <sys/shm.h>
#include <unistd.h>

/* MMAPLAB_RUN when it is "r" and 4 lowercase hex digits of a K in 1..0x7fff
 * (names.h), else NULL.  *k gets K. */
static const char *run_token(unsigned *k)
{
	const char *t = getenv("MMAPLAB_RUN");
	if (!t || strlen(t) != 5 || t[0] != 'r' || strspn(t + 1, "0123456789abcdef") != 4)
		return NULL;
	unsigned v = (unsigned)strtoul(t + 1, NULL, 16);
	if (v < 1 || v > 0x7fff)
		return NULL;
	if (k)
		*k = v;
	return t;
}

static unsigned random32(void)
{
	unsigned r;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		die("getrandom");
	return r;
}

/* One random number per process: its names differ only in <what>. */
static unsigned process_random(void)
{
	static unsigned r;
	static pid_t for_pid;
	if (for_pid != getpid()) {
		r = random32();
		for_pid = getpid();
	}
	return r;
}

void unique_name(const char *what, char *buf, size_t size)
{
	const char *t = run_token(NULL);
	if ((size_t)snprintf(buf, size, "mmaplab-%s%s%ld-%08x-%s", t ? t : "", t ? "-" : "",
			     (long)getpid(), process_random(), what) >= size)
		die_msg("name too long");
}

void unique_shm_name(const char *what, char *buf, size_t size)
{
	if (size < 2)
		die_msg("name too long");
	buf[0] = '/';
	unique_name(what, buf + 1, size - 1);
}

int create_file(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		die("open %s", path);
	cleanup_unlink(path);
	if (size > 0 && ftruncate(fd, size) == -1)
		die("ftruncate %s", path);
	return fd;
}

int sysv_create(size_t size, int mode, key_t *key_out)
{
	unsigned k;
	bool marked = run_token(&k) != NULL;
	for (int tries = 0; tries < 100; tries++) {
		unsigned r = random32();
		key_t key = (key_t)(marked ? k << 16 | (r & 0xffffu) : r); /* K in bits 30..16 */
		if (key == IPC_PRIVATE)
			continue;
		int id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);
		if (id == -1 && errno == EEXIST)
			continue;
		if (id == -1)
			die("shmget");
		cleanup_sysv_rmid(id);
		if (key_out)
			*key_out = key;
		return id;
	}
	die_msg("shmget: no free key after 100 tries");
}
