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

static void mml_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (mml_armed) {
		mml_armed = 0;
		siglongjmp(mml_jb, sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
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
