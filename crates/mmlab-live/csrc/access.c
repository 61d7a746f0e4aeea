/* Protected user-memory accesses for the mmlab agent: a SIGSEGV or SIGBUS raised by the access
 * itself comes back as the signal number instead of killing the process, so a scenario can
 * expect it. Each thread has its own jump buffer. */
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static __thread sigjmp_buf mml_jb;
static __thread volatile int mml_armed;
/* The si_code of the last signal an access raised on this thread. */
static __thread volatile int mml_si_code;

static void mml_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (mml_armed) {
		mml_si_code = si->si_code;
		mml_armed = 0;
		siglongjmp(mml_jb, sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

int mml_last_si_code(void)
{
	return mml_si_code;
}

int mml_install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mml_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		return -1;
	return 0;
}

/* Run `body` with a fault in it coming back as the function's return value (the signal; 0 when
 * none). A macro because sigsetjmp() has to be called in the frame the jump returns to. Loop
 * indices the body changes must be volatile to survive the jump. */
#define MML_GUARDED(body)                          \
	do {                                       \
		int sig_ = sigsetjmp(mml_jb, 1);   \
		if (sig_)                          \
			return sig_;               \
		mml_armed = 1;                     \
		body;                              \
		mml_armed = 0;                     \
		return 0;                          \
	} while (0)

/* Returns 0 or the signal; *out gets the byte. */
int mml_load(const volatile unsigned char *p, unsigned char *out)
{
	MML_GUARDED(*out = *p);
}

int mml_store(volatile unsigned char *p, unsigned char v)
{
	MML_GUARDED(*p = v);
}

/* Byte-wise so a fault part-way leaves the earlier bytes written, as memset would. */
int mml_memset(volatile unsigned char *p, unsigned char v, size_t len)
{
	volatile size_t i = 0;
	MML_GUARDED(for (; i < len; i++) p[i] = v);
}

/* Read one byte of every page of [p, p+len): p itself, then the start of each following page
 * that the range reaches, as the model's touch() does. The step goes by address, not by offset
 * from p: from an unaligned p, offsets k * page would land one page short of the range's last
 * byte's page when that page holds fewer than (p % page) bytes of the range (fuzz finding 015). */
int mml_touch(const volatile unsigned char *p, size_t len, size_t page)
{
	volatile size_t i = 0;
	const uintptr_t a = (uintptr_t)p;
	/* A volatile read in a void expression still happens. */
	MML_GUARDED(for (; i < len; i = ((a + i) / page + 1) * page - a)(void) p[i]);
}

/* The offset+1 of the first byte that is not v (0 if none); *got gets that byte. */
int mml_mismatch(const volatile unsigned char *p, size_t len, unsigned char v, size_t *at,
		 unsigned char *got)
{
	volatile size_t i = 0;
	*at = 0;
	MML_GUARDED(for (; i < len; i++) {
		if (p[i] != v) {
			*at = i + 1;
			*got = p[i];
			break;
		}
	});
}

/* The byte at offset i of a pattern: seed + (i >> shift), mod 256. */
static unsigned char mml_pattern(unsigned char seed, unsigned shift, size_t i)
{
	return (unsigned char)(seed + (shift >= 64 ? 0 : (i >> shift)));
}

/* Byte-wise, so a fault part-way leaves the earlier bytes written. */
int mml_fill(volatile unsigned char *p, size_t len, unsigned char seed, unsigned shift)
{
	volatile size_t i = 0;
	MML_GUARDED(for (; i < len; i++) p[i] = mml_pattern(seed, shift, i));
}

/* The offset+1 of the first byte that is not the pattern's (0 if none); *got gets it. */
int mml_mismatch_pattern(const volatile unsigned char *p, size_t len, unsigned char seed,
			 unsigned shift, size_t *at, unsigned char *got)
{
	volatile size_t i = 0;
	*at = 0;
	MML_GUARDED(for (; i < len; i++) {
		if (p[i] != mml_pattern(seed, shift, i)) {
			*at = i + 1;
			*got = p[i];
			break;
		}
	});
}

/* The offset+1 of the first byte where a and b differ (0 if none), with both bytes. */
int mml_memcmp(const volatile unsigned char *a, const volatile unsigned char *b, size_t len,
	       size_t *at, unsigned char *ga, unsigned char *gb)
{
	volatile size_t i = 0;
	*at = 0;
	MML_GUARDED(for (; i < len; i++) {
		if (a[i] != b[i]) {
			*at = i + 1;
			*ga = a[i];
			*gb = b[i];
			break;
		}
	});
}
