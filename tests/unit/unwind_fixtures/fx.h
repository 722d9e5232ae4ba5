/*
 * fx.h - the stack shapes test_unwind.c walks through: functions built at
 * -O2 without frame pointers (shapes.c), a dlopen'ed module (plugin.c) and
 * two modules with the same layout but different frame sizes (swap.c).
 * Each shape calls `leaf(arg)` at its innermost point and does some work
 * after the call, so no call becomes a tail call.
 */
#ifndef HANDLE_TEST_UNWIND_FX_H
#define HANDLE_TEST_UNWIND_FX_H

typedef void (*fx_leaf)(void *arg);

/* depth nested calls (no frame pointer: CFA = RSP + off), then leaf. */
void fx_recurse(int depth, fx_leaf leaf, void *arg);
/* depth nested calls that each keep a VLA of `bytes` (CFA = RBP + 16). */
void fx_vla(int depth, int bytes, fx_leaf leaf, void *arg);
/* depth nested calls alternating a VLA frame, an alloca frame and a plain
 * -O2 frame that pushes callee-saved registers. */
void fx_mixed(int depth, fx_leaf leaf, void *arg);
/* Raises `sig` in the calling thread, from depth frames down. */
void fx_raise(int depth, int sig);

/* Hand-written CFI (cfi.S): each calls leaf(arg) from a frame described
 * with unusual CFI. The walker accepts the first four and refuses the
 * others. */
typedef void (*fx_cfi_fn)(fx_leaf leaf, void *arg);
void fx_cfi_sf(fx_leaf leaf, void *arg);
void fx_cfi_rbp(fx_leaf leaf, void *arg);
void fx_cfi_personality(fx_leaf leaf, void *arg);
void fx_cfi_end(fx_leaf leaf, void *arg);
void fx_cfi_cfa_expr(fx_leaf leaf, void *arg);
void fx_cfi_reg_expr(fx_leaf leaf, void *arg);
void fx_cfi_ra_in_reg(fx_leaf leaf, void *arg);
void fx_cfi_signal(fx_leaf leaf, void *arg);

/* In the modules (looked up with dlsym). */
typedef void (*fx_plugin_fn)(int depth, fx_leaf leaf, void *arg);
typedef void (*fx_swap_fn)(fx_leaf leaf, void *arg);

#endif
