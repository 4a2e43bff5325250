/* Hostile (careless) submission: prints the right transcript but never
 * removes its System V segment (no IPC_RMID).  A hygiene failure: reported,
 * the segment removed. */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(void)
{
	if (shmget(IPC_PRIVATE, 77777, IPC_CREAT | 0600) /* a size the test looks for */ == -1)
		return 1;
	fputs("# Lab 99: victim\n\n[1] Do one harmless thing.\n    ok: it worked\n\n== 1 checks, all ok\n", stdout);
	return 0;
}
