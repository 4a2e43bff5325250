/*
 * Cheater: reads its arguments and prints the lines the reference prints for
 * them, computed without doing the experiment: no mmap, no shm, no ftruncate.
 * The cleverest arithmetic could do no better than to print exactly the right
 * text, so harness/test_grade.py hands it the right text for the arguments the
 * grader will pass (@ARGS@: the student's drawn variant, @TRANSCRIPT@: the
 * reference's output for it); for any other arguments it prints nothing.
 *
 * Caught by the signature: the transcript is right, the trace has no MAP_SHARED
 * mapping of a file, no ftruncate, no mremap (no-mechanism: 0 points).
 */
#include <stdio.h>
#include <string.h>

static const char args[] = @ARGS@;
static const char transcript[] = @TRANSCRIPT@;

int main(int argc, char **argv)
{
	char got[4096] = "";
	for (int i = 1; i < argc; i++) {
		if (i > 1)
			strncat(got, " ", sizeof got - strlen(got) - 1);
		strncat(got, argv[i], sizeof got - strlen(got) - 1);
	}
	if (strcmp(got, args) != 0)
		return 1;
	fputs(transcript, stdout);
	return 0;
}
