/*
 * observe.c - smaps, maps, pagemap, faults, the fault probe, fs_type (observe.h).
 */
#include "observe.h"
#include "lab.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Under valgrind, a deliberate probe of an unmapped address is an observation,
 * not a bug: the probe turns memcheck's error reporting off around the access. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PROBE_QUIET() VALGRIND_DISABLE_ERROR_REPORTING
#define PROBE_LOUD() VALGRIND_ENABLE_ERROR_REPORTING
#endif
#endif
#ifndef PROBE_QUIET
#define PROBE_QUIET() ((void)0)
#define PROBE_LOUD() ((void)0)
#endif

/* ---- the fault probe -------------------------------------------------- */

static sigjmp_buf probe_env;
static volatile sig_atomic_t probe_sig, probe_code;
static void *volatile probe_addr;

static void on_probe_fault(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	probe_sig = sig;
	probe_code = si->si_code;
	probe_addr = si->si_addr;
	siglongjmp(probe_env, 1);
}

static struct probe probe(volatile unsigned char *addr, bool write, unsigned char value)
{
	struct probe r = { 0 };
	struct sigaction sa = { .sa_sigaction = on_probe_fault, .sa_flags = SA_SIGINFO };
	struct sigaction old_bus, old_segv;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_bus) == -1 || sigaction(SIGSEGV, &sa, &old_segv) == -1)
		die("sigaction");
	probe_sig = 0;
	if (sigsetjmp(probe_env, 1) == 0) {
		PROBE_QUIET();
		if (write)
			*addr = value;
		else
			r.value = *addr;
		PROBE_LOUD();
	} else {
		PROBE_LOUD();
		r.sig = probe_sig;
		r.code = probe_code;
		r.addr_matches = probe_addr == (void *)addr;
	}
	if (sigaction(SIGBUS, &old_bus, NULL) == -1 || sigaction(SIGSEGV, &old_segv, NULL) == -1)
		die("sigaction");
	return r;
}

struct probe probe_read(const volatile void *addr)
{
	return probe((volatile unsigned char *)addr, false, 0);
}

struct probe probe_write(volatile void *addr, unsigned char value)
{
	return probe((volatile unsigned char *)addr, true, value);
}

const char *probe_str(struct probe p)
{
	if (p.sig == 0)
		return "ok";
	if (p.sig == SIGBUS)
		switch (p.code) {
		case BUS_ADRERR: return "SIGBUS (BUS_ADRERR)";
		case BUS_ADRALN: return "SIGBUS (BUS_ADRALN)";
		case BUS_OBJERR: return "SIGBUS (BUS_OBJERR)";
		default: return "SIGBUS (other si_code)";
		}
	if (p.sig == SIGSEGV)
		switch (p.code) {
		case SEGV_MAPERR: return "SIGSEGV (SEGV_MAPERR)";
		case SEGV_ACCERR: return "SIGSEGV (SEGV_ACCERR)";
		default: return "SIGSEGV (other si_code)";
		}
	return "other signal";
}

/* ---- /proc/self/smaps, maps, pagemap ---------------------------------- */

struct maps_entry maps_of(const void *addr)
{
	struct maps_entry m = { 0 };
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		die("open /proc/self/maps");
	char line[PATH_MAX + 128];
	uintptr_t a = (uintptr_t)addr;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		int name_at = 0;
		if (!strchr(line, '\n')) /* a very long name: skip the rest of the line */
			for (int c = 0; c != EOF && c != '\n';)
				c = getc(f);
		if (sscanf(line, "%lx-%lx %*s %*x %x:%x %lu %n", &lo, &hi, &m.dev_major, &m.dev_minor,
			   &m.inode, &name_at) < 5 || a < lo || a >= hi)
			continue;
		m.start = lo;
		m.end = hi;
		snprintf(m.name, sizeof m.name, "%s", name_at ? line + name_at : "");
		m.name[strcspn(m.name, "\n")] = '\0';
		fclose(f);
		return m;
	}
	die_msg("no line of /proc/self/maps holds the address");
}

struct smaps smaps_of(const void *addr)
{
	struct smaps s = { -1, -1, -1, -1, -1, -1 };
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		die("open /proc/self/smaps");
	char line[512];
	bool inside = false;
	uintptr_t a = (uintptr_t)addr;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		long kb;
		char key[64];
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = a >= lo && a < hi;
			continue;
		}
		if (!inside || sscanf(line, "%63[^:]: %ld kB", key, &kb) != 2)
			continue;
		if (!strcmp(key, "Rss")) s.rss = kb;
		else if (!strcmp(key, "Pss")) s.pss = kb;
		else if (!strcmp(key, "Shared_Clean")) s.shared_clean = kb;
		else if (!strcmp(key, "Shared_Dirty")) s.shared_dirty = kb;
		else if (!strcmp(key, "Private_Clean")) s.private_clean = kb;
		else if (!strcmp(key, "Private_Dirty")) s.private_dirty = kb;
	}
	fclose(f);
	if (s.rss < 0)
		die_msg("no mapping holds the address in /proc/self/smaps");
	return s;
}

double kb_to_pages(long kb)
{
	return (double)kb * 1024.0 / (double)page_size();
}

struct pagemap pagemap_of(const void *addr)
{
	struct pagemap pm = { 0 };
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		die("open /proc/self/pagemap");
	uint64_t e;
	off_t off = (off_t)((uintptr_t)addr / page_size() * sizeof e);
	if (pread(fd, &e, sizeof e, off) != (ssize_t)sizeof e)
		die("read /proc/self/pagemap");
	close(fd);
	pm.present = e >> 63 & 1;
	pm.file_or_shared_anon = e >> 61 & 1;
	pm.exclusive = e >> 56 & 1;
	pm.pfn = pm.present ? e & ((1ULL << 55) - 1) : 0;
	return pm;
}

bool pagemap_has_pfn(void)
{
	static volatile char probe_page = 1; /* in .data: present once written */
	probe_page = 2;
	return pagemap_of((const void *)&probe_page).pfn != 0;
}

/* ---- faults ----------------------------------------------------------- */

long minor_faults(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == -1) /* warm-up: its own store may fault */
		die("getrusage");
	if (getrusage(RUSAGE_SELF, &ru) == -1)
		die("getrusage");
	return ru.ru_minflt;
}

#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))
#endif
#endif
#ifndef NO_SANITIZE
#define NO_SANITIZE
#endif

NO_SANITIZE long faults_to_read(const volatile void *addr)
{
	long before = minor_faults();
	(void)*(const volatile unsigned char *)addr;
	return minor_faults() - before;
}

NO_SANITIZE long faults_to_write(volatile void *addr, unsigned char value)
{
	long before = minor_faults();
	*(volatile unsigned char *)addr = value;
	return minor_faults() - before;
}

/* ---- the filesystem --------------------------------------------------- */

const char *fs_type(const char *path)
{
	struct statfs st;
	if (statfs(path, &st) == -1)
		die("statfs %s", path);
	switch ((unsigned long)st.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	case 0x9123683E: return "btrfs";
	case 0x58465342: return "xfs";
	case 0x6969: return "nfs";
	case 0x65735546: return "fuse";
	default: return "other";
	}
}
