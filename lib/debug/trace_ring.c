/*
 * trace_ring.c - the trace's event ring and the state producers share with
 * the writer thread (trace_ring.h), and the producers' public calls
 * handle__trace_new/delete (trace.h), which are the fast path:
 * handle__tr_enqueue() is in this file so that it is inlined into them (one
 * load of accepting, one fetch-add, a 64-byte store). Also its slow path
 * (the ring is full: wait for room), the consumer's side and the warning
 * queue.
 */
#include "trace_ring.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../core/fmt.h"
#include "trace.h"

struct handle__tr_shared handle__tr = {.warn_lock = ATOMIC_FLAG_INIT};
struct handle__tr_cell handle__tr_ring[HANDLE__TR_RING_CAP];

/* A producer whose position is a multiple of this wakes an idle writer, so
 * a burst is drained long before the ring fills. */
#define NUDGE_EVERY (HANDLE__TR_RING_CAP / 8)

uint64_t handle__tr_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A spin-wait hint to the CPU. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- producers ------------------------------------------------------- */

void handle__tr_wake_writer(bool force)
{
    if (force || atomic_load_explicit(&handle__tr.writer_idle, memory_order_relaxed)) {
        atomic_fetch_add(&handle__tr.wake, 1);
        handle__futex_wake(&handle__tr.wake, 1);
    }
}

/* Slow path of enqueue(): the slot for pos still holds an event from the
 * previous lap. Waits until the writer frees it (true). A producer that
 * holds a position must fill it, or the writer would wait for it forever;
 * it gives up (false: the event is ignored) only when the writer will
 * never read pos (it comes after the CLOSE event), or the writer is not
 * this process's. */
static bool wait_room(struct handle__tr_cell *c, uint64_t pos)
{
    for (int i = 0; i < 128; i++) {
        if (atomic_load_explicit(&c->seq, memory_order_acquire) == pos)
            return true;
        cpu_relax();
    }
    if (!handle__tr_owned())
        return false;
    atomic_fetch_add(&handle__tr.space_waiters, 1);
    bool ok = true;
    for (;;) {
        uint32_t v = atomic_load(&handle__tr.space);
        if (atomic_load(&c->seq) == pos)
            break;
        if (pos > atomic_load(&handle__tr.stop_pos)) {
            ok = atomic_load(&c->seq) == pos;
            break;
        }
        handle__tr_wake_writer(true);
        handle__futex_wait(&handle__tr.space, v, 10000000u);
    }
    atomic_fetch_sub(&handle__tr.space_waiters, 1);
    return ok;
}

/* Takes a position and fills its slot. */
static inline bool put(const struct handle__tr_ev *ev, uint64_t *posp)
{
    uint64_t pos = atomic_fetch_add_explicit(&handle__tr.tail, 1, memory_order_relaxed);
    struct handle__tr_cell *c = &handle__tr_ring[pos & HANDLE__TR_RING_MASK];
    if (HANDLE__UNLIKELY(atomic_load_explicit(&c->seq, memory_order_acquire) != pos) &&
        !wait_room(c, pos))
        return false;
    c->ev = *ev;
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    if (HANDLE__UNLIKELY((pos & (NUDGE_EVERY - 1)) == 0))
        handle__tr_wake_writer(false);
    if (posp)
        *posp = pos;
    return true;
}

bool handle__tr_enqueue(const struct handle__tr_ev *ev, uint64_t *posp)
{
    if (!atomic_load_explicit(&handle__tr.accepting, memory_order_acquire))
        return false;
    return put(ev, posp);
}

bool handle__tr_enqueue_ctl(const struct handle__tr_ev *ev, uint64_t *posp)
{
    if (!atomic_load(&handle__tr.open))
        return false;
    return put(ev, posp);
}

bool handle__tr_owned(void)
{
    pid_t owner = atomic_load(&handle__tr.owner);
    if (HANDLE__LIKELY(owner == 0 || owner == getpid()))
        return true;
    /* Our own copy of the ring: nobody will ever drain it. */
    atomic_store(&handle__tr.open, false);
    if (atomic_exchange(&handle__tr.accepting, false)) {
        char text[160];
        struct handle__fmt f = {text, 0, sizeof text - 1};
        handle__fmt_str(&f, "process ");
        handle__fmt_dec(&f, (uint64_t)getpid());
        handle__fmt_str(&f, " was cloned without its parent's memory (clone() without "
                            "CLONE_VM): it stops tracing; its checks go on");
        text[f.len] = '\0';
        handle__tr_warn(text);
    }
    return false;
}

void handle__tr_wait_committed(uint64_t pos)
{
    uint64_t deadline = handle__tr_mono_ns() + HANDLE__TR_SYNC_WAIT_NS;
    for (;;) {
        uint32_t v = atomic_load(&handle__tr.commit_seq);
        if (atomic_load(&handle__tr.committed) > pos)
            return;
        uint64_t now = handle__tr_mono_ns();
        if (now >= deadline)
            return;
        handle__futex_wait(&handle__tr.commit_seq, v,
                              deadline - now < 50000000u ? deadline - now : 50000000u);
    }
}

/* The public calls below are documented in trace.h. Producers touch only
 * the ring and the shared state above; they never block but on a full ring
 * or in sync/error, and keep errno. */
void handle__trace_new(handle_t h, uint32_t tag, uint64_t created_ns, uint32_t created_thread,
                       uint32_t created_stack)
{
    struct handle__tr_ev ev = {.h = h, .t0 = created_ns, .type = HANDLE__EV_NEW};
    ev.a[0] = tag;
    ev.a[1] = created_thread;
    ev.a[2] = created_stack;
    handle__tr_enqueue(&ev, NULL);
}

/* See trace.h; the DELETE event carries the creation too, so the writer
 * never needs the NEW event to write a completed lifetime. */
void handle__trace_delete(handle_t h, uint32_t tag, uint64_t created_ns, uint32_t created_thread,
                          uint32_t created_stack, uint64_t deleted_ns, uint32_t deleted_thread,
                          uint32_t deleted_stack)
{
    struct handle__tr_ev ev = {.h = h, .t0 = created_ns, .t1 = deleted_ns,
                               .type = HANDLE__EV_DELETE};
    ev.a[0] = tag;
    ev.a[1] = created_thread;
    ev.a[2] = created_stack;
    ev.a[3] = deleted_thread;
    ev.a[4] = deleted_stack;
    handle__tr_enqueue(&ev, NULL);
}

/* ---- the consumer ---------------------------------------------------- */

size_t handle__tr_drain(uint64_t *head, uint64_t *woke_at, struct handle__tr_ev *buf, size_t max)
{
    size_t n = 0;
    uint64_t hd = *head;
    while (n < max) {
        struct handle__tr_cell *c = &handle__tr_ring[hd & HANDLE__TR_RING_MASK];
        if (atomic_load_explicit(&c->seq, memory_order_acquire) != hd + 1)
            break;
        buf[n++] = c->ev;
        atomic_store_explicit(&c->seq, hd + HANDLE__TR_RING_CAP, memory_order_release);
        hd++;
    }
    *head = hd;
    /* Producers waiting for room are woken once a quarter of the ring is
     * free again, or when it is empty: one wake per many slots, not one per
     * drain. */
    if (n && (hd - *woke_at >= HANDLE__TR_RING_CAP / 4 || n < max)) {
        /* pairs with the fetch_add on space_waiters in wait_room() */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&handle__tr.space_waiters, memory_order_relaxed)) {
            *woke_at = hd;
            handle__tr_wake_producers();
        }
    }
    return n;
}

bool handle__tr_ready(uint64_t head)
{
    return atomic_load_explicit(&handle__tr_ring[head & HANDLE__TR_RING_MASK].seq,
                                memory_order_acquire) == head + 1;
}

void handle__tr_publish(uint64_t pos)
{
    atomic_store(&handle__tr.committed, pos);
    atomic_fetch_add(&handle__tr.commit_seq, 1);
    handle__futex_wake(&handle__tr.commit_seq, INT_MAX);
}

void handle__tr_wake_producers(void)
{
    atomic_fetch_add(&handle__tr.space, 1);
    handle__futex_wake(&handle__tr.space, INT_MAX);
}

void handle__tr_reset(void)
{
    for (uint64_t i = 0; i < HANDLE__TR_RING_CAP; i++)
        atomic_store_explicit(&handle__tr_ring[i].seq, i, memory_order_relaxed);
    atomic_store(&handle__tr.tail, 0);
    atomic_store(&handle__tr.committed, 0);
    atomic_store(&handle__tr.writer_idle, 0);
    atomic_store(&handle__tr.space_waiters, 0);
    atomic_store(&handle__tr.stop_pos, UINT64_MAX);
}

void handle__tr_forget(void)
{
    atomic_store(&handle__tr.accepting, false);
    atomic_store(&handle__tr.open, false);
    atomic_store(&handle__tr.owner, 0);
    atomic_store(&handle__tr.tail, 0);
    atomic_store(&handle__tr.committed, 0);
    atomic_store(&handle__tr.space_waiters, 0);
    atomic_store(&handle__tr.writer_idle, 0);
    atomic_flag_clear(&handle__tr.warn_lock);
    handle__tr.warn_head = handle__tr.warn_n = 0;
    atomic_store(&handle__tr.warn_pending, 0);
}

/* ---- warnings -------------------------------------------------------- */

static void warn_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&handle__tr.warn_lock, memory_order_acquire))
        cpu_relax();
}

static void warn_unlock(void)
{
    atomic_flag_clear_explicit(&handle__tr.warn_lock, memory_order_release);
}

void handle__tr_warn(const char *text)
{
    warn_lock();
    if (handle__tr.warn_n < HANDLE__TR_WARN_SLOTS) {
        uint32_t i = (handle__tr.warn_head + handle__tr.warn_n) % HANDLE__TR_WARN_SLOTS;
        size_t len = strnlen(text, HANDLE__TR_WARN_LEN - 1);
        memcpy(handle__tr.warn[i], text, len);
        handle__tr.warn[i][len] = '\0';
        handle__tr.warn_n++;
        atomic_store_explicit(&handle__tr.warn_pending, handle__tr.warn_n, memory_order_release);
    }
    warn_unlock();
}

/* See trace.h. */
bool handle__trace_take_warning(char *buf, size_t cap)
{
    if (HANDLE__LIKELY(!atomic_load_explicit(&handle__tr.warn_pending, memory_order_relaxed)))
        return false;
    bool got = false;
    warn_lock();
    if (handle__tr.warn_n) {
        const char *w = handle__tr.warn[handle__tr.warn_head];
        if (buf && cap) {
            size_t len = strnlen(w, cap - 1);
            memcpy(buf, w, len);
            buf[len] = '\0';
        }
        handle__tr.warn_head = (handle__tr.warn_head + 1) % HANDLE__TR_WARN_SLOTS;
        handle__tr.warn_n--;
        atomic_store_explicit(&handle__tr.warn_pending, handle__tr.warn_n, memory_order_release);
        got = true;
    }
    warn_unlock();
    return got;
}
