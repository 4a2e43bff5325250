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

/* The bytes of message seq follow from the data seed and seq alone, 8 at a
 * time, so a message can be made or checked in pieces (the zero-copy ring
 * builds it in the ring, one contiguous piece at a time). */
struct gen {
	uint64_t x;
};
struct gen gen_start(uint64_t seed, uint64_t seq);
void gen_fill(struct gen *g, unsigned char *p, size_t n);        /* the next n bytes (a multiple of 8) */
bool gen_check(struct gen *g, const unsigned char *p, size_t n); /* are the next n bytes p[0..n)? */
/* The whole message: fill the 8-byte words of m[0..size). */
void fill_message(unsigned char *m, size_t size, uint64_t seed, uint64_t seq);
/* FNV-1a of n bytes, continuing from h (start with FNV0 of run.h). */
uint64_t fnv(uint64_t h, const unsigned char *p, size_t n);

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

/* Create path fresh (registered for cleanup) with len bytes made from seed;
 * with sync, fdatasync it so its pages are clean (they can then be dropped). */
void write_file(const char *path, size_t len, uint64_t seed, bool sync);
/* Copy from to `to` (created fresh; the caller registers it for cleanup). */
void copy_file(int how, const char *from, const char *to, size_t len, unsigned char *iobuf);
bool same_file(const char *a, const char *b, size_t len);
/* Read the file and return the sum of its 8-byte words. */
uint64_t read_file(int how, const char *path, size_t len, unsigned char *iobuf);

#endif
