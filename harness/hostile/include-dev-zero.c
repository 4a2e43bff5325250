/* Hostile submission: #includes /dev/zero, an endless file.  The compiler would
 * read and allocate until the machine runs out of memory.  Contained: a build
 * has RLIMIT_AS of 1 GiB per process (and, as root with control groups, 1 GiB
 * for the whole build): it fails at once, a compile error. */
#include "/dev/zero"

int main(void)
{
	return 0;
}
