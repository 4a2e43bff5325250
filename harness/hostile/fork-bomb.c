/* Hostile submission: a fork bomb.  Contained by RLIMIT_NPROC, the PID
 * namespace (or the supervisor as subreaper) and the timeout. */
#include <unistd.h>

int main(void)
{
	for (;;)
		(void)fork();
}
