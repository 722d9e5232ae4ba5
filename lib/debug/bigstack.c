/*
 * bigstack.c - see bigstack.h.
 *
 * The stack is entered with makecontext/swapcontext on the calling thread
 * rather than given to a helper thread or a forked child, because the
 * work must stay on this thread: a panic inside a constructor runs with
 * the loader lock held (recursively) by this thread, and the libdw
 * dlopen and dl_iterate_phdr it does would deadlock on another thread; a
 * thread cannot be created at all in some hosts (RLIMIT_NPROC, seccomp,
 * a signal handler) and a fork() runs the host's atfork handlers, which
 * may take locks this thread holds. Same thread also means same
 * thread-local state (the runtime's re-entry guard, the symbolizer's
 * fault guard) and the same signal mask.
 *
 * The alternate signal stack: a static one (the report paths may run when
 * no memory is left, under RLIMIT_AS) owned by one report at a time; a
 * second report at the same moment maps its own, or has none (then the
 * symbolizer's guard falls back to its own). It is installed from the
 * private stack, where it is allowed even when the caller is itself a
 * signal handler running on the thread's alternate stack (whose frames a
 * new signal must then not overwrite: hence a different one).
 */
#include "bigstack.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

/* Below the stack, unmapped (PROT_NONE): an overflow faults instead of
 * writing over other memory; large enough that a big frame cannot jump
 * over it. */
#define GUARD_SIZE (256u << 10)
#define ALT_SIZE (64u << 10)

static char alt_static[ALT_SIZE] __attribute__((aligned(64)));
static atomic_flag alt_taken = ATOMIC_FLAG_INIT;

struct call {
    void (*fn)(void *);
    void *arg;
};

static void on_private_stack(unsigned hi, unsigned lo)
{
    struct call *c = (struct call *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    /* The alternate stack, from here: not on the old one any more. */
    void *alt = NULL, *mapped = NULL;
    if (!atomic_flag_test_and_set(&alt_taken)) {
        alt = alt_static;
    } else {
        mapped = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        alt = mapped == MAP_FAILED ? NULL : mapped;
    }
    stack_t ns = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0}, old;
    bool set = alt && sigaltstack(&ns, &old) == 0;
    c->fn(c->arg);
    if (set) {
        /* The old one may have been "on stack" only for the caller's
         * frames: restoring it from here is allowed. */
        old.ss_flags &= ~SS_ONSTACK;
        sigaltstack(&old, NULL);
    }
    if (alt == alt_static)
        atomic_flag_clear(&alt_taken);
    else if (alt)
        munmap(mapped, ALT_SIZE);
}

bool handle__bigstack_run(void (*fn)(void *), void *arg, char *why, size_t len)
{
    int saved = errno;
    size_t total = (size_t)GUARD_SIZE + HANDLE__BIGSTACK_SIZE;
    char *m = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED || mprotect(m + GUARD_SIZE, HANDLE__BIGSTACK_SIZE,
                                    PROT_READ | PROT_WRITE) != 0) {
        snprintf(why, len, "no memory for a %u MiB stack to symbolize on (%s)",
                 HANDLE__BIGSTACK_SIZE >> 20, strerror(errno));
        if (m != MAP_FAILED)
            munmap(m, total);
        errno = saved;
        return false;
    }
    struct call c = {fn, arg};
    ucontext_t back, ctx;
    if (getcontext(&ctx) != 0) {
        snprintf(why, len, "cannot switch stacks (%s)", strerror(errno));
        munmap(m, total);
        errno = saved;
        return false;
    }
    ctx.uc_stack.ss_sp = m + GUARD_SIZE;
    ctx.uc_stack.ss_size = HANDLE__BIGSTACK_SIZE;
    ctx.uc_stack.ss_flags = 0;
    ctx.uc_link = &back;
    makecontext(&ctx, (void (*)(void))on_private_stack, 2, (unsigned)((uintptr_t)&c >> 32),
                (unsigned)(uintptr_t)&c);
    bool ok = swapcontext(&back, &ctx) == 0;
    munmap(m, total);
    if (!ok)
        snprintf(why, len, "cannot switch stacks (%s)", strerror(errno));
    errno = saved;
    return ok;
}
