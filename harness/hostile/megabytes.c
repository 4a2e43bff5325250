/* Hostile submission: prints 100 MB.  Contained: the grader keeps the first
 * MiB, then closes the pipe (SIGPIPE) and reports an output limit. */
#include <stdio.h>
#include <string.h>

int main(void)
{
	static char line[1024];
	memset(line, 'x', sizeof line - 2);
	line[sizeof line - 2] = '\n';
	puts("# Lab 99: victim");
	for (int i = 0; i < 100 * 1024; i++)
		fputs(line, stdout);
	return 0;
}
