/*
 * side.h - the debug runtime's per-slot information (creation and deletion
 * stack, thread, time, tag), indexed like the core table's slots, and the
 * quarantine that holds deleted slots back before the core may reuse them
 * (so a stale handle keeps its history). Calls only lib/core and rt.h.
 */
#ifndef HANDLE_DEBUG_SIDE_H
#define HANDLE_DEBUG_SIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

/* Written by the thread that owns the slot (the creator, then the deleter
 * that won the retire CAS); read by diagnostics and the leak check, which
 * check `h`. */
struct handle__side {
    _Atomic uint64_t h;    /* the handle this information is about */
    uint64_t created_ns, deleted_ns;
    uint32_t created_stack, deleted_stack;
    uint32_t created_thread, deleted_thread;
    uint32_t tag;          /* interned tag id */
    uint32_t epoch;        /* fork epoch of the creating process */
};

/* The entry of slot idx; with create, its chunk is mapped on first use.
 * NULL when the chunk is not mapped (create: when mmap failed). */
HANDLE__HIDDEN struct handle__side *handle__side_get(uint32_t idx, bool create);

/* Sets how many deleted slots the quarantine holds (quarantine=N). */
HANDLE__HIDDEN void handle__quarantine_init(uint64_t cap);
/* Holds the retired slot idx back; gives the oldest one back to the core
 * when full (or idx itself when there is no quarantine). */
HANDLE__HIDDEN void handle__quarantine_push(uint32_t idx);

/* pthread_atfork phases (model.h's HANDLE__FORK_*). */
HANDLE__HIDDEN void handle__side_fork(int phase);

#endif
