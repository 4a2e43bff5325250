/* Hostile submission: ignores SIGTERM (and SIGINT, SIGHUP) and never ends.
 * Contained: the timeout uses SIGKILL on the whole process group. */
#include <signal.h>
#include <stdio.h>

int main(void)
{
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	puts("# Lab 99: victim");
	fflush(stdout);
	for (volatile unsigned long i = 0;; i++)
		;
}
