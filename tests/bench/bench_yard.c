/*
 * bench_yard.c - the yardstick handle table: one pthread mutex around an
 * array of 16-byte slots {value, generation, next free}, grown by doubling
 * with realloc, free slots kept on a LIFO list. A handle is
 * (generation << 32) | index, index >= 1, so 0 is never a handle and a
 * deleted handle is refused until its slot's generation wraps.
 *
 * This is what one would write by hand in an afternoon, and the baseline
 * the benchmark compares libhandle against. It is deliberately plain: no
 * per-thread caches, no lock-free reads. Misuse prints one line and
 * aborts. Compiled with BENCH_YARD_PREFIX set (see bench_yard.h).
 */
#include "bench_yard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef BENCH_YARD_PREFIX
#error "define BENCH_YARD_PREFIX (yard_exe_ or yard_so_)"
#endif
#define YARD_CAT2(a, b) a##b
#define YARD_CAT(a, b) YARD_CAT2(a, b)
#define YARD(name) YARD_CAT(BENCH_YARD_PREFIX, name)

#define YARD_LIVE 0xffffffffu /* next of a live slot */

struct yard_slot {
    void *value;
    uint32_t gen;  /* generation of the last handle issued from this slot */
    uint32_t next; /* YARD_LIVE while live, else the next free slot (0: none) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct yard_slot *slots; /* mu */
static uint32_t cap;            /* slots allocated; mu */
static uint32_t used = 1;       /* slots ever issued, plus slot 0 (never); mu */
static uint32_t free_head;      /* first free slot, 0: none; mu */
static size_t live;             /* mu */

__attribute__((noreturn, cold)) static void die(const char *what, uintptr_t h)
{
    fprintf(stderr, "yardstick: %s on handle %#jx\n", what, (uintmax_t)h);
    abort();
}

/* The live slot of h, or NULL. Called with mu held. */
static struct yard_slot *find_locked(uintptr_t h)
{
    uint32_t idx = (uint32_t)h;
    if (idx == 0 || idx >= used)
        return NULL;
    struct yard_slot *s = &slots[idx];
    if (s->next != YARD_LIVE || s->gen != (uint32_t)(h >> 32))
        return NULL;
    return s;
}

uintptr_t YARD(new)(void *value)
{
    pthread_mutex_lock(&mu);
    uint32_t idx = free_head;
    if (idx != 0) {
        free_head = slots[idx].next;
    } else {
        if (used >= cap) {
            uint32_t ncap = cap ? cap * 2 : 1024;
            struct yard_slot *n = realloc(slots, (size_t)ncap * sizeof *n);
            if (n == NULL || ncap < cap) {
                pthread_mutex_unlock(&mu);
                die("out of memory", 0);
            }
            slots = n;
            cap = ncap;
        }
        idx = used++;
        slots[idx].gen = 0;
    }
    struct yard_slot *s = &slots[idx];
    s->gen = s->gen + 1 ? s->gen + 1 : 1;
    s->value = value;
    s->next = YARD_LIVE;
    live++;
    uintptr_t h = ((uintptr_t)s->gen << 32) | idx;
    pthread_mutex_unlock(&mu);
    return h;
}

void *YARD(value)(uintptr_t h)
{
    pthread_mutex_lock(&mu);
    struct yard_slot *s = find_locked(h);
    if (s == NULL) {
        pthread_mutex_unlock(&mu);
        die("invalid handle", h);
    }
    void *v = s->value;
    pthread_mutex_unlock(&mu);
    return v;
}

void YARD(delete)(uintptr_t h)
{
    pthread_mutex_lock(&mu);
    struct yard_slot *s = find_locked(h);
    if (s == NULL) {
        pthread_mutex_unlock(&mu);
        die("invalid handle", h);
    }
    s->next = free_head;
    free_head = (uint32_t)h;
    live--;
    pthread_mutex_unlock(&mu);
}

size_t YARD(live_count)(void)
{
    pthread_mutex_lock(&mu);
    size_t n = live;
    pthread_mutex_unlock(&mu);
    return n;
}
