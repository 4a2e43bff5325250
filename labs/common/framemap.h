/*
 * framemap.h - a picture of which physical frame is behind each process's
 * virtual pages, drawn with letters (labs 04 and 05):
 *
 *     picture     page 1          page 2
 *     parent      B copy          A page cache
 *     child       A page cache    -
 *     frames      {pfn=A 0x13ef84, B 0x143d67}
 *
 * A row is one process's mapping, a column one page of it (page i of every
 * row maps the same page of the file, or of an anonymous mapping inherited
 * over fork).  A letter names a frame, in order of first appearance (A, B,
 * ...), and keeps its letter from picture to picture; "-" is a page not in
 * that process's page table.  The word says what the frame is: "page cache"
 * (the file's own page), "copy" (a private anonymous copy made by a write
 * fault), "anonymous" (anonymous memory from the start), "shared" (the shmem
 * page of a shared anonymous mapping).
 *
 * The letters come only from what any user may read: the pagemap flags
 * (present, file-page-or-shared-anon, exclusively mapped) and the write
 * faults each process counted since the previous picture.  The rules:
 *   - a page-cache page is the file's page at that offset, one frame for
 *     every process (pagemap bit 61 set in a file mapping);
 *   - an anonymous page that took no write fault since the last picture is
 *     the frame it was;
 *   - anonymous pages that are not exclusive, at the same page of the
 *     pictured processes, are one frame (inherited over fork);
 *   - a write fault on a page that was shared (or the page cache) made a copy;
 *   - a write fault on an anonymous page that was already exclusive may have
 *     reused the frame or copied it: the flags cannot tell, and the picture
 *     says so with "?" (for example "A?").
 * Frame numbers (pagemap, CAP_SYS_ADMIN only) appear only inside the
 * {pfn=...} token; when they are readable, fm_draw checks them against the
 * letters and returns false if the evidence drew a wrong picture.  The lines
 * are the same for root and for any user.
 */
#ifndef MMAP_LABS_FRAMEMAP_H
#define MMAP_LABS_FRAMEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FM_MAX_PAGES 4
#define FM_MAX_ROWS 4
#define FM_MAX_FRAMES 16

/* What one process read about one of its pages. */
struct fm_page {
	bool present, file, exclusive; /* pagemap bits 63, 61, 56 */
	uint64_t pfn;                  /* 0 without CAP_SYS_ADMIN */
	long write_faults;             /* write faults it took on the page since the last picture */
};

/* One process's mapping: its name in the picture and its pages. */
struct fm_row {
	const char *who;   /* "parent", "child", "peer": the same name is the same row in every picture */
	int file;          /* 0: an anonymous mapping; else which file it maps (1, 2 ...), from offset 0 */
	struct fm_page page[FM_MAX_PAGES];
};

/* The letters given so far; zero it (or fm_reset) before the first picture. */
struct framemap {
	size_t pages; /* columns */
	int nframes;
	struct fm_frame {
		char kind;     /* 'c' page cache, 'p' copy, 'a' anonymous, 's' shared */
		int file, page; /* for 'c' and 's': which file (0: anonymous) and page */
		uint64_t pfn;  /* 0 until a picture with frame numbers saw it */
	} frame[FM_MAX_FRAMES];
	int nseen;
	struct fm_seen { /* each row's letters in the last picture */
		const char *who;
		int letter[FM_MAX_PAGES]; /* -1: not present */
		bool exclusive[FM_MAX_PAGES];
	} seen[FM_MAX_ROWS];
};

/* Start a new story of `pages` columns: letters start again at A. */
void fm_reset(struct framemap *m, size_t pages);
/* Fill *out with the pagemap flags and frame number of the page at addr
 * (write_faults 0).  Every byte of *out is written, padding too, so a
 * child can send it down a pipe as it is. */
void fm_observe(struct fm_page *out, const void *addr);
/* say() the picture (a header, one line per row, the frames token) and
 * remember its letters.  Returns false when frame numbers are readable and
 * contradict a letter; true otherwise (always true for an ordinary user). */
bool fm_draw(struct framemap *m, const struct fm_row *rows, size_t nrows);

#endif
