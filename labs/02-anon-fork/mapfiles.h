/*
 * mapfiles.h - lab 02's step [8]: a shared anonymous page a child made after
 * fork, reached through /proc/PID/map_files/<range>: an ordinary user gets
 * EPERM, root (CAP_SYS_ADMIN) opens and maps it.  A root run shows both
 * sides, the ordinary one in children that became uid 65534; an ordinary
 * run shows its side and says, in {root=...}, that it could not show root's.
 */
#ifndef LAB02_MAPFILES_H
#define LAB02_MAPFILES_H

#include <stddef.h>

/* Run step [8]: its lines and its one check. */
void map_files_both_sides(size_t ps);

#endif
