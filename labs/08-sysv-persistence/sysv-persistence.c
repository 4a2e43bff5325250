/*
 * sysv-persistence - how long shared memory lives once its processes are gone.
 *
 * Usage: sysv-persistence [--pages=N] [--small-size=S] [--tag=T]
 *        (defaults 1, 100, 0; run by `make lab-8`; it execs ./writer)
 *
 * Story: a System V segment written by a program that then exits is still
 * there, data and all, for the next process that asks for its key: it
 * lives in the kernel, not in a process.  shm_nattch counts attaches;
 * shmat maps no page until the first touch.  IPC_RMID on an attached
 * segment only marks it (SHM_DEST, key turned to 0) and the last detach
 * frees it.  IPC_PRIVATE is a key, not a flag.  Then the mmap kinds, each
 * written by a program that exits: an anonymous mapping leaves nothing to
 * open, a file keeps the data, a POSIX shm object keeps it until shm_unlink.
 * Last, shmget's size is in bytes while an attach covers whole pages, and
 * shmat's address is an input: the segment goes where it is asked to.
 *
 * Keys are printed the way each tool prints them: ipcs -m as 0x%08x,
 * /proc/sysvipc/shm in decimal, /proc/PID/maps as SYSV%08x.  Parameters: the
 * first segment is N pages; the last one S bytes; with T > 0 every text
 * written ends in " #T".
 */
#include "kernelside.h"
#include "lab.h"
#include "names.h"
#include "observe.h"
#include "options.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <dirent.h>
#include <sys/shm.h>
#include <unistd.h>

static char text[64]; /* what the writer writes: "hello from the writer[ #T]" */
static char opt_tag[32];

/* Run ./writer MODE ARG to the end: "exited 0" etc. */
static const char *run_writer(const char *mode, const char *arg)
{
	return wait_child(spawn_sibling("writer", NULL, mode, arg, opt_tag, (char *)NULL));
}

/* Say what /proc/sysvipc/shm (what `ipcs -m` reads) shows for shmid;
 * returns whether it has a line for it. */
static bool show_proc_line(int shmid)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	if (!f)
		die("open /proc/sysvipc/shm");
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		long key;
		int id;
		unsigned perms;
		unsigned long nattch, rss;
		if (sscanf(line, "%ld %d %o %*u %*d %*d %lu %*u %*u %*u %*u %*u %*u %*u %lu", &key, &id, &perms,
			   &nattch, &rss) != 5 || id != shmid)
			continue;
		found = true;
		say("/proc/sysvipc/shm: key %s, perms %o, nattch %lu, rss %lu page(s) {key-decimal=%ld} {shmid=%d}",
		    key == IPC_PRIVATE ? "0" : "ours", perms, nattch, rss / page_size(), key, id);
	}
	fclose(f);
	if (!found)
		say("/proc/sysvipc/shm: no line for the segment");
	return found;
}

/* After a writer (pid) exited: how many /dev/shm names carry its pid, and
 * how many System V segments it created (/proc/sysvipc/shm's cpid); the
 * segments are removed (a lab leaves nothing behind). */
static int left_by(pid_t pid)
{
	int left = 0;
	char mark[32];
	snprintf(mark, sizeof mark, "-%d-", (int)pid);
	DIR *d = opendir("/dev/shm");
	if (!d)
		die("opendir /dev/shm");
	for (struct dirent *e; (e = readdir(d));)
		left += strncmp(e->d_name, "mmaplab-", 8) == 0 && strstr(e->d_name, mark) != NULL;
	closedir(d);
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	if (!f)
		die("open /proc/sysvipc/shm");
	char line[512];
	while (fgets(line, sizeof line, f)) {
		int id, cpid;
		if (sscanf(line, "%*d %d %*o %*u %d", &id, &cpid) == 2 && cpid == (int)pid) {
			left++;
			shmctl(id, IPC_RMID, NULL);
		}
	}
	fclose(f);
	return left;
}

static struct shmid_ds stat_of(int id)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) == -1)
		die("shmctl IPC_STAT");
	return ds;
}

/* pread a text from offset 0 of path (a file, or a name under /dev/shm). */
static void read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", path);
	ssize_t n = pread(fd, buf, size - 1, 0);
	if (n == -1)
		die("pread");
	buf[n] = '\0';
	close(fd);
}

int main(int argc, char **argv)
{
	long pages = 1, small = 100, tag = 0, ns_pages = 2, ns_segments = 2;
	const struct lab_option options[] = {
		{ "--pages=N", &pages, 1, 64, .help = "the first segment is N pages" },
		{ "--small-size=S", &small, 1, 100000, .help = "the last segment is S bytes (less than a page)" },
		{ "--tag=T", &tag, 0, 999999, .help = "T > 0: every text written ends in \" #T\"" },
		{ "--ns-max-pages=P", &ns_pages, 1, 64, .help = "step 12 sets shmmax to P pages in its own IPC namespace" },
		{ "--ns-max-segments=M", &ns_segments, 1, 16, .help = "... and shmmni to M" },
		{ 0 }
	};
	lab_options(argc, argv, options, LAB_TITLE);
	size_t ps = page_size();
	if ((size_t)small >= ps)
		die_msg("sysv-persistence: --small-size=%ld: must be less than a page (%zu bytes)", small, ps);
	lab_begin(LAB_TITLE);
	char arg[160];
	snprintf(text, sizeof text, tag ? "hello from the writer #%ld" : "hello from the writer", tag);
	snprintf(opt_tag, sizeof opt_tag, "--tag=%ld", tag);

	if (pages == 1)
		step("Create a one-page System V segment, mode 0600; nobody attaches yet.");
	else
		step("Create a %ld-page System V segment, mode 0600; nobody attaches yet.", pages);
	key_t key;
	int id = sysv_create(ps * (size_t)pages, 0600, &key); /* registers IPC_RMID for a failed run */
	struct shmid_ds ds = stat_of(id);
	say("IPC_STAT: size %zu page(s), mode %04o, shm_nattch %lu", (size_t)ds.shm_segsz / ps,
	    (unsigned)(ds.shm_perm.mode & 07777), (unsigned long)ds.shm_nattch);
	say("its key: {key=0x%08x} as ipcs -m prints it; /proc/sysvipc/shm prints it in decimal", (unsigned)key);
	show_proc_line(id);

	step("Run writer: it finds the segment by key, attaches, writes, detaches, exits.");
	snprintf(arg, sizeof arg, "%d", (int)key);
	say("writer %s", run_writer("sysv", arg));
	bool stat_ok = shmctl(id, IPC_STAT, &ds) == 0;
	if (stat_ok)
		say("IPC_STAT: shm_nattch %lu", (unsigned long)ds.shm_nattch);
	else
		say("IPC_STAT: %s", errname(errno));
	bool listed = show_proc_line(id);
	char forced[8] = "?";
	read_text("/proc/sys/kernel/shm_rmid_forced", forced, sizeof forced);
	forced[strcspn(forced, "\n")] = '\0';
	say("kernel.shm_rmid_forced {rmid-forced=%s} (1 would destroy it at the last detach)", forced);
	char shmmax[32] = "?", shmmni[32] = "?", shmall[32] = "?";
	read_text("/proc/sys/kernel/shmmax", shmmax, sizeof shmmax);
	read_text("/proc/sys/kernel/shmmni", shmmni, sizeof shmmni);
	read_text("/proc/sys/kernel/shmall", shmall, sizeof shmall);
	shmmax[strcspn(shmmax, "\n")] = shmmni[strcspn(shmmni, "\n")] = shmall[strcspn(shmall, "\n")] = '\0';
	say("limits in /proc/sys/kernel: shmmax {shmmax=%s} bytes a segment, shmmni {shmmni=%s} segments, shmall {shmall=%s} pages in all",
	    shmmax, shmmni, shmall);
	check(stat_ok && listed && ds.shm_nattch == 0,
	      "the segment outlives the process that wrote it: no one attached, still listed");

	step("This process, which never attached it, finds the key and attaches.");
	/* BEGIN SOLUTION */
	int id2 = shmget(key, 0, 0);
	if (id2 == -1)
		die("shmget");
	char *p = shmat(id2, NULL, 0);
	/* END SOLUTION */
	//> int id2 = -1; char *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0); /* TODO: find the segment by its key and attach it instead */
	if (p == (char *)-1)
		die("shmat");
	struct smaps before = smaps_of(p);
	long faults = faults_to_read(p); /* the first touch */
	char first = p[0];
	struct smaps after = smaps_of(p);
	say("shmget(key) gives the same id: %s", id2 == id ? "yes" : "no");
	say("smaps Rss before the first touch: %g page(s); after: %g page(s); minor faults: %ld",
	    kb_to_pages(before.rss), kb_to_pages(after.rss), faults);
	check(before.rss == 0 && kb_to_pages(after.rss) == 1 && faults == 1,
	      "shmat maps no page; the first touch is one minor fault that maps it");
	say("offset 0 reads \"%.50s\" (first byte '%c')", p, first);
	check(!strcmp(p, text), "the writer's text waited in the kernel for us");

	step("Look at the attach in /proc/self/maps.");
	char want[64];
	snprintf(want, sizeof want, "/SYSV%08x (deleted)", (unsigned)key);
	struct maps_entry m = maps_of(p);
	say("name: /SYSV{key=%.8s} (deleted), inode {ino=%lu} %s the shmid", m.name + strlen("/SYSV"), m.inode,
	    m.inode == (unsigned long)id ? "equals" : "differs from");
	check(!strcmp(m.name, want) && m.inode == (unsigned long)id,
	      "the segment is an unlinked file on the kernel's internal shm mount, named after the key");

	step("Count attaches: a second shmat, then a fork.");
	char *q = shmat(id, NULL, 0);
	if (q == (char *)-1)
		die("shmat");
	say("after a second shmat: shm_nattch %lu", (unsigned long)stat_of(id).shm_nattch);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		unsigned long n = stat_of(id).shm_nattch;
		say("child: shm_nattch %lu (fork copied both of our attaches)", n);
		_exit(n == 4 ? 0 : 1);
	}
	const char *child = wait_child(pid);
	say("child %s", child);
	unsigned long n_exit = stat_of(id).shm_nattch;
	say("after the child exits: shm_nattch %lu", n_exit);
	if (shmdt(q) == -1)
		die("shmdt");
	unsigned long n_dt = stat_of(id).shm_nattch;
	say("after one shmdt: shm_nattch %lu", n_dt);
	check(!strcmp(child, "exited 0") && n_exit == 2 && n_dt == 1,
	      "each attach counts, inherited ones too; exit and shmdt each take theirs away");

	step("IPC_RMID while we are still attached.");
	/* BEGIN SOLUTION */
	if (shmctl(id, IPC_RMID, NULL) == -1)
		die("shmctl IPC_RMID");
	/* END SOLUTION */
	//> /* TODO: mark the segment for removal */
	ds = stat_of(id);
	say("IPC_STAT still works: mode %04o (SHM_DEST %s), key %s, shm_nattch %lu",
	    (unsigned)(ds.shm_perm.mode & 07777), ds.shm_perm.mode & SHM_DEST ? "set" : "clear",
	    ds.shm_perm.__key == IPC_PRIVATE ? "0 (IPC_PRIVATE)" : "unchanged", (unsigned long)ds.shm_nattch);
	show_proc_line(id);
	errno = 0;
	int by_key = shmget(key, 0, 0);
	say("shmget(key): %s; our attach still reads \"%.50s\"", by_key == -1 ? errname(errno) : "found", p);
	check((ds.shm_perm.mode & SHM_DEST) && ds.shm_perm.__key == IPC_PRIVATE && by_key == -1,
	      "IPC_RMID only marks it: SHM_DEST set, key gone, data still there");

	step("The last shmdt.");
	if (shmdt(p) == -1)
		die("shmdt");
	errno = 0;
	int r = shmctl(id, IPC_STAT, &ds);
	int err = errno;
	say("shmctl(IPC_STAT) on the old id: %s", r == -1 ? errname(err) : "still works");
	bool listed_now = show_proc_line(id);
	check(r == -1 && err == EINVAL && !listed_now, "the last detach freed it; the id is now EINVAL (not EIDRM)");
	errno = 0;
	void *again = shmat(id, NULL, 0); /* EINVAL: the id no longer exists */
	err = errno;
	say("shmat(old id): returns (void *) -1, the address %s, errno %s",
	    (uintptr_t)again == UINTPTR_MAX ? "with every bit set" : "of something else", errname(err));
	check(again == (void *)-1 && err == EINVAL,
	      "a failed shmat returns (void *) -1, not NULL; as an address it is the highest one, so a test 'shmat(...) < (char *)0' never sees the failure");

	step("IPC_PRIVATE is a key with the value 0, not a flag; IPC_CREAT on a key already in use.");
	say("IPC_PRIVATE = %d", (int)IPC_PRIVATE);
	int a = shmget(IPC_PRIVATE, ps, 0600), b = shmget(IPC_PRIVATE, ps, 0600);
	if (a == -1 || b == -1)
		die("shmget IPC_PRIVATE");
	cleanup_sysv_rmid(a);
	cleanup_sysv_rmid(b);
	say("two shmget(IPC_PRIVATE) calls: %s {ids=%d,%d}", a != b ? "two segments" : "one segment", a, b);
	key_t key3;
	int c = sysv_create(ps, 0600, &key3);
	int c2 = shmget(key3, 0, IPC_PRIVATE); /* the seed's "flag": ORs in 0 */
	say("shmget(existing key, 0, IPC_PRIVATE as a flag): %s", c2 == c ? "the existing segment" : "something else");
	check(a != b && c2 == c, "key 0 always creates; IPC_PRIVATE in shmflg adds nothing");
	/* source note 3's shm1/shm2: a fixed key, IPC_CREAT and no IPC_EXCL, a size of their own */
	int joined = shmget(key3, ps, IPC_CREAT | 0600);
	int excl = shmget(key3, ps, IPC_CREAT | IPC_EXCL | 0600), excl_err = errno;
	int bigger = shmget(key3, 2 * ps, IPC_CREAT | 0600), bigger_err = errno;
	say("on that key, 1 page: IPC_CREAT gives %s; IPC_CREAT|IPC_EXCL: %s; IPC_CREAT for 2 pages: %s",
	    joined == c ? "the existing segment" : "another one", excl == -1 ? errname(excl_err) : "a new one",
	    bigger == -1 ? errname(bigger_err) : "a segment");
	check(joined == c && excl == -1 && excl_err == EEXIST && bigger == -1 && bigger_err == EINVAL,
	      "a key in use: IPC_CREAT silently joins its segment, only IPC_EXCL says EEXIST; asking for more is EINVAL");
	for (int i = 0, made[3] = { joined, excl, bigger }; i < 3; i++)
		if (made[i] != -1 && made[i] != c)
			shmctl(made[i], IPC_RMID, NULL); /* a new segment (never, unless the lab is changed) */
	if (shmctl(a, IPC_RMID, NULL) == -1 || shmctl(b, IPC_RMID, NULL) == -1 || shmctl(c, IPC_RMID, NULL) == -1)
		die("shmctl IPC_RMID");

	step("mmap kinds, each written by a writer that then exits.");
	pid_t anon = spawn_sibling("writer", NULL, "anon", "", opt_tag, (char *)NULL);
	say("writer %s", wait_child(anon));
	int left = left_by(anon);
	say("anonymous: after its exit, /dev/shm names and System V segments it left: %d", left);
	check(left == 0, "anonymous memory dies with its processes: nothing of the writer's is left to open");
	char path[128], got[64];
	unique_name("file", path, sizeof path);
	int fd = create_file(path, (off_t)ps);
	if (close(fd) == -1)
		die("close");
	say("writer %s", run_writer("file", path));
	read_text(path, got, sizeof got);
	say("file: read() now gives \"%s\"", got);
	check(!strcmp(got, text), "a file mapping leaves its data in the file");
	if (unlink(path) == -1)
		die("unlink");

	char shm[128];
	unique_shm_name("obj", shm, sizeof shm);
	fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1)
		die("shm_open");
	cleanup_shm_unlink(shm);
	if (ftruncate(fd, (off_t)ps) == -1 || close(fd) == -1)
		die("ftruncate/close");
	say("writer %s", run_writer("shm", shm));
	snprintf(arg, sizeof arg, "/dev/shm%s", shm);
	read_text(arg, got, sizeof got);
	say("POSIX shm: read() now gives \"%s\"", got);
	if (shm_unlink(shm) == -1)
		die("shm_unlink");
	errno = 0;
	fd = shm_open(shm, O_RDONLY, 0);
	say("after shm_unlink, shm_open: %s", fd == -1 ? errname(errno) : "opened");
	check(!strcmp(got, text) && fd == -1, "a POSIX shm object keeps it until shm_unlink");

	step("shmget's size is in bytes, shmat's address is an input: %ld bytes, attached where we ask.", small);
	int sid = sysv_create((size_t)small, 0600, NULL);
	say("IPC_STAT: shm_segsz %zu bytes", (size_t)stat_of(sid).shm_segsz);
	/* A free address with a free page after it: reserve two pages, give them back. */
	char *want_at = mmap(NULL, 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (want_at == MAP_FAILED || munmap(want_at, 2 * ps) == -1)
		die("mmap/munmap reserve");
	/* BEGIN SOLUTION */
	char *at = shmat(sid, want_at, 0);
	/* END SOLUTION */
	//> char *at = shmat(sid, NULL, 0); /* TODO: attach it at want_at */
	if (at == (char *)-1)
		die("shmat");
	say("shmat(id, a free address we chose, 0) returned %s", at == want_at ? "that address" : "another address");
	struct probe last = probe_read(at + small - 1), past = probe_read(at + small), end = probe_read(at + ps - 1),
		     next = probe_read(at + ps);
	say("byte %ld (the last): %s; byte %ld (past the size): %s, value %d; last byte of the page: %s", small - 1,
	    probe_str(last), small, probe_str(past), past.value, probe_str(end));
	say("first byte of the next page: %s", probe_str(next));
	check((size_t)stat_of(sid).shm_segsz == (size_t)small && at == want_at,
	      "shm_segsz is the size asked for, in bytes, and the attach is where shmaddr said");
	check(last.sig == 0 && past.sig == 0 && past.value == 0 && end.sig == 0 && next.sig == SIGSEGV,
	      "the attach covers the whole page: bytes past the size read 0, the next page is SIGSEGV");
	if (shmdt(at) == -1 || shmctl(sid, IPC_RMID, NULL) == -1)
		die("shmdt/shmctl IPC_RMID");

	step("The segment's file, opened through /proc/self/map_files/: by an ordinary user, and by root.");
	segment_file_both_sides(ps, text);

	step("The limits, set in a private IPC namespace: shmmax %ld page(s), shmmni %ld; then shm_rmid_forced.", ns_pages,
	     ns_segments);
	private_ipc_namespace(ps, ns_pages, ns_segments);

	step("Who may attach: a segment of mode 0600 and one of 0666, as source note 3's ShareMem_2 makes it.");
	who_may_attach(ps);

	step("Clean up.");
	cleanup_now();
	say("every segment removed, the file and the shm name too");
	return lab_end();
}
