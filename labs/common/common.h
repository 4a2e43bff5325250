/*
 * common.h - every shared helper at once, for a program that wants them all
 * (lab 16's benchmark, the grader's test labs).  A lab includes the few role
 * headers it uses instead, so its first lines say what it relies on:
 *
 *   lab.h      the transcript (lab_begin, step, say, check, lab_end), errors
 *              (die, errname), the cleanup registry, page_size, file_size
 *   options.h  the command line: one table of --name=value options
 *   proc.h     other processes: the pipe handshake (struct pair), fork,
 *              spawn_sibling, wait_child
 *   observe.h  smaps, maps, pagemap, fault counts, the SIGBUS/SIGSEGV probe,
 *              the filesystem type
 *   names.h    unique file, /dev/shm and System V names; the run token
 */
#ifndef MMAP_LABS_COMMON_H
#define MMAP_LABS_COMMON_H

#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"

#endif
