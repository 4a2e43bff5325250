/*
 * pages.h - lab 16's experiments on pages: what the first and the second
 * touch of a fresh mapping cost in faults, and a file copied and read
 * through mappings and through system calls.
 */
#ifndef SPEED_PAGES_H
#define SPEED_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IO_BUF (128 * 1024) /* the "good buffer" of read/write */

/* A private anonymous mapping of len bytes, already faulted in. */
void *map_anon(size_t len);
/* Fill the whole 8-byte words of m[0..size) with a pattern that follows from seq alone. */
void fill_message(unsigned char *m, size_t size, uint64_t seq);

/* ---- page faults ---- */
enum { FT_ANON, FT_ZERO, FT_ANON_SH, FT_ZERO_SH, FT_FILE, FT_ANON_POP, FT_ZERO_POP, NPF };
extern const char *const pf_name[NPF]; /* "anonymous, MAP_PRIVATE" */
extern const char *const pf_key[NPF];  /* "anon-private" */
#define PF_POPULATE(kind) ((kind) == FT_ANON_POP || (kind) == FT_ZERO_POP)

struct pf_result {
	double map_ns;                    /* per page, in mmap (MAP_POPULATE faults there) */
	double first_ns, second_ns;       /* per page; populate rows: mmap + first pass */
	long map_faults;                  /* minor faults in mmap */
	long first_faults, second_faults; /* in the first and the second pass */
};
/* Map npages of the given kind (zero_fd: /dev/zero, file_fd: a file of at
 * least npages pages, both open O_RDWR), write one byte per page twice;
 * time and count the minor faults of each pass; unmap. */
struct pf_result touch_twice(int kind, size_t npages, int zero_fd, int file_fd);

/* ---- files ---- */
enum { FC_MMAP, FC_RW, FC_CFR, NFC };
extern const char *const fc_name[NFC], *const fc_key[NFC];
enum { FR_MMAP, FR_READ, NFR };
extern const char *const fr_name[NFR], *const fr_key[NFR];

/* Create path fresh (registered for cleanup) with len bytes of pattern;
 * with sync, fdatasync it so its pages are clean (they can then be dropped). */
void write_file(const char *path, size_t len, bool sync);
/* Copy from to `to` (created fresh; the caller registers it for cleanup). */
void copy_file(int how, const char *from, const char *to, size_t len, unsigned char *iobuf);
bool same_file(const char *a, const char *b, size_t len);
/* Read the file and return the sum of its 8-byte words. */
uint64_t read_file(int how, const char *path, size_t len, unsigned char *iobuf);

#endif
