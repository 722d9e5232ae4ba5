/*
 * trace_ring.h - the trace's bottom layer (internal to trace_*.c): the
 * bounded MPSC event ring, the state producers and the writer thread share
 * (all of it in one struct, handle__tr), the futexes they sleep on, and the
 * queue of warnings the trace cannot print itself. It calls nothing of the
 * trace above it (store, writer) and nothing of the runtime.
 *
 * Producers queue fixed-size 64-byte events: one fetch-add on the tail and
 * a one-cache-line store, no lock; a producer that finds its slot still
 * full waits on a futex (nothing is ever dropped). The one consumer, the
 * writer thread, copies events out with handle__tr_drain() and tells
 * waiters with handle__tr_publish() what it has committed.
 */
#ifndef HANDLE_DEBUG_TRACE_RING_H
#define HANDLE_DEBUG_TRACE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/core.h"
#include "futex.h"

#define HANDLE__TR_RING_BITS 16
#define HANDLE__TR_RING_CAP (UINT64_C(1) << HANDLE__TR_RING_BITS)
#define HANDLE__TR_RING_MASK (HANDLE__TR_RING_CAP - 1)
/* sync/error/error_text give up waiting for the writer after this long. */
#define HANDLE__TR_SYNC_WAIT_NS UINT64_C(2000000000)

enum handle__tr_ev_type {
    HANDLE__EV_NEW = 1,
    HANDLE__EV_DELETE,
    HANDLE__EV_ERROR,      /* t0: malloc'd "kind\0message\0", freed by the writer */
    HANDLE__EV_ERROR_BARE, /* t0: the caller's kind string (no memory for a copy) */
    HANDLE__EV_ERROR_TEXT, /* t0: malloc'd message for the last error, freed by the writer */
    HANDLE__EV_SYNC,
};

/* The payload of one ring slot: 56 bytes, so that a slot with its sequence
 * number is one cache line.
 *   NEW:    h, t0 = created_ns, a = tag, created_thread, created_stack
 *   DELETE: h, t0 = created_ns, t1 = deleted_ns,
 *           a = tag, created_thread, created_stack, deleted_thread,
 *               deleted_stack
 *   ERROR:  h, t0 = text, t1 = at_ns, a = tag, created_thread,
 *           created_stack, deleted_thread, deleted_stack, thread, stack */
struct handle__tr_ev {
    uint64_t h;
    uint64_t t0, t1;
    uint32_t a[7];
    uint32_t type;
};

struct handle__tr_cell {
    _Alignas(64) _Atomic uint64_t seq; /* pos: free for pos; pos+1: holds pos */
    struct handle__tr_ev ev;
};

_Static_assert(sizeof(struct handle__tr_cell) == 64, "a ring slot is one cache line");

/* Warnings queued for the runtime to print (handle__trace_take_warning). */
#define HANDLE__TR_WARN_SLOTS 4
#define HANDLE__TR_WARN_LEN 1024

/* Everything producers and the writer share. Producers read accepting and
 * bump tail; the rest is touched on slow paths only. */
struct handle__tr_shared {
    _Alignas(64) _Atomic uint64_t tail;  /* next position handed out */
    _Alignas(64) _Atomic bool accepting; /* an open trace takes events (not frozen) */
    _Atomic bool open;                   /* a trace is open in this process */
    _Atomic uint64_t stop_pos;           /* the CLOSE event's position: none after it is read */
    _Alignas(64) _Atomic uint32_t wake;  /* futex: the writer sleeps here */
    _Atomic uint32_t writer_idle;        /* the writer is (about to be) asleep */
    _Atomic uint32_t space;              /* futex: producers wait for room */
    _Atomic uint32_t space_waiters;
    _Atomic uint32_t commit_seq;         /* futex: sync waiters */
    _Atomic uint64_t committed;          /* positions < committed are done */
    _Atomic pid_t owner;                 /* the process whose writer drains the ring */
    /* warnings: a tiny queue under a spin flag (never held across a call) */
    _Atomic uint32_t warn_pending;       /* queued, not yet taken */
    atomic_flag warn_lock;
    uint32_t warn_head, warn_n;
    char warn[HANDLE__TR_WARN_SLOTS][HANDLE__TR_WARN_LEN];
};

HANDLE__HIDDEN extern struct handle__tr_shared handle__tr;
/* Static, so that a producer racing with close (or running after it) only
 * ever touches memory that stays valid; its pages are committed only when
 * a trace is opened. */
HANDLE__HIDDEN extern struct handle__tr_cell handle__tr_ring[HANDLE__TR_RING_CAP];

/* Monotonic time in ns. */
HANDLE__HIDDEN uint64_t handle__tr_mono_ns(void);

/* ---- producers ------------------------------------------------------- */

/* Queues *ev; false (and nothing queued) when no trace accepts events.
 * *posp (if not NULL) gets the event's position. */
HANDLE__HIDDEN bool handle__tr_enqueue(const struct handle__tr_ev *ev, uint64_t *posp);
/* As handle__tr_enqueue(), for the lifecycle's and the waiting calls'
 * events (FREEZE, CLOSE, SYNC, ERROR): queued while a trace is open, also
 * after freeze. */
HANDLE__HIDDEN bool handle__tr_enqueue_ctl(const struct handle__tr_ev *ev, uint64_t *posp);
/* Wakes the writer if it sleeps (or always, with force). */
HANDLE__HIDDEN void handle__tr_wake_writer(bool force);
/* Slow paths only (never per event): whether the ring is drained by a
 * writer of this process. False in a clone() child that does not share
 * the parent's memory (no fork handler ran, the writer is the parent's):
 * it stops accepting events, with one warning; its checks go on. True
 * when no trace is open. */
HANDLE__HIDDEN bool handle__tr_owned(void);
/* Waits until the event at pos is committed, at most SYNC_WAIT_NS. */
HANDLE__HIDDEN void handle__tr_wait_committed(uint64_t pos);

/* ---- the consumer (the writer thread) -------------------------------- */

/* Copies up to max published events from position *head on and frees
 * their slots; advances *head and returns how many. *woke_at: the head
 * when waiting producers were last woken. */
HANDLE__HIDDEN size_t handle__tr_drain(uint64_t *head, uint64_t *woke_at,
                                       struct handle__tr_ev *buf, size_t max);
/* Whether the slot at head holds an event. */
HANDLE__HIDDEN bool handle__tr_ready(uint64_t head);
/* Tells waiters that every position below pos is done. */
HANDLE__HIDDEN void handle__tr_publish(uint64_t pos);
/* Wakes every producer waiting for room. */
HANDLE__HIDDEN void handle__tr_wake_producers(void);
/* Resets the ring for a new trace: no producer may be using it. */
HANDLE__HIDDEN void handle__tr_reset(void);
/* In a fork child (single-threaded): forgets everything. */
HANDLE__HIDDEN void handle__tr_forget(void);

/* ---- warnings -------------------------------------------------------- */

/* Queues a warning (dropped when the queue is full). Any thread. */
HANDLE__HIDDEN void handle__tr_warn(const char *text);

#endif
