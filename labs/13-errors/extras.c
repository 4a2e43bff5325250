/*
 * extras.c - lab 13's steps [21] to [23] (extras.h).  Linked into errors.
 */
#include "extras.h"
#include "lab.h"
#include "observe.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

size_t code_returning(unsigned char *buf, size_t size, unsigned value)
{
#if defined(__x86_64__)
	/* mov $value, %eax; ret */
	const unsigned char code[] = { 0xb8, value & 0xff, (value >> 8) & 0xff, 0, 0, 0xc3 };
#elif defined(__aarch64__)
	/* mov w0, #value; ret (little-endian words) */
	const unsigned mov = 0x52800000u | (value & 0xffffu) << 5, ret = 0xd65f03c0u;
	const unsigned char code[] = { mov & 0xff, (mov >> 8) & 0xff, (mov >> 16) & 0xff, mov >> 24,
				       ret & 0xff, (ret >> 8) & 0xff, (ret >> 16) & 0xff, ret >> 24 };
#else
#define LAB13_NO_CODE
#endif
#ifdef LAB13_NO_CODE
	(void)buf, (void)size, (void)value;
	return 0;
#else
	if (size < sizeof code)
		die_msg("code_returning: buffer too small");
	memcpy(buf, code, sizeof code);
	return sizeof code;
#endif
}

static sigjmp_buf call_env;
static volatile sig_atomic_t call_sig, call_code;
static void *volatile call_addr;

static void on_call_fault(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	call_sig = sig;
	call_code = si->si_code;
	call_addr = si->si_addr;
	siglongjmp(call_env, 1);
}

struct probe probe_call(const void *code, int *result)
{
	struct probe r = { 0 };
	int (*fn)(void);
	_Static_assert(sizeof fn == sizeof code, "a function pointer is as wide as a data pointer");
	memcpy(&fn, &code, sizeof fn); /* POSIX (dlsym) relies on this conversion */
	struct sigaction sa = { .sa_sigaction = on_call_fault, .sa_flags = SA_SIGINFO }, old;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old) == -1)
		die("sigaction");
	call_sig = 0;
	if (sigsetjmp(call_env, 1) == 0) {
		*result = fn();
	} else {
		r.sig = call_sig;
		r.code = call_code;
		r.addr_matches = call_addr == code;
	}
	if (sigaction(SIGSEGV, &old, NULL) == -1)
		die("sigaction");
	return r;
}

void prot_exec(size_t ps, long value)
{
	unsigned char *code = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		die("mmap");
	size_t clen = code_returning(code, ps, (unsigned)value);
	if (clen == 0) {
		say("the lab has no machine code for this CPU: not shown");
	} else {
		int ret1 = -1, ret2 = -1; /* -1: never returned */
		struct probe nx = probe_call(code, &ret1);
		say("the call: %s%s", probe_str(nx), nx.sig ? nx.addr_matches ? ", at the function's first byte" : ", elsewhere" : "");
		/* W^X: the page is never writable and executable at once */
		if (mprotect(code, ps, PROT_READ | PROT_EXEC) == -1)
			die("mprotect");
		__builtin___clear_cache((char *)code, (char *)code + clen);
		struct probe x = probe_call(code, &ret2);
		say("after mprotect(PROT_READ|PROT_EXEC), the same bytes: %s, %s %d", probe_str(x),
		    ret2 == -1 ? "no value" : "it returned", ret2);
		check(nx.sig == SIGSEGV && nx.code == SEGV_ACCERR && nx.addr_matches && ret1 == -1 && x.sig == 0 && ret2 == value,
		      "PROT_EXEC decides: without it the call is SEGV_ACCERR at the code's first byte, with it the code runs");
	}
	if (munmap(code, ps) == -1)
		die("munmap");
}

void big_mapping(size_t ps, long mib)
{
	size_t len = (size_t)mib << 20;
	char *big = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (big == MAP_FAILED)
		die("mmap %ld MiB", mib);
	if (madvise(big, len, MADV_NOHUGEPAGE) == -1) /* whole pages of ps, not 2 MiB ones */
		die("madvise");
	big[0] = 'F';
	big[len - 1] = 'L';
	struct smaps s = smaps_of(big);
	long pages = (long)(s.rss * 1024 / (long)ps);
	say("mmap(%ld MiB, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE) = a mapping; its first and last byte written; Rss %ld page(s)",
	    mib, pages);
	if (munmap(big, len) == -1)
		die("munmap");
	size_t huge = (size_t)1 << 62; /* more than any address space */
	errno = 0;
	void *none = mmap(NULL, huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int err = none == MAP_FAILED ? errno : 0;
	if (none != MAP_FAILED && munmap(none, huge) == -1)
		die("munmap");
	say("mmap(2^62 bytes) = %s", err ? errname(err) : "a mapping");
	check(pages == 2 && err == ENOMEM,
	      "a mapping's size is bounded by the address space, not by memory: %ld MiB cost 2 pages; 2^62 bytes is ENOMEM", mib);
}
