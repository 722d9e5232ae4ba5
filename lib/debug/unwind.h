/*
 * unwind.h - the debug runtime's own DWARF stack walker (x86-64 Linux):
 * the return addresses libunwind's unw_backtrace() would give, from a
 * lock-free global cache of per-pc unwind rules, or a refusal when the
 * stack has a frame it cannot walk exactly like libunwind (then the caller
 * asks libunwind). It does not symbolize, store or filter frames; stack.c
 * does that. On other architectures every call refuses.
 */
#ifndef HANDLE_DEBUG_UNWIND_H
#define HANDLE_DEBUG_UNWIND_H

#include <stdint.h>

#include "../core/core.h"

/* Walks the calling thread's stack. pcs[0] is the return address of this
 * call (a pc inside the caller), pcs[1] the caller's return address, and
 * so on: the same array, entry for entry, as unw_backtrace(pcs, max) called
 * from the same place (libunwind 1.6's fast trace). [stack_lo, stack_hi) is
 * the calling thread's stack; nothing outside it (or below the current
 * stack pointer) is read.
 *
 * Returns the depth (<= max), or -1 when the stack cannot be walked here:
 * a frame without CFI in .eh_frame, a signal frame, an unusual rule
 * (expressions, the CFA in another register, ...), an address outside the
 * bounds, or the current stack pointer outside them (sigaltstack,
 * coroutines). The caller must then use libunwind for this capture.
 *
 * Takes no lock on the common path (rules cached, stack similar to this
 * thread's previous one); allocates nothing. A pc seen for the first time
 * costs a dl_iterate_phdr (the loader's lock, never one of ours) and an
 * FDE parse; a stack through a module loaded after start-up costs one
 * dl_iterate_phdr to check that no module was unloaded since its rules
 * were cached. Async-signal-safe when no new pc is met. */
HANDLE__HIDDEN int handle__unwind(uintptr_t *pcs, uint32_t max, uintptr_t stack_lo,
                                  uintptr_t stack_hi);

/* Records the modules loaded now as start-up modules (never unloaded, so
 * their cached rules need no check). Runs as a constructor of the library,
 * so a module dlopen'ed by a constructor that ran before it counts as one
 * too (see unwind.c); calling it again does nothing. */
HANDLE__HIDDEN void handle__unwind_init(void);

/* dl_iterate_phdr's unload counter (dlpi_subs) as last seen by a walk:
 * one atomic load. A walk that used a module loaded after start-up has
 * checked it, so after such a capture it is current; a dlclose that no
 * walk has met yet (captures by frame pointers only, fast_unwind=1) is not
 * in it. */
HANDLE__HIDDEN uint64_t handle__unwind_subs(void);
/* Reads the unload counter now (one dl_iterate_phdr) into what
 * handle__unwind_subs returns: after a capture made without the walker. */
HANDLE__HIDDEN void handle__unwind_observe(void);

/* Slow-path counters, for tests and tuning (relaxed, approximate). */
struct handle__unwind_stats {
    uint64_t computed;     /* rules computed from an FDE (cache misses) */
    uint64_t unsupported;  /* walks refused: rule, bounds or stack pointer */
    uint64_t retried;      /* walks redone after a module was unloaded */
    uint64_t checked;      /* dlpi_subs checks for modules loaded later */
};
HANDLE__HIDDEN void handle__unwind_stats(struct handle__unwind_stats *out);

#endif
