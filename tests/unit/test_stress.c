/*
 * test_stress.c - concurrency stress of the release library (libhandle.a).
 *
 * What it proves, with 4 threads (sized to finish in seconds under TSan on
 * 2 cores):
 *  - handles_passed_between_threads_...: over a million handle lifetimes,
 *    each handle is created by one thread, travels through a mutex queue to
 *    the next thread in a ring, is resolved there (handle_value,
 *    handle_value_tagged with a tag of the same text in another array,
 *    handle_lookup) to exactly the value it was created with, and is
 *    deleted there, never by its creator. Slots thus flow between thread
 *    caches constantly; the live count returns to where it started.
 *  - readers_racing_delete_and_reuse_...: one thread creates and deletes
 *    handles in a loop, reusing one slot over and over, while three others
 *    resolve the handles it publishes. A reader either gets the handle's own
 *    value or the panic hook fires with use-after-delete (never another
 *    handle's value, never another kind, never a crash); handle_lookup
 *    either fails or returns the handle's own value.
 *  - concurrent_deletes_of_one_handle_...: of two threads deleting the same
 *    handle at once, exactly one succeeds and the other gets double-delete.
 * Worker threads never call cmocka's asserts (they longjmp to the test's
 * own context); they count failures, which the main thread asserts on.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/panic_hook.h"
#include "handle/handle.h"

enum { THREADS = 4 };

/* ---- a panic hook for many threads ------------------------------------ */

/* Each thread arms its own jump buffer; a panic in a thread that did not
 * arm one is a failure of the test (counted, then the process aborts as
 * the library would). */
static _Thread_local jmp_buf *armed;
static _Thread_local int panic_kind;
static _Atomic int unexpected_panics;

static void thread_hook(int kind, handle_t h, const char *text, size_t len)
{
    (void)h;
    if (armed == NULL) {
        atomic_fetch_add(&unexpected_panics, 1);
        fwrite(text, 1, len, stderr);
        return; /* the library writes the report and aborts */
    }
    panic_kind = kind;
    longjmp(*armed, 1);
}

/* handle_value / handle_value_tagged (when tagged) of h with this thread's
 * jump buffer armed: HANDLE__OK and *out, or the kind of the panic. Out of
 * line so that setjmp clobbers none of the caller's loop variables. */
static __attribute__((noinline)) int guarded_value(handle_t h, bool tagged, const char *tag,
                                                   void **out)
{
    jmp_buf jb;
    if (setjmp(jb) != 0) {
        armed = NULL;
        return panic_kind;
    }
    armed = &jb;
    *out = tagged ? handle_value_tagged(h, tag) : handle_value(h);
    armed = NULL;
    return HANDLE__OK;
}

/* handle_delete(h) with this thread's jump buffer armed. */
static __attribute__((noinline)) int guarded_delete(handle_t h)
{
    jmp_buf jb;
    if (setjmp(jb) != 0) {
        armed = NULL;
        return panic_kind;
    }
    armed = &jb;
    handle_delete(h);
    armed = NULL;
    return HANDLE__OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- handles passed around a ring of threads --------------------------- */

enum { PER_THREAD = 262144, BATCH = 64 }; /* 4 * 262144 = 1048576 lifetimes */

struct item {
    handle_t h;
    void *v;
};
struct batch {
    struct batch *next;
    int n;
    struct item it[BATCH];
};
struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch *head, *tail;
};

static struct queue queues[THREADS];
static const char *const ring_tags[THREADS] = {"ring 0", "ring 1", "ring 2", "ring 3"};

struct ring_stats {
    long created, deleted, bad_value, bad_owner;
};
static struct ring_stats ring_stats[THREADS];

static void queue_push(struct queue *q, struct batch *b)
{
    b->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static struct batch *queue_pop(struct queue *q, bool wait)
{
    pthread_mutex_lock(&q->mu);
    while (wait && q->head == NULL)
        pthread_cond_wait(&q->cv, &q->mu);
    struct batch *b = q->head;
    if (b) {
        q->head = b->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return b;
}

/* value: who made it (bits 40..), which one (bits 4..39), never NULL. */
static void *ring_value(int creator, long seq)
{
    return (void *)(((uintptr_t)creator << 40) | ((uintptr_t)seq << 4) | 8u);
}

static void *ring_thread(void *arg)
{
    int self = (int)(intptr_t)arg;
    struct ring_stats *st = &ring_stats[self];
    struct queue *out = &queues[(self + 1) % THREADS], *in = &queues[self];
    long produced = 0, consumed = 0;
    while (produced < PER_THREAD || consumed < PER_THREAD) {
        if (produced < PER_THREAD) {
            struct batch *b = malloc(sizeof *b);
            if (b == NULL)
                abort();
            b->n = 0;
            while (b->n < BATCH && produced < PER_THREAD) {
                void *v = ring_value(self, produced);
                handle_t h = (produced & 1) ? handle_new_tagged(v, ring_tags[self])
                                            : handle_new(v);
                b->it[b->n++] = (struct item){h, v};
                produced++;
            }
            st->created += b->n;
            queue_push(out, b);
        }
        struct batch *b = queue_pop(in, produced >= PER_THREAD);
        if (b == NULL)
            continue;
        for (int i = 0; i < b->n; i++) {
            handle_t h = b->it[i].h;
            void *want = b->it[i].v;
            int creator = (int)((uintptr_t)want >> 40);
            long seq = (long)(((uintptr_t)want >> 4) & 0xfffffffffu);
            if (creator == self)
                st->bad_owner++;
            /* The tag is asked for with a copy of its text. */
            char tag[8];
            memcpy(tag, ring_tags[creator], sizeof "ring 0");
            void *got = handle_value(h);
            void *got_tagged = handle_value_tagged(h, (seq & 1) ? tag : NULL);
            void *looked = NULL;
            bool live = handle_lookup(h, &looked);
            if (got != want || got_tagged != want || !live || looked != want)
                st->bad_value++;
            handle_delete(h);
            if (handle_lookup(h, NULL))
                st->bad_value++;
            st->deleted++;
        }
        consumed += b->n;
        free(b);
    }
    return NULL;
}

static void handles_passed_between_threads_resolve_to_their_values_and_die_elsewhere(void **state)
{
    (void)state;
    size_t base = handle_live_count();
    atomic_store(&unexpected_panics, 0);
    handle__panic_hook = thread_hook;
    memset(ring_stats, 0, sizeof ring_stats);
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_init(&queues[i].mu, NULL);
        pthread_cond_init(&queues[i].cv, NULL);
        queues[i].head = queues[i].tail = NULL;
    }
    double t0 = now_s();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ring_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    handle__panic_hook = NULL;
    long created = 0, deleted = 0, bad_value = 0, bad_owner = 0;
    for (int i = 0; i < THREADS; i++) {
        created += ring_stats[i].created;
        deleted += ring_stats[i].deleted;
        bad_value += ring_stats[i].bad_value;
        bad_owner += ring_stats[i].bad_owner;
        assert_null(queues[i].head);
        pthread_mutex_destroy(&queues[i].mu);
        pthread_cond_destroy(&queues[i].cv);
    }
    print_message("ring: %ld lifetimes in %.2f s\n", deleted, now_s() - t0);
    assert_int_equal(atomic_load(&unexpected_panics), 0);
    assert_int_equal(bad_value, 0);
    assert_int_equal(bad_owner, 0);
    assert_true(created >= 1000000);
    assert_int_equal(deleted, created);
    assert_int_equal(handle_live_count(), base);
}

/* ---- readers racing a deleting and reusing writer ---------------------- */

enum { RACE_ITERS = 400000, READERS = THREADS - 1 };

struct published {
    handle_t h;
    void *v;
};
static struct published *pubs;     /* pubs[i] is written once, before `latest` says i */
static _Atomic long latest = -1;
static _Atomic bool writer_done;
static _Atomic long hits;           /* resolves that returned the right value */

struct reader_stats {
    long ok, uad, wrong_value, wrong_kind, lookup_ok, lookup_wrong, attempts;
};
static struct reader_stats reader_stats[READERS];

static void *race_writer(void *arg)
{
    (void)arg;
    for (long i = 0; i < RACE_ITERS; i++) {
        void *v = (void *)(((uintptr_t)i << 4) | 8u);
        handle_t h = (i & 1) ? handle_new_tagged(v, "race") : handle_new(v);
        pubs[i] = (struct published){h, v};
        atomic_store_explicit(&latest, i, memory_order_release);
        /* Now and then give the readers a fair chance to win, so that both
         * outcomes (the value, the panic) are exercised. */
        if ((i & 2047) == 0) {
            long want = atomic_load(&hits) + 1;
            double until = now_s() + 0.05;
            while (atomic_load(&hits) < want && now_s() < until)
                sched_yield();
        }
        handle_delete(h);
    }
    atomic_store(&writer_done, true);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct reader_stats *st = &reader_stats[(intptr_t)arg];
    unsigned rnd = (unsigned)(intptr_t)arg * 2654435761u + 1u;
    while (!atomic_load_explicit(&writer_done, memory_order_relaxed) || st->attempts < 2000) {
        long j = atomic_load_explicit(&latest, memory_order_acquire);
        if (j < 0)
            continue;
        rnd = rnd * 1103515245u + 12345u;
        long k = j - (long)((rnd >> 16) % 3u); /* the newest, or one just deleted */
        if (k < 0)
            k = 0;
        const struct published p = pubs[k];
        st->attempts++;

        void *looked = NULL;
        if (handle_lookup(p.h, &looked)) {
            if (looked == p.v)
                st->lookup_ok++;
            else
                st->lookup_wrong++;
        }

        void *v = NULL;
        int kind = guarded_value(p.h, k & 1, "race", &v);
        if (kind == HANDLE__OK) {
            if (v == p.v) {
                st->ok++;
                atomic_fetch_add(&hits, 1);
            } else {
                st->wrong_value++;
            }
        } else if (kind == HANDLE__USE_AFTER_DELETE) {
            st->uad++;
        } else {
            st->wrong_kind++;
        }
    }
    return NULL;
}

static void readers_racing_delete_and_reuse_get_own_value_or_use_after_delete(void **state)
{
    (void)state;
    size_t base = handle_live_count();
    pubs = calloc(RACE_ITERS, sizeof *pubs);
    assert_non_null(pubs);
    atomic_store(&latest, -1);
    atomic_store(&writer_done, false);
    atomic_store(&hits, 0);
    atomic_store(&unexpected_panics, 0);
    memset(reader_stats, 0, sizeof reader_stats);
    handle__panic_hook = thread_hook;
    double t0 = now_s();
    pthread_t w, r[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, race_reader, (void *)(intptr_t)i), 0);
    assert_int_equal(pthread_create(&w, NULL, race_writer, NULL), 0);
    assert_int_equal(pthread_join(w, NULL), 0);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_join(r[i], NULL), 0);
    handle__panic_hook = NULL;
    struct reader_stats sum = {0};
    for (int i = 0; i < READERS; i++) {
        sum.ok += reader_stats[i].ok;
        sum.uad += reader_stats[i].uad;
        sum.wrong_value += reader_stats[i].wrong_value;
        sum.wrong_kind += reader_stats[i].wrong_kind;
        sum.lookup_ok += reader_stats[i].lookup_ok;
        sum.lookup_wrong += reader_stats[i].lookup_wrong;
        sum.attempts += reader_stats[i].attempts;
    }
    print_message("race: %ld resolves in %.2f s: %ld right value, %ld use-after-delete; "
                  "lookups %ld right\n",
                  sum.attempts, now_s() - t0, sum.ok, sum.uad, sum.lookup_ok);
    assert_int_equal(atomic_load(&unexpected_panics), 0);
    assert_int_equal(sum.wrong_value, 0);
    assert_int_equal(sum.wrong_kind, 0);
    assert_int_equal(sum.lookup_wrong, 0);
    assert_int_equal(sum.ok + sum.uad, sum.attempts);
    /* Both outcomes happened, so the race was really run. */
    assert_true(sum.ok > 0);
    assert_true(sum.uad > 0);
    assert_int_equal(handle_live_count(), base);
    free(pubs);
    pubs = NULL;
}

/* ---- two threads deleting the same handle ------------------------------ */

enum { DELETE_ROUNDS = 20000 };
static _Atomic handle_t to_delete;
static _Atomic long round_go, round_done;
static _Atomic long deleted_ok, deleted_double, deleted_other;

static void *deleter(void *arg)
{
    (void)arg;
    for (long r = 1; r <= DELETE_ROUNDS; r++) {
        while (atomic_load(&round_go) < r)
            sched_yield();
        int kind = guarded_delete(atomic_load(&to_delete));
        if (kind == HANDLE__OK)
            atomic_fetch_add(&deleted_ok, 1);
        else if (kind == HANDLE__DOUBLE_DELETE)
            atomic_fetch_add(&deleted_double, 1);
        else
            atomic_fetch_add(&deleted_other, 1);
        atomic_fetch_add(&round_done, 1);
    }
    return NULL;
}

static void concurrent_deletes_of_one_handle_succeed_exactly_once(void **state)
{
    (void)state;
    size_t base = handle_live_count();
    atomic_store(&round_go, 0);
    atomic_store(&round_done, 0);
    atomic_store(&unexpected_panics, 0);
    handle__panic_hook = thread_hook;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, deleter, NULL), 0);
    for (long r = 1; r <= DELETE_ROUNDS; r++) {
        atomic_store(&to_delete, handle_new((void *)(uintptr_t)(r << 4)));
        atomic_store(&round_go, r);
        while (atomic_load(&round_done) < 2 * r)
            sched_yield();
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    handle__panic_hook = NULL;
    assert_int_equal(atomic_load(&unexpected_panics), 0);
    assert_int_equal(atomic_load(&deleted_other), 0);
    assert_int_equal(atomic_load(&deleted_ok), DELETE_ROUNDS);
    assert_int_equal(atomic_load(&deleted_double), DELETE_ROUNDS);
    assert_int_equal(handle_live_count(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handles_passed_between_threads_resolve_to_their_values_and_die_elsewhere),
        cmocka_unit_test(readers_racing_delete_and_reuse_get_own_value_or_use_after_delete),
        cmocka_unit_test(concurrent_deletes_of_one_handle_succeed_exactly_once),
    };
    return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
