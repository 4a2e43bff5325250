/*
 * chan.h - the channels of lab 16: one interface over the shared-memory
 * ring, a pipe, a Unix stream socket and a POSIX message queue (memcpy,
 * the ceiling, is a "channel" too, with no second process).  The zero-copy
 * ring is a channel for throughput only: its messages are built and used
 * in the ring (run.c), not sent from a buffer.
 *
 * A channel is opened before fork(); after it each process keeps its own
 * ends (chan_side), sends or receives in direction 0 (parent -> child) or
 * 1 (child -> parent, for round trips), and closes.
 */
#ifndef SPEED_CHAN_H
#define SPEED_CHAN_H

#include "ring.h"

#include <mqueue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CH_MEMCPY, CH_RING, CH_SPIN, CH_ZC, CH_PIPE, CH_PIPE_BIG, CH_UNIX, CH_MQ, NCH };
#define IS_RING(kind) ((kind) == CH_RING || (kind) == CH_SPIN || (kind) == CH_ZC)
extern const char *const ch_name[NCH]; /* "shm ring (futex)": for people */
extern const char *const ch_key[NCH];  /* "ring": for the CSV */

/* What every channel is built with.  chan_setup() fills it from the
 * defaults and this machine's limits, and maps the two rings (one per
 * direction) in one MAP_SHARED|MAP_ANONYMOUS mapping, before any fork. */
struct chan_cfg {
	struct ring *rings;  /* [0] parent -> child, [1] child -> parent */
	uint32_t ring_cap;   /* bytes of each ring in use (power of two, <= RING_MAX) */
	uint32_t ring_chunk; /* the ring's writer publishes at least this often */
	double ring_stall;   /* seconds a ring may stand still before a timeout (1 s of a quiet machine) */
	double ring_nap;     /* seconds of one FUTEX_WAIT at most (50 ms of a quiet machine) */
	uint32_t spin_limit; /* the spinning ring sleeps after this many polls; 0: it never sleeps */
	int pipe_big;        /* F_SETPIPE_SZ of "pipe (1 MiB)", at most pipe-max-size */
	long mq_piece;       /* bytes per queue message, at most fs.mqueue.msgsize_max */
	long mq_depth;       /* messages a queue holds, at most fs.mqueue.msg_max */
};
void chan_setup(struct chan_cfg *cfg);
void chan_teardown(struct chan_cfg *cfg);

struct chan {
	int kind;
	bool duplex;           /* a second direction, back */
	struct ring_end re[2]; /* rings, [0] parent->child, [1] child->parent */
	int pfd[2][2];         /* pipes, same directions */
	int sv[2];             /* socketpair: [0] parent, [1] child */
	mqd_t mq[2];
	char *mqbuf;           /* a piece that does not fit the destination */
	long mq_piece;
	int side;              /* 0 parent, 1 child, after chan_side() */
};

void chan_open(struct chan *c, const struct chan_cfg *cfg, int kind, bool duplex);
void chan_side(struct chan *c, int side); /* after fork: 0 in the parent, 1 in the child */
void chan_close(struct chan *c);
/* Send / receive len bytes in direction d: 0, or -1 on a timeout or a
 * peer that went away. */
int chan_send(struct chan *c, int d, const void *buf, size_t len, double deadline);
int chan_recv(struct chan *c, int d, void *buf, size_t len, double deadline);

#endif
