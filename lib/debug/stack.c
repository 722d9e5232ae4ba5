/*
 * stack.c - stack capture for the debug runtime.
 *
 * DWARF unwinding: first with our own walker (unwind.c: per-pc rules cached
 * from .eh_frame, ~50 ns for 23 frames), which gives exactly libunwind's
 * unw_backtrace() result or refuses; on a refusal (signal frames, frames
 * without CFI, unusual rules, sigaltstack) with libunwind's unw_backtrace
 * (about 150-250 ns for 23 frames; the unw_step loop costs 12 us and is
 * not used). With fast_unwind=1, or when neither can walk the stack, a
 * frame-pointer walk bounded by the thread's stack.
 * libunwind is loaded with dlopen(RTLD_LOCAL), never as a DT_NEEDED
 * dependency: libunwind.so.8 defines backtrace() and _Unwind_* and would
 * otherwise interpose on the host's (breaking C++ exceptions and glibc's
 * backtrace). Frames inside libhandle-debug.so (and libunwind itself) are
 * dropped, so pcs[0] is the program's call into the library.
 *
 * Capture takes no lock of ours and allocates nothing (a pc never seen
 * before costs the walker a dl_iterate_phdr, as it costs libunwind).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <string.h>

#include "forward.h"
#include "loader.h"
#include "rt.h"
#include "stack.h"
#include "unwind.h"

typedef int (*unw_backtrace_fn)(void **buffer, int size);
static unw_backtrace_fn unw_bt;
static uintptr_t self_lo, self_hi, unw_lo, unw_hi;

static void range_of(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
    Dl_info di;
    struct link_map *lm = NULL;
    handle__loader_enter();
    int found = dladdr1(addr, &di, (void **)&lm, RTLD_DL_LINKMAP);
    handle__loader_leave();
    if (!found || di.dli_fbase == NULL)
        return;
    const ElfW(Ehdr) *eh = di.dli_fbase;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(const void *)((const char *)eh + eh->e_phoff);
    uintptr_t bias = lm ? lm->l_addr : 0, l = UINTPTR_MAX, h = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        uintptr_t a = bias + ph[i].p_vaddr;
        if (a < l)
            l = a;
        if (a + ph[i].p_memsz > h)
            h = a + ph[i].p_memsz;
    }
    if (h) {
        *lo = l;
        *hi = h;
    }
}

bool handle__self_pc(uintptr_t pc)
{
    return (pc >= self_lo && pc < self_hi) || (pc >= unw_lo && pc < unw_hi) ||
           handle__forward_pc(pc); /* forward (issue 11 case 12): a forwarding libhandle.so */
}

void handle__stack_self_init(void)
{
    if (self_hi == 0)
        range_of((const void *)&handle__stack_init, &self_lo, &self_hi);
}

bool handle__stack_init(void)
{
    handle__stack_self_init();
    handle__unwind_init(); /* normally done already by its constructor */
    void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return false;
    unw_bt = (unw_backtrace_fn)(uintptr_t)dlsym(lib, "unw_backtrace");
    if (unw_bt)
        range_of((const void *)(uintptr_t)unw_bt, &unw_lo, &unw_hi);
    return unw_bt != NULL;
}

static void stack_bounds(struct handle__tls *t)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    t->stack_lo = 1;
    t->stack_hi = 0;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    if (pthread_attr_getstack(&a, &addr, &size) == 0) {
        t->stack_lo = (uintptr_t)addr;
        t->stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&a);
}

/* Walks the frame-pointer chain from our own frame. */
__attribute__((noinline)) static uint32_t fp_walk(uintptr_t *pcs, uint32_t max)
{
    struct handle__tls *t = handle__tls_get();
    if (t == NULL)
        return 0;
    if (t->stack_lo == 0 && t->stack_hi == 0)
        stack_bounds(t);
    uintptr_t lo = t->stack_lo, hi = t->stack_hi;
    const uintptr_t *fp = __builtin_frame_address(0);
    uint32_t n = 0;
    while (n < max && (uintptr_t)fp >= lo && (uintptr_t)fp + 2 * sizeof(uintptr_t) <= hi &&
           ((uintptr_t)fp & (sizeof(uintptr_t) - 1)) == 0) {
        uintptr_t ret = fp[1];
        if (ret < 4096)
            break;
        pcs[n++] = ret;
        const uintptr_t *next = (const uintptr_t *)fp[0];
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

#ifdef HANDLE_UNWIND_XCHECK
#include <stdlib.h>

#include "../core/fmt.h"

/* Maintainers' aid (cmake -DCMAKE_C_FLAGS=-DHANDLE_UNWIND_XCHECK): every
 * capture the walker makes is made again by libunwind, and the process
 * aborts, printing both, if they differ (and, with verbosity=1, prints a
 * count of the walks checked at exit). libunwind's array has one frame
 * more (ref[0], in xcheck); raw[0] and ref[1] are return addresses into
 * handle__stack_capture from different calls. */
static _Atomic uint64_t xchecked, xrefused;

/* With verbosity=1, at exit: how many walks were checked. */
__attribute__((destructor)) static void xcheck_summary(void)
{
    char buf[256];
    if (handle__opt.verbosity < 1)
        return;
    struct handle__unwind_stats st;
    handle__unwind_stats(&st);
    struct handle__fmt f = {buf, 0, sizeof buf};
    handle__fmt_str(&f, "HANDLE_UNWIND_XCHECK: ");
    handle__fmt_dec(&f, atomic_load(&xchecked));
    handle__fmt_str(&f, " walks matched libunwind, ");
    handle__fmt_dec(&f, atomic_load(&xrefused));
    handle__fmt_str(&f, " refused; rules computed ");
    handle__fmt_dec(&f, st.computed);
    handle__fmt_str(&f, ", unload checks ");
    handle__fmt_dec(&f, st.checked);
    handle__fmt_str(&f, ", retries ");
    handle__fmt_dec(&f, st.retried);
    handle__fmt_str(&f, "\n");
    handle__rt_write(buf, f.len);
}

__attribute__((noinline)) static void xcheck(const uintptr_t *raw, int n, uint32_t want)
{
    uintptr_t ref[HANDLE__MAX_FRAMES + 17];
    if (n < 0) {
        atomic_fetch_add(&xrefused, 1);
        return;
    }
    atomic_fetch_add(&xchecked, 1);
    if (unw_bt == NULL)
        return;
    int m = unw_bt((void **)ref, (int)want + 1);
    bool same = m == n + 1;
    for (int i = 1; same && i < n; i++)
        same = raw[i] == ref[i + 1];
    if (same)
        return;
    char buf[8192];
    struct handle__fmt f = {buf, 0, sizeof buf};
    handle__fmt_str(&f, "HANDLE_UNWIND_XCHECK: walker and libunwind differ\n");
    for (int i = 0; i < n || i + 1 < m; i++) {
        handle__fmt_str(&f, "  #");
        handle__fmt_dec(&f, (uint64_t)i);
        handle__fmt_str(&f, " walker ");
        handle__fmt_hex(&f, i < n ? raw[i] : 0);
        handle__fmt_str(&f, " libunwind ");
        handle__fmt_hex(&f, i + 1 < m ? ref[i + 1] : 0);
        handle__fmt_str(&f, "\n");
    }
    handle__rt_write(buf, f.len);
    abort();
}
#endif

uint32_t handle__stack_capture(uintptr_t *pcs, uint32_t max)
{
    uintptr_t raw[HANDLE__MAX_FRAMES + 16];
    uint32_t want = max + 16 > HANDLE__MAX_FRAMES + 16 ? HANDLE__MAX_FRAMES + 16 : max + 16;
    int r = -1;
    if (!handle__opt.fast_unwind) {
        struct handle__tls *t = handle__tls_get();
        if (t != NULL) {
            if (t->stack_lo == 0 && t->stack_hi == 0)
                stack_bounds(t);
            r = handle__unwind(raw, want, t->stack_lo, t->stack_hi);
#ifdef HANDLE_UNWIND_XCHECK
            xcheck(raw, r, want);
#endif
        }
        if (r < 0 && unw_bt != NULL) {
            handle__loader_enter(); /* libunwind walks the loader's lists */
            r = unw_bt((void **)raw, (int)want);
            handle__loader_leave();
            /* the walker did not see the unload counter: the depot needs
             * it current (a plugin unloaded, another at its address) */
            handle__unwind_observe();
        }
    }
    uint32_t n = r >= 0 ? (uint32_t)r : fp_walk(raw, want);
    uint32_t skip = 0;
    while (skip < n && handle__self_pc(raw[skip]))
        skip++;
    uint32_t depth = n - skip > max ? max : n - skip;
    memcpy(pcs, raw + skip, depth * sizeof *pcs);
    return depth;
}
