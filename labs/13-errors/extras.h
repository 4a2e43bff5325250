/*
 * extras.h - lab 13's steps [21] and [22], beyond the error table:
 * [21] run a few copied instruction bytes as a function, and report the
 *      fault instead of dying when the page may not be executed;
 * [22] a mapping far larger than the memory behind it, and one larger than
 *      the address space.
 */
#ifndef LAB13_EXTRAS_H
#define LAB13_EXTRAS_H

#include "observe.h" /* struct probe */

#include <stddef.h>

/* Write into buf the machine code of a function `int f(void)` that returns
 * value (0-65535); returns its length, or 0 when the lab has no code for
 * this CPU (x86-64 and arm64 only). */
size_t code_returning(unsigned char *buf, size_t size, unsigned value);

/* Call the function at code.  "ok" (its result in *result), or the SIGSEGV
 * and si_code the call raised; addr_matches: si_addr was code itself. */
struct probe probe_call(const void *code, int *result);

/* Step [21]: the copied function returns value; its lines and its check. */
void prot_exec(size_t ps, long value);

/* Step [22]: a mapping of mib MiB, first and last page touched; then one
 * longer than the address space.  Its lines and its check. */
void big_mapping(size_t ps, long mib);

#endif
