# labs/labs.mk - the one description of the labs.
#
# Read by the Makefile (help, lab-N, the build) and by harness/labs.py (the
# tests, the grader, the handout).  Nothing else lists the labs.
#
#   ALL_LABS += NN-slug              the lab's folder under labs/, in curriculum order
#   NN-slug.title    := ...      printed as "# Lab NN: title" (the build passes it as LAB_TITLE)
#   NN-slug.programs := a b c    its programs, each built from labs/NN-slug/a.c;
#                                the first is the one `make lab-N` runs
#
# Everything else follows from the folder:
#   - every other .c file in labs/NN-slug/ is linked into each of its programs,
#     and its headers (wire.h ...) are included with #include "wire.h";
#   - its transcripts are expected/NN-slug.txt and expected/NN-slug.VARIANT.txt,
#     each starting with the "$ program args" line that made it;
#   - its note is notes/NN-slug.md.
#
# Adding lab 17: make labs/17-slug/ with slug.c, add three lines here, then
# `make expected LAB=17` and write notes/17-slug.md.

ALL_LABS += 01-shared-file
01-shared-file.title    := Shared file between unrelated processes
01-shared-file.programs := shared-file writer reader

ALL_LABS += 02-anon-fork
02-anon-fork.title    := Anonymous shared memory across fork
02-anon-fork.programs := anon-fork

ALL_LABS += 03-shared-private
03-shared-private.title    := MAP_SHARED vs MAP_PRIVATE on one file
03-shared-private.programs := shared-private

ALL_LABS += 04-cow-fork
04-cow-fork.title    := Copy-on-write after fork
04-cow-fork.programs := cow-fork

ALL_LABS += 05-virt-phys
05-virt-phys.title    := Virtual vs physical
05-virt-phys.programs := virt-phys peer

ALL_LABS += 06-dev-zero
06-dev-zero.title    := /dev/zero does not share between unrelated processes
06-dev-zero.programs := dev-zero peer

ALL_LABS += 07-posix-shm
07-posix-shm.title    := POSIX shared memory between unrelated processes
07-posix-shm.programs := posix-shm shm-writer shm-reader

ALL_LABS += 08-sysv-persistence
08-sysv-persistence.title    := System V vs mmap persistence
08-sysv-persistence.programs := sysv-persistence writer

ALL_LABS += 09-sigbus-eof
09-sigbus-eof.title    := SIGBUS past end of file
09-sigbus-eof.programs := sigbus-eof

ALL_LABS += 10-page-boundary
10-page-boundary.title    := Page-boundary access
10-page-boundary.programs := page-boundary

ALL_LABS += 11-length-vs-size
11-length-vs-size.title    := Mapping length vs file size
11-length-vs-size.programs := length-vs-size writer reader

ALL_LABS += 12-msync
12-msync.title    := Write-back and msync
12-msync.programs := msync

ALL_LABS += 13-errors
13-errors.title    := The error table
13-errors.programs := errors

ALL_LABS += 14-sync
14-sync.title    := Synchronisation
14-sync.programs := sync writer reader

ALL_LABS += 15-copy-file
15-copy-file.title    := Copying a file through two mappings
15-copy-file.programs := copy-file

ALL_LABS += 16-speed
16-speed.title    := Is shared memory fast? Measuring it
16-speed.programs := speed
