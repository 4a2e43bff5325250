/*
 * Cheater: prints the lab's public transcript (expected/NN-slug.txt, which
 * every student has), whatever it is asked.  No mmap, no ftruncate, nothing of
 * the experiment.  harness/test_grade.py puts the transcript in @TRANSCRIPT@.
 *
 * Caught twice: with a secret the lab is graded on a variant drawn for the
 * student, whose steps that follow from its parameters differ from the public
 * ones (the steps that read the same are worth 5 % together); and the trace of
 * the run has none of the lab's signature (no-mechanism: 0 points).
 */
#include <stdio.h>

static const char transcript[] = @TRANSCRIPT@;

int main(void)
{
	fputs(transcript, stdout);
	return 0;
}
