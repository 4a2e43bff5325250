/*
 * strip.h - a picture of a file mapping, one column per page, drawn from what
 * this process observes at the moment it is called (labs 09, 10 and 11):
 *
 *           page 1    page 2    page 3    page 4      # file byte, | end of file, . rest of its page
 *     file  ##################|.
 *     map   [========][========][========]
 *     touch ok        ok, 0s    SIGBUS    SIGSEGV
 *
 *   file   the file's bytes under each page of the mapping, from the mapping's
 *          file offset and the size the caller got from fstat (no bytes before
 *          the offset are drawn); "|" is where the file ends.  A page that
 *          holds part of the file is drawn with as many '#' as its share of
 *          the page (at least 1, at most 8 of 10, so the end stays visible).
 *   map    [========] for a page this process has mapped (mincore() answers),
 *          nothing for an address with no mapping (ENOMEM).
 *   touch  what reading the page did: its first and last byte are read with
 *          probe_read(); "ok", "SIGBUS", "SIGSEGV" (the lab's own lines give
 *          the si_code).  In the page that holds the end of the file every
 *          byte past it is read too: "ok, 0s" when they all read 0, "ok, data"
 *          when some do not (bytes stored past EOF still in the cached page).
 *
 * Nothing is written.  Deterministic: the same file size, offset and mapping
 * give the same lines, for root and for any user.  When what lies past EOF
 * depends on the filesystem (after write-back, lab 11), set tail_token and
 * that word is printed inside a {tail=...} token instead.
 */
#ifndef MMAP_LABS_STRIP_H
#define MMAP_LABS_STRIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define STRIP_MAX_COLUMNS 8

struct strip {
	const void *base;  /* the page the first column shows (the mapping's first page) */
	size_t columns;    /* pages drawn from base on: the mapping, then what follows it */
	off_t file_offset; /* the file offset mapped at base (mmap's offset) */
	off_t file_size;   /* the file's size now */
	bool tail_token;   /* print the word for the bytes past EOF inside {tail=...} */
};

/* Probe the columns and say() the four lines of the picture. */
void strip_say(const struct strip *s);

#endif
