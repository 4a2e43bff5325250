/* Hostile submission: fills /dev/shm with one ever-growing POSIX shm object.
 * Contained by RLIMIT_FSIZE (SIGXFSZ) and, under bwrap, a small private
 * tmpfs; the name it leaves is removed and reported. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	static char chunk[1 << 20];
	memset(chunk, 'x', sizeof chunk);
	puts("# Lab 99: victim");
	fflush(stdout);
	int fd = shm_open("/hostile-fill", O_RDWR | O_CREAT, 0600);
	if (fd == -1)
		return 1;
	for (;;)
		if (write(fd, chunk, sizeof chunk) <= 0)
			return 2;
}
