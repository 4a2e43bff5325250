/*
 * options.h - what a lab's program accepts on its command line, strictly.
 *
 * Every program describes its arguments in one table at the top of main(),
 * with the variables that receive them (their values before the call are
 * the defaults), and calls lab_options() before lab_begin():
 *
 *     long offset_pages = 0;
 *     const struct lab_option options[] = {
 *         { "--offset-pages=N", &offset_pages, 0, 1000000, .help = "map the file from page N on" },
 *         { 0 }
 *     };
 *     lab_options(argc, argv, options, "which pages of a too-long file mapping you can touch");
 *     lab_begin(LAB_TITLE);
 *
 * An entry is spelt the way it is typed:
 *   "--name=N"   with .number: a decimal number from .min to .max
 *   "--name=X"   with .text:   any text (the pointer is set to it)
 *   "--name"     with .flag:   no value; the bool is set when it is given
 *   "FILE"       (no "--"):    a positional argument, required, in table order,
 *                              with .text or .number (a helper program's "R,W"
 *                              handshake ends come first this way)
 * Options may come in any order; a repeated one keeps its last value.  A
 * program that takes no argument at all passes NULL for the table.
 *
 * Anything else -- an unknown argument, a missing or extra positional one, a
 * bad number, a number out of range -- prints one line on stderr,
 *
 *   page-boundary: --offset-pages=x: not a number from 0 to 1000000; usage: page-boundary [--offset-pages=N]
 *
 * and exits 2 before the lab has made anything.  --help prints the usage, the
 * about line and one line per entry on stdout, and exits 0.
 */
#ifndef MMAP_LABS_OPTIONS_H
#define MMAP_LABS_OPTIONS_H

#include <stdbool.h>

struct lab_option {
	const char *spelling; /* "--offset-pages=N", "--past-eof-as-token", "FILE"; NULL ends the table */
	long *number;         /* a number ... */
	long min, max;        /* ... in this range */
	const char **text;    /* or a text */
	bool *flag;           /* or a flag */
	const char *help;     /* one line for --help */
};

void lab_options(int argc, char **argv, const struct lab_option *table, const char *about);

/* The same rule for a number found some other way (a helper's argument whose
 * meaning depends on another one): decimal, optional '-', nothing around it,
 * from min to max.  Returns false and leaves *out alone otherwise. */
bool parse_long(const char *s, long min, long max, long *out);

#endif
