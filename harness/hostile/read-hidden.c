/* Hostile submission: reads the grader's hidden variant and prints it.
 * Contained under bwrap (the grader's files are not in the sandbox) and, as
 * root, by running as an unprivileged uid.  The test puts the path in HIDDEN. */
#include <stdio.h>

#define HIDDEN "@HIDDEN@"

int main(void)
{
	char line[256];
	puts("# Lab 99: victim");
	FILE *f = fopen(HIDDEN, "r");
	if (!f) {
		puts("    could not read the hidden variant");
		return 0;
	}
	while (fgets(line, sizeof line, f))
		fputs(line, stdout);
	fclose(f);
	return 0;
}
