/*
 * names.h - names and keys no other run uses: files, /dev/shm names, System V
 * keys, each created fresh and registered for cleanup.
 *
 * The run token (the one description of it; harness/runner.py follows it: new_run_token, run_token_key).
 * The harness gives each run of a lab a token of its own, in the environment,
 * so that it can tell what this run left behind from anybody else's objects:
 *
 *     MMAPLAB_RUN=rKKKK    "r" and exactly 4 lowercase hex digits that give a
 *                          number K from 1 to 0x7fff; the harness picks K.
 *
 *   - File and /dev/shm names carry the whole token:
 *         mmaplab-<token>-<pid>-<random>-<what>      mmaplab-r1a2b-4711-9f03c1de-board
 *   - System V keys made by sysv_create() carry K in bits 30..16: bit 31 is
 *     0, bits 15..0 are random, and as K >= 1 a key is never 0 (IPC_PRIVATE).
 *   - The harness reads K as int(token[1:5], 16), and a segment is this run's
 *     when its key matches (key >> 16) & 0x7fff == K.  No hash on either side.
 *
 * Without MMAPLAB_RUN, or with a value not of that form, names carry no token
 * ("mmaplab-<pid>-<random>-<what>") and keys are random in all 32 bits (never
 * 0), so their bits 30..16 may equal some run's K.
 */
#ifndef MMAP_LABS_NAMES_H
#define MMAP_LABS_NAMES_H

#include <stddef.h>
#include <sys/types.h>

/* "mmaplab-[<token>-]<pid>-<random>-<what>": two runs in parallel never collide. */
void unique_name(const char *what, char *buf, size_t size);     /* a file in the cwd */
void unique_shm_name(const char *what, char *buf, size_t size); /* "/mmaplab-..." for shm_open */
/* Create the file path fresh (O_EXCL, read-write, mode 0600, close-on-exec),
 * register cleanup_unlink() for it and ftruncate() it to size bytes (0:
 * leave it empty).  Returns the descriptor. */
int create_file(const char *path, off_t size);
/* Create a new System V segment under a key nobody else uses (retrying on
 * EEXIST) and register it for cleanup.  Returns the shmid; *key_out gets
 * the key if not NULL. */
int sysv_create(size_t size, int mode, key_t *key_out);

#endif
