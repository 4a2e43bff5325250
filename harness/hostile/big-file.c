/* Hostile submission: writes a 10 GiB file in its work directory.
 * Contained by RLIMIT_FSIZE (SIGXFSZ at the limit); the file is removed. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static char chunk[1 << 20];
	memset(chunk, 'x', sizeof chunk);
	puts("# Lab 99: victim");
	fflush(stdout);
	int fd = open("big.dat", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1)
		return 1;
	for (long i = 0; i < 10L * 1024; i++) /* 10 GiB */
		if (write(fd, chunk, sizeof chunk) <= 0)
			return 2;
	return 0;
}
