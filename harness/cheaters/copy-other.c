/*
 * Cheater: prints what another student's program printed for that student's
 * variant (harness/test_grade.py puts it in @TRANSCRIPT@), whatever it is
 * asked.  No experiment of its own.
 *
 * Caught twice: the grader draws this student a different variant (the
 * steps that follow from the parameters differ), and the trace has none of
 * the lab's signature (no-mechanism: 0 points).
 */
#include <stdio.h>

static const char transcript[] = @TRANSCRIPT@;

int main(void)
{
	fputs(transcript, stdout);
	return 0;
}
