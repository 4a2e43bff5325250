/* Hostile submission: a child leaves the process group with setsid() and
 * keeps running after the lab has ended.  Contained: the supervisor finds
 * and kills it, and reports it as a process left behind. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	puts("# Lab 99: victim");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == -1)
		return 1;
	if (pid == 0) {
		if (setsid() == -1)
			_exit(1);
		if (fork() != 0) /* double fork: the daemon is an orphan */
			_exit(0);
		for (volatile unsigned long i = 0;; i++)
			;
	}
	return 0;
}
