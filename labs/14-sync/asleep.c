/*
 * asleep.c - lab 14's observer (race.h): is a process asleep in the kernel
 * yet, in a futex wait?  Read from /proc/PID, as its parent may, so the
 * checks that it was woken ([3], [4], [6], [10], [12]) first see it asleep.
 */
#include "race.h"
#include "lab.h"
#include "proc.h"
#include "shm_com.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

static char wchan[64];

const char *wchan_seen(void)
{
	return wchan;
}

int lock_word(pthread_mutex_t *m)
{
	return __atomic_load_n(&m->__data.__lock, __ATOMIC_ACQUIRE);
}

/* Is pid asleep in a futex wait?  /proc/PID/wchan names the kernel function
 * it sleeps in ("futex_wait_queue" on 6.1, "futex_do_wait" on 6.18), but
 * reads "0" until the task has left the CPU; /proc/PID/syscall (readable by
 * its parent) starts with the number of the call it is in.  2: wchan says
 * futex; 1: only the system call does; 0: neither. */
static int in_futex(pid_t pid)
{
	proc_read(pid, "wchan", wchan, sizeof wchan);
	if (strstr(wchan, "futex"))
		return 2;
	char call[256];
	long nr;
	proc_read(pid, "syscall", call, sizeof call);
	return sscanf(call, "%ld", &nr) == 1 && nr == SYS_futex;
}

/* Is pid asleep in a futex wait (for a mutex m, with its word at 2)?  As
 * in_futex, or 0 when it is not asleep ('S' in /proc/PID/stat). */
static int asleep_in_futex(pid_t pid, pthread_mutex_t *m)
{
	return (m == NULL || lock_word(m) == 2) && proc_state(pid) == 'S' ? in_futex(pid) : 0;
}

bool seen_asleep(pid_t pid, pthread_mutex_t *m, int *in_call)
{
	int how = asleep_in_futex(pid, m);
	*in_call = how ? *in_call + 1 : 0;
	return how == 2 || *in_call >= 100;
}

/* false at once when the task has ended (a zombie: not reaped yet). */
bool wait_until_blocked(pid_t pid, pthread_mutex_t *m)
{
	struct timespec end = deadline_on(CLOCK_MONOTONIC, limit_ms(SPIN_MS));
	for (int in_call = 0;;) {
		char state = proc_state(pid);
		if (state == 'Z' || state == 'X')
			return false;
		if (seen_asleep(pid, m, &in_call))
			return true;
		if (past(&end, CLOCK_MONOTONIC))
			return false;
		sched_yield();
	}
}
