/* Hostile submission: tries to write outside its work directory: into the
 * grader's tree, /tmp and the home directory.  Contained under bwrap (none
 * of these is writable or even there) and, as root, by running as an
 * unprivileged uid.  The test puts the grader's path in GRADER_ROOT. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GRADER_ROOT "@GRADER_ROOT@"

static void try(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	printf("    write %s: %s\n", path, fd == -1 ? "refused" : "WRITTEN");
	if (fd != -1) {
		(void)!write(fd, "pwned\n", 6);
		close(fd);
	}
}

int main(void)
{
	puts("# Lab 99: victim");
	printf("    running as uid %d\n", (int)getuid());
	try(GRADER_ROOT "/expected/99-victim.txt");
	try(GRADER_ROOT "/harness/pwned.py");
	try("/tmp/mmaplab-hostile-pwned");
	try("/root/mmaplab-hostile-pwned");
	return 0;
}
