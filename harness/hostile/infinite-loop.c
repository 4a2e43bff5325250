/* Hostile submission: never ends.  Contained by the timeout (the supervisor
 * kills its process group) and RLIMIT_CPU. */
#include <stdio.h>

int main(void)
{
	puts("# Lab 99: victim");
	fflush(stdout);
	for (volatile unsigned long i = 0;; i++)
		;
}
