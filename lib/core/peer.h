/*
 * peer.h - one handle table per process (SPEC section 1): how the copies of
 * libhandle in a process (libhandle.so or libhandle.a, libhandle-debug.so)
 * find each other without exporting anything, and decide once which table
 * serves the process; the others forward every call to it.
 *
 * Each library carries an ELF note (section .note.handle, in a PT_NOTE
 * segment; name "libhandle", type HANDLE__NOTE_PEER) whose 4-byte
 * descriptor is the link-time offset, from the descriptor itself, of the
 * library's hidden struct handle__peer: its kind, its own seven calls and
 * its decision. handle__peer_decide() walks the loaded objects with
 * dl_iterate_phdr and reads those notes; it runs inside a dl_iterate_phdr
 * callback, so that the decisions of all copies are serialized by glibc's
 * lock on the list of loaded objects (held across the callbacks).
 *
 * The rules, applied once per library, at its first call:
 * - a library whose table already serves the process (OWNER) is followed:
 *   the deciding library forwards to it;
 * - otherwise a release library forwards to the debug library that
 *   dlsym(RTLD_DEFAULT, "handle_new") lands in (the one LD_PRELOAD or
 *   RTLD_GLOBAL put first in the global scope), which becomes the owner;
 *   a debug library loaded RTLD_LOCAL, shadowed, or not yet loaded is not
 *   found this way;
 * - otherwise the deciding library's own table serves (OWNER).
 * A shared library that forwards to a debug library records the address
 * range of its code in the owner's peer, so that the debug runtime drops
 * its forwarding frames from the top of its stacks (frame #0 stays the
 * program's call even where they are not tail calls, as at -O0).
 *
 * Limits: glibc only (dl_iterate_phdr's lock held across callbacks; dlsym
 * in libc itself since 2.34, so libhandle.so still needs nothing but
 * libc). A first call made by a signal handler that interrupted dlopen()
 * on the same thread would walk a list being changed (the lock is
 * recursive). At most HANDLE__PEER_FROM libraries register their frames
 * with one debug owner; more still forward, their frames just stay in the
 * stacks where they are not tail calls. Both shared libraries are linked
 * -z nodelete, since another may hold their calls.
 */
#ifndef HANDLE_CORE_PEER_H
#define HANDLE_CORE_PEER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* The seven calls of one library: its own definitions, never a symbol
 * that another object interposes. */
struct handle__fwd {
    handle_t (*new_)(void *value);
    handle_t (*new_tagged)(void *value, const char *tag);
    void *(*value)(handle_t h);
    void *(*value_tagged)(handle_t h, const char *tag);
    void (*del)(handle_t h);
    bool (*lookup)(handle_t h, void **value);
    size_t (*live_count)(void);
};

enum {
    HANDLE__PEER_UNDECIDED = 0, /* no call yet */
    HANDLE__PEER_OWNER = 1,     /* its table serves the process */
    HANDLE__PEER_FORWARD = 2,   /* forwards every call to `to` */
};
enum { HANDLE__PEER_RELEASE = 1, HANDLE__PEER_DEBUG = 2 };

#define HANDLE__PEER_MAGIC 0x726565702e68646cull /* "ldh.peer" */
#define HANDLE__PEER_VERSION 1u
#define HANDLE__PEER_FROM 8u
#define HANDLE__NOTE_PEER 0x48440001 /* no suffix: it is also assembler text */

struct handle__peer {
    uint64_t magic;                 /* HANDLE__PEER_MAGIC */
    uint32_t version;               /* HANDLE__PEER_VERSION: the layout */
    uint32_t kind;                  /* HANDLE__PEER_RELEASE or _DEBUG */
    const struct handle__peer *self; /* its own address (0 until relocated) */
    const struct handle__fwd *api;  /* its own seven calls */
    /* 1: its object holds nothing but libhandle (libhandle.so, the debug
     * library), so a debug owner may drop the object's frames from the top
     * of its stacks; 0 (libhandle.a inside a program): it may not. */
    uint32_t own_object;
    uint32_t reserved;
    _Atomic int state;              /* HANDLE__PEER_*; written under the loader's lock */
    _Atomic(struct handle__peer *) to; /* FORWARD: the owner (set before state) */
    /* The forwarding frames of the libraries that forward to this one
     * (a debug owner drops them from its stacks); nfrom is published
     * after the range it counts. */
    _Atomic uint32_t nfrom;
    struct {
        _Atomic uintptr_t lo, hi;
    } from[HANDLE__PEER_FROM];
};

/* The note pointing at SYM (a hidden struct handle__peer); one per library. */
#define HANDLE__PEER_NOTE_STR2(x) #x
#define HANDLE__PEER_NOTE_STR(x) HANDLE__PEER_NOTE_STR2(x)
#define HANDLE__PEER_NOTE(sym)                                                          \
    __asm__(".pushsection .note.handle,\"a\",%note\n"                                   \
            ".balign 4\n"                                                               \
            ".long 10\n"                                                                \
            ".long 4\n"                                                                 \
            ".long " HANDLE__PEER_NOTE_STR(HANDLE__NOTE_PEER) "\n"                      \
            ".asciz \"libhandle\"\n"                                                    \
            ".balign 4\n"                                                               \
            ".long " #sym " - .\n"                                                      \
            ".popsection\n")

/*
 * Decides, if self has not decided yet, which table serves the process,
 * by the rules above. Returns the peer that self forwards to, or NULL when
 * self's own table serves. *owner_name (if not NULL) receives the file
 * name of the object holding the returned peer ("" for the program).
 * Takes glibc's loader locks (dlsym, dl_iterate_phdr); allocates nothing;
 * preserves errno.
 */
HANDLE__HIDDEN struct handle__peer *handle__peer_decide(struct handle__peer *self,
                                                        const char **owner_name);

/* Whether pc lies in the forwarding frames of a library that forwards to
 * self (lock-free; async-signal-safe). */
static inline bool handle__peer_from_pc(struct handle__peer *self, uintptr_t pc)
{
    uint32_t n = atomic_load_explicit(&self->nfrom, memory_order_acquire);
    for (uint32_t i = 0; i < n && i < HANDLE__PEER_FROM; i++)
        if (pc >= atomic_load_explicit(&self->from[i].lo, memory_order_relaxed) &&
            pc < atomic_load_explicit(&self->from[i].hi, memory_order_relaxed))
            return true;
    return false;
}

#endif /* HANDLE_CORE_PEER_H */
