/*
 * speed - is shared memory really "10-100x faster than a pipe"?
 *
 * Usage: speed            (run by `make lab-16`; no arguments)
 *
 * Story: one producer process hands messages to one consumer process over
 *   - a single-producer/single-consumer byte ring in a MAP_SHARED mapping
 *     (ring.c: C11 atomics; the reader sleeps on a futex when the ring is
 *     empty, the writer when it is full; a second variant only spins),
 *   - a pipe, as created and grown with F_SETPIPE_SZ,
 *   - a Unix domain stream socket,
 *   - a POSIX message queue,
 * and single-thread memcpy of the same sizes is the ceiling.  Then a small
 * message ping-pongs between the two processes, fresh mappings are touched
 * twice (the page faults of anonymous memory, /dev/zero, a file and
 * MAP_POPULATE) and a file is copied and read through mmap and through
 * read/write/copy_file_range.
 *
 * This run checks every byte and prints no timings, so its transcript is
 * the same on every machine.  `make bench` (harness/bench/) times the same
 * runs, many rounds of them, and decides the source notes' claims.
 *
 * The lab's sources: chan.c (the channels), ring.c (the ring), run.c (one
 * producer/consumer run), pages.c (page faults and files).
 */
#include "lab.h"
#include "names.h"
#include "options.h"
#include "chan.h"
#include "pages.h"
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const ch_what[NCH] = {
	[CH_MEMCPY] = "one thread copies each message from one buffer to another",
	[CH_RING] = "a 1 MiB ring in MAP_SHARED memory: copied in, copied out; an empty ring sleeps in FUTEX_WAIT",
	[CH_SPIN] = "the same ring, but an empty (or full) ring spins on the other side's index",
	[CH_PIPE] = "pipe2(), as created",
	[CH_PIPE_BIG] = "pipe2(), grown with F_SETPIPE_SZ",
	[CH_UNIX] = "socketpair(AF_UNIX, SOCK_STREAM)",
	[CH_MQ] = "mq_open(), larger messages sent in pieces",
};

/* Step 1: the channels, and the two pipe sizes this machine grants. */
static void show_channels(const struct chan_cfg *cfg)
{
	int probe[2];
	if (pipe2(probe, O_CLOEXEC) == -1)
		die("pipe2");
	int def = fcntl(probe[1], F_GETPIPE_SZ);
	int big = fcntl(probe[1], F_SETPIPE_SZ, cfg->pipe_big);
	int big_err = errno;
	if (def == -1)
		die("fcntl(F_GETPIPE_SZ)");
	close(probe[0]);
	close(probe[1]);
	for (int k = 0; k < NCH; k++)
		say("%-17s %s", ch_name[k], ch_what[k]);
	say("a new pipe holds %d pages; F_SETPIPE_SZ to 1 MiB: %s", def / (int)page_size(),
	    big >= cfg->pipe_big ? "granted" : errname(big_err));
	say("posix mq pieces: {mq_piece=%ld} bytes; CPUs online: {cpus=%ld}", cfg->mq_piece,
	    sysconf(_SC_NPROCESSORS_ONLN));
	check(def > 0 && big >= cfg->pipe_big, "both pipe sizes are available");
}

/* Step 2: 256 KiB of messages of each size (at least 4) over each channel. */
static bool throughput(const struct run_cfg *rc, unsigned char *src, unsigned char *dst)
{
	bool all_ok = true;
	say("%-17s %-7s %s", "channel", "size", "result");
	for (int k = 0; k < NCH; k++) {
		bool dead = false;
		for (size_t s = 0; s < NSIZES; s++) {
			char sz[32];
			size_str(msg_sizes[s], sz, sizeof sz);
			long n = (long)(256 * 1024 / msg_sizes[s]);
			if (n < 4)
				n = 4;
			if (dead) {
				say("%-17s %-7s skipped after a timeout", ch_name[k], sz);
				continue;
			}
			struct outcome o = run_tput(rc, k, msg_sizes[s], n, src, dst);
			if (o.ok)
				say("%-17s %-7s delivered %ld messages, checksum ok", ch_name[k], sz, n);
			else if (o.timeout) {
				say("%-17s %-7s TIMEOUT: nothing moved for %.0f s", ch_name[k], sz, rc->chan->ring_stall);
				dead = true;
			} else
				say("%-17s %-7s WRONG DATA from message %ld on", ch_name[k], sz, o.bad_at);
			all_ok = all_ok && o.ok;
		}
	}
	return all_ok;
}

/* Step 3: 2000 round trips over each channel that can answer. */
static bool round_trips(const struct run_cfg *rc)
{
	bool all_ok = true;
	for (size_t j = 0; j < NLAT; j++) {
		long n = 2000;
		struct outcome o = run_lat(rc, lat_ch[j], n);
		if (o.ok)
			say("%-17s %ld round trips, every reply the right one", ch_name[lat_ch[j]], n);
		else
			say("%-17s %s", ch_name[lat_ch[j]], o.timeout ? "TIMEOUT" : "WRONG REPLY");
		all_ok = all_ok && o.ok;
	}
	return all_ok;
}

/* Step 4: each kind of mapping, npages of it, touched twice. */
static bool faults(const char *file, size_t npages)
{
	int file_fd = open(file, O_RDWR | O_CLOEXEC), zero_fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (file_fd == -1 || zero_fd == -1)
		die("open");
	bool all_ok = true;
	for (int k = 0; k < NPF; k++) {
		struct pf_result r = touch_twice(k, npages, zero_fd, file_fd);
		bool populate = PF_POPULATE(k);
		bool good = populate ? r.map_faults > 0 && r.first_faults == 0 : r.first_faults > 0;
		good = good && r.second_faults == 0;
		say("%-26s %sfirst pass %s, second pass %s", pf_name[k], populate ? "mmap faulted, " : "",
		    r.first_faults == 0 ? "no faults" : "faulted", r.second_faults == 0 ? "no faults" : "faulted");
		all_ok = all_ok && good;
	}
	close(file_fd);
	close(zero_fd);
	return all_ok;
}

/* Step 5: copy the file three ways, read it two ways. */
static bool files(const char *file, size_t len)
{
	char copy[128];
	unique_name("copy", copy, sizeof copy);
	cleanup_unlink(copy);
	unsigned char *iobuf = map_anon(IO_BUF);
	bool all_same = true;
	for (int k = 0; k < NFC; k++) {
		copy_file(k, file, copy, len, iobuf);
		bool same = same_file(file, copy, len);
		say("%-26s the copy is %s", fc_name[k], same ? "identical to the source" : "DIFFERENT");
		if (unlink(copy) == -1)
			die("unlink");
		all_same = all_same && same;
	}
	uint64_t s0 = read_file(FR_MMAP, file, len, iobuf);
	uint64_t s1 = read_file(FR_READ, file, len, iobuf);
	say("%-26s and %s: %s", fr_name[FR_MMAP], fr_name[FR_READ], s0 == s1 ? "same sum" : "DIFFERENT sums");
	munmap(iobuf, IO_BUF);
	return all_same && s0 == s1;
}

int main(int argc, char **argv)
{
	lab_options(argc, argv, NULL, "is shared memory fast? every channel checked byte by byte; `make bench` times them");
	lab_begin(LAB_TITLE);
	struct chan_cfg cfg;
	chan_setup(&cfg);
	struct run_cfg rc = {.chan = &cfg, .check = CHECK_EVERY_BYTE, .consumer_cpu = -1, .limit = 30.0};
	unsigned char *src = map_anon(MAX_MSG), *dst = map_anon(MAX_MSG);

	step("The channels: one producer process, one consumer process, and memcpy as the ceiling.");
	show_channels(&cfg);

	step("Throughput: each channel carries messages of 64 B to 1 MiB; every byte is checked.");
	check(throughput(&rc, src, dst), "every channel delivered every byte of every message, in order");

	step("Latency: a 64 B message goes back and forth; every reply carries its sequence number.");
	check(round_trips(&rc), "every channel answered every ping, in order");

	size_t npages = 256;
	step("Page faults: write one byte per page of a fresh %zu-page mapping, twice.", npages);
	char file[128];
	unique_name("faults", file, sizeof file);
	write_file(file, npages * page_size(), false);
	check(faults(file, npages),
	      "the first touch of a page faults (unless MAP_POPULATE did it in mmap), the second does not");

	step("Files: copy a %zu-page file three ways and read it two ways.", npages);
	check(files(file, npages * page_size()),
	      "every copy is byte for byte the source, both reads see the same bytes");

	step("What `make bench` measures with these channels, and the claims it decides.");
	say("throughput table: MB/s per channel and size, ratio to the shm ring and to memcpy");
	say("claim 'shared memory is 10-100x faster than a pipe': row pipe (default), column x ring(futex)");
	say("claim 'shared memory is the fastest IPC': the fastest channel at each size");
	say("claim 'a message queue sits between pipe and shared memory': row posix mq");
	say("claim 'shared memory is zero copy': the shm ring against memcpy, and mmap vs read of a file");
	say("claim 'shared memory needs no kernel': latency table, shm ring (futex) vs (spin)");
	say("claim '/dev/zero maps slower than MAP_ANONYMOUS': page-fault table, first touch");
	say("claim 'copying a file through two mappings is less work': file copy table");
	say("targets: ring >= 60%% of memcpy and >= 4x a pipe at 64 KiB-1 MiB; futex ring within 15%% of spin;");
	say("         spinning round trip >= 10x below the pipe's; futex round trip close to the pipe's");

	step("Clean up.");
	if (unlink(file) == -1)
		die("unlink");
	munmap(src, MAX_MSG);
	munmap(dst, MAX_MSG);
	chan_teardown(&cfg);
	say("removed the files; the message queues were unlinked as soon as they were opened");
	return lab_end();
}
