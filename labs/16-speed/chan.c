/*
 * chan.c - the channels of lab 16 (see chan.h).
 */
#include "lab.h"
#include "names.h"
#include "chan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *const ch_name[NCH] = {"memcpy (ceiling)", "shm ring (futex)", "shm ring (spin)", "shm ring (0-copy)",
				  "pipe (default)",   "pipe (1 MiB)",     "unix stream",     "posix mq"};
const char *const ch_key[NCH] = {"memcpy", "ring", "ring-spin", "ring-zc", "pipe", "pipe-1m", "unix", "mq"};

static long read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "r");
	long v = dflt;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = dflt;
		fclose(f);
	}
	return v;
}

static long at_most(long want, const char *limit_path)
{
	long limit = read_long(limit_path, want);
	return limit < want ? limit : want;
}

void chan_setup(struct chan_cfg *cfg)
{
	*cfg = (struct chan_cfg){
		.ring_cap = RING_MAX,
		.ring_chunk = 32 * 1024,
		/* Both are a quiet machine's times, scaled by this one's slowness (limit_ms). */
		.ring_stall = limit_s(1.0),
		.ring_nap = limit_s(0.05), /* shorter naps arm a timer that fires first: on a VM that costs ~2 us a wait */
		.spin_limit = 1 << 14, /* about a millisecond: one CPU cannot hang the spinning ring */
		.pipe_big = (int)at_most(1024 * 1024, "/proc/sys/fs/pipe-max-size"),
		.mq_piece = at_most(8192, "/proc/sys/fs/mqueue/msgsize_max"), /* an unprivileged default */
		.mq_depth = at_most(10, "/proc/sys/fs/mqueue/msg_max"),
	};
	size_t len = 2 * sizeof(struct ring);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap shared");
	memset(m, 0, len); /* in memory now, not in the first run */
	cfg->rings = m;
}

void chan_teardown(struct chan_cfg *cfg)
{
	if (munmap(cfg->rings, 2 * sizeof(struct ring)) == -1)
		die("munmap");
	cfg->rings = NULL;
}

static void mq_make(mqd_t *out, const struct chan_cfg *cfg)
{
	char name[256];
	unique_shm_name("mq", name, sizeof name);
	struct mq_attr a = {.mq_maxmsg = cfg->mq_depth, .mq_msgsize = cfg->mq_piece};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
	if (q == (mqd_t)-1)
		die("mq_open");
	/* Like an unlinked file: the queue lives on while a descriptor is open. */
	if (mq_unlink(name) == -1)
		die("mq_unlink");
	*out = q;
}

void chan_open(struct chan *c, const struct chan_cfg *cfg, int kind, bool duplex)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->duplex = duplex;
	c->mq_piece = cfg->mq_piece;
	int dirs = duplex ? 2 : 1;
	switch (kind) {
	case CH_RING:
	case CH_SPIN:
	case CH_ZC:
		for (int d = 0; d < dirs; d++) {
			ring_reset(&cfg->rings[d]);
			c->re[d] = (struct ring_end){.r = &cfg->rings[d],
						     .spin = kind == CH_SPIN,
						     .spin_limit = cfg->spin_limit,
						     .nap = cfg->ring_nap,
						     .cap = cfg->ring_cap,
						     .chunk = cfg->ring_chunk,
						     .stall = cfg->ring_stall};
		}
		break;
	case CH_PIPE:
	case CH_PIPE_BIG:
		for (int d = 0; d < dirs; d++) {
			if (pipe2(c->pfd[d], O_CLOEXEC) == -1)
				die("pipe2");
			if (kind == CH_PIPE_BIG && fcntl(c->pfd[d][1], F_SETPIPE_SZ, cfg->pipe_big) == -1)
				die("fcntl(F_SETPIPE_SZ)");
		}
		break;
	case CH_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sv) == -1)
			die("socketpair");
		break;
	case CH_MQ:
		for (int d = 0; d < dirs; d++)
			mq_make(&c->mq[d], cfg);
		c->mqbuf = malloc((size_t)cfg->mq_piece);
		if (!c->mqbuf)
			die("malloc");
		break;
	}
}

/* Keep this side's ends (EOF then tells a reader its peer died). */
void chan_side(struct chan *c, int side)
{
	c->side = side;
	int dirs = c->duplex ? 2 : 1;
	if (c->kind == CH_PIPE || c->kind == CH_PIPE_BIG) {
		for (int d = 0; d < dirs; d++) {
			/* direction d is written by side d */
			int unused = (side == d) ? c->pfd[d][0] : c->pfd[d][1];
			if (close(unused) == -1)
				die("close");
			if (side == d)
				c->pfd[d][0] = -1;
			else
				c->pfd[d][1] = -1;
		}
	} else if (c->kind == CH_UNIX) {
		if (close(c->sv[1 - side]) == -1)
			die("close");
		c->sv[1 - side] = -1;
	}
}

void chan_close(struct chan *c)
{
	int dirs = c->duplex ? 2 : 1;
	for (int d = 0; d < dirs; d++)
		for (int i = 0; i < 2; i++)
			if (c->pfd[d][i] > 0)
				close(c->pfd[d][i]);
	for (int i = 0; i < 2; i++)
		if (c->sv[i] > 0)
			close(c->sv[i]);
	if (c->kind == CH_MQ)
		for (int d = 0; d < dirs; d++)
			mq_close(c->mq[d]);
	free(c->mqbuf);
	c->mqbuf = NULL;
}

/* mq_timedsend and mq_timedreceive want an absolute CLOCK_REALTIME time. */
static struct timespec realtime_deadline(double deadline)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double left = deadline - now();
	if (left < 0)
		left = 0;
	ts.tv_sec += (time_t)left;
	ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static int mq_send_all(struct chan *c, int d, const char *p, size_t len, double deadline)
{
	struct timespec ts = realtime_deadline(deadline);
	while (len > 0) {
		size_t n = len < (size_t)c->mq_piece ? len : (size_t)c->mq_piece;
		if (mq_timedsend(c->mq[d], p, n, 0, &ts) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int mq_recv_all(struct chan *c, int d, char *p, size_t len, double deadline)
{
	struct timespec ts = realtime_deadline(deadline);
	while (len > 0) {
		/* mq_receive wants room for a whole piece: straight into the
		 * destination when it has that room, else via mqbuf. */
		bool direct = len >= (size_t)c->mq_piece;
		ssize_t n = mq_timedreceive(c->mq[d], direct ? p : c->mqbuf, (size_t)c->mq_piece, NULL, &ts);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || (size_t)n > len)
			return -1;
		if (!direct)
			memcpy(p, c->mqbuf, (size_t)n);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int chan_send(struct chan *c, int d, const void *buf, size_t len, double deadline)
{
	const char *p = buf;
	if (IS_RING(c->kind))
		return ring_send(&c->re[d], buf, len, deadline);
	if (c->kind == CH_MQ)
		return mq_send_all(c, d, p, len, deadline);
	int fd = c->kind == CH_UNIX ? c->sv[c->side] : c->pfd[d][1];
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int chan_recv(struct chan *c, int d, void *buf, size_t len, double deadline)
{
	char *p = buf;
	if (IS_RING(c->kind))
		return ring_recv(&c->re[d], buf, len, deadline);
	if (c->kind == CH_MQ)
		return mq_recv_all(c, d, p, len, deadline);
	int fd = c->kind == CH_UNIX ? c->sv[c->side] : c->pfd[d][0];
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
