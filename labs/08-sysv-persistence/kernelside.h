/*
 * kernelside.h - lab 08's steps [11] to [13]: the segment seen from the
 * kernel's side, and who may attach it.
 *
 * [11] The segment's file (/SYSV<key> on the kernel's internal shm mount)
 *      opened through /proc/self/map_files/<range>: an ordinary user gets
 *      EPERM, root (CAP_SYS_ADMIN) opens it and read() and write() work on it
 *      like on any file.  A root run shows both sides, the ordinary one in a
 *      child that became uid 65534; an ordinary run shows its side and says,
 *      in {root=...}, that it could not show root's.
 * [12] The System V limits and shm_rmid_forced, set in a private IPC
 *      namespace of a child (a new user namespace makes that possible without
 *      privilege, and the host's settings are never touched): shmmax is the
 *      largest segment, shmmni the number of segments, shm_rmid_forced makes
 *      the last detach destroy a segment.
 * [13] A segment's mode is checked at shmat and is not filtered by the
 *      umask: source note 3's 0666 (ShareMem_2) lets every user write it.
 */
#ifndef LAB08_KERNELSIDE_H
#define LAB08_KERNELSIDE_H

#include <stddef.h>

/* Step [11]: its lines and its one check; text is what the segment holds. */
void segment_file_both_sides(size_t ps, const char *text);

/* Step [12]: shmmax set to max_pages pages, shmmni to max_segments. */
void private_ipc_namespace(size_t ps, long max_pages, long max_segments);

/* Step [13]: segments of mode 0600 and 0666 made under umask 022; in a root
 * run, uid 65534 attaches each.  Its lines and its check. */
void who_may_attach(size_t ps);

#endif
