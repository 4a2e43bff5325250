/* Hostile submission: #includes the grader's hidden variant, so that the
 * compiler's error message would show its first lines.  Contained: the build
 * runs in the sandbox too, where the file is not there (bwrap) or not
 * readable (as root, the unprivileged uid).  The test puts the path in HIDDEN. */
#include "@HIDDEN@"

int main(void)
{
	return 0;
}
