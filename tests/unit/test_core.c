/*
 * test_core.c - unit tests of the slot+generation table (lib/core) used
 * directly through its internal interface (handle__core_*), plus the errno
 * contract of the seven public entry points that sit on it.
 *
 * What it proves: a handle packs its generation in the high 32 bits and its
 * slot index (never 0) in the low 32; a deleted handle stays refused, and is
 * classified as use-after-delete / double-delete, after its slot was reused
 * 100000 times; handles never issued (0, an index past the high water mark,
 * a generation not yet issued) are classified invalid-handle; the table
 * grows across chunk boundaries without moving or corrupting live slots;
 * the live count is exact; an exiting thread's cache of free slots is given
 * back (slots are reused, the count stays exact); and errno survives every
 * entry point, slow paths included. Also the kind names and summaries, and
 * the async-signal-safe formatter lib/core/fmt.c (signed numbers, cutting
 * at the capacity, flush retried after EINTR, errno kept). It does not test the panic text (see
 * test_release.c) or concurrency under load (see test_stress.c).
 *
 * Tests run in order in one process and share the table, so they measure
 * live counts and the high water mark relative to where they started.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "core/core.h"
#include "core/fmt.h"
#include "handle/handle.h"

#define GEN(h) ((uint32_t)((uint64_t)(h) >> 32))
#define IDX(h) ((uint32_t)(h))
#define MAKE(gen, idx) ((handle_t)(((uint64_t)(gen) << 32) | (uint32_t)(idx)))

/* A distinct, recognisable value for the i-th handle of a test. */
static void *val(uintptr_t i) { return (void *)(i * 16u + 8u); }

/* Issues a handle through the core and checks what every issue must hold. */
static handle_t core_new(void *value, const char *tag, uint32_t *idx)
{
    uint32_t i = 0;
    handle_t h = handle__core_new(value, tag, &i);
    assert_true(h != 0);
    assert_int_equal(i, IDX(h));
    if (idx)
        *idx = i;
    return h;
}

/* Deletes and releases a live handle through the core. */
static void core_drop(handle_t h)
{
    uint32_t idx = 0;
    assert_int_equal(handle__core_delete(h, &idx, NULL), HANDLE__OK);
    assert_int_equal(idx, IDX(h));
    handle__core_release(idx);
}

static void handle_packs_generation_high_and_nonzero_slot_index_low(void **state)
{
    (void)state;
    uint32_t idx = 0;
    handle_t h = core_new(val(1), "t", &idx);
    assert_int_not_equal(idx, 0);
    assert_int_equal(IDX(h), idx);
    assert_true(GEN(h) >= 1);

    void *v = NULL;
    const char *t = NULL;
    assert_true(handle__core_get(h, &v, &t));
    assert_ptr_equal(v, val(1));
    assert_string_equal(t, "t");

    /* The thread cache is LIFO: the slot just released is issued next,
     * with the next generation and the same index. */
    uint32_t gen = GEN(h);
    core_drop(h);
    uint32_t idx2 = 0;
    handle_t h2 = core_new(val(2), NULL, &idx2);
    assert_int_equal(idx2, idx);
    assert_int_equal(GEN(h2), gen + 1u);
    assert_true(h2 == MAKE(gen + 1u, idx));
    assert_true(h2 != h);
    core_drop(h2);
}

static void new_never_returns_zero_or_slot_index_zero(void **state)
{
    (void)state;
    enum { N = 5000 };
    static handle_t hs[N];
    for (uint32_t i = 0; i < N; i++) {
        hs[i] = core_new(val(i), NULL, NULL);
        assert_int_not_equal(IDX(hs[i]), 0);
        assert_int_not_equal(GEN(hs[i]), 0);
    }
    for (uint32_t i = 0; i < N; i++)
        core_drop(hs[i]);
    /* Churn the same slots many times: still never 0, never index 0. */
    for (uint32_t i = 0; i < 20000; i++) {
        handle_t h = core_new(val(i), NULL, NULL);
        assert_int_not_equal(IDX(h), 0);
        core_drop(h);
    }
}

static void stale_handle_refused_after_its_slot_was_reused_100000_times(void **state)
{
    (void)state;
    enum { REUSES = 100000 };
    uint32_t idx = 0;
    handle_t old = core_new(val(7), "old", &idx);
    core_drop(old);

    void *v = NULL;
    const char *t = NULL;
    uint32_t out = 0;
    for (uint32_t r = 0; r < REUSES; r++) {
        uint32_t i = 0;
        handle_t h = core_new(val(r), NULL, &i);
        assert_int_equal(i, idx); /* really the same slot */
        assert_true(h != old);
        /* While the slot holds another live handle... */
        if (handle__core_get(old, &v, &t))
            fail_msg("stale handle resolved after %u reuses", r);
        if (handle__core_check(old) != HANDLE__USE_AFTER_DELETE)
            fail_msg("stale handle classified %d after %u reuses", handle__core_check(old), r);
        if (handle__core_delete(old, &out, NULL) != HANDLE__DOUBLE_DELETE)
            fail_msg("delete of stale handle not a double-delete after %u reuses", r);
        /* ...the failed deletes left the live handle alone. */
        assert_true(handle__core_get(h, &v, NULL));
        assert_ptr_equal(v, val(r));
        core_drop(h);
        /* ...and while the slot is free again. */
        if (handle__core_get(old, &v, NULL) || handle__core_check(old) != HANDLE__USE_AFTER_DELETE)
            fail_msg("stale handle accepted while its slot was free, after %u reuses", r);
    }
    handle_t last = core_new(val(0), NULL, NULL);
    assert_int_equal(IDX(last), idx);
    assert_int_equal(GEN(last), GEN(old) + REUSES + 1u);
    assert_int_equal(handle__core_delete(old, &out, NULL), HANDLE__DOUBLE_DELETE);
    core_drop(last);
}

static void never_issued_handles_are_classified_invalid_handle(void **state)
{
    (void)state;
    void *v = NULL;
    uint32_t out = 0;
    handle_t live = core_new(val(3), NULL, NULL); /* chunk 0 is mapped now */
    uint32_t hw = handle__core_high_water();
    assert_true(hw >= IDX(live));

    const handle_t never[] = {
        0,                                 /* zero: slot 0 exists but is never issued */
        MAKE(1, 0),                        /* index 0, any generation */
        MAKE(GEN(live), 0),
        MAKE(GEN(live) + 1u, IDX(live)),   /* a generation not issued yet */
        MAKE(GEN(live) + 1000u, IDX(live)),
        MAKE(0, IDX(live)),                /* generation 0 is never issued */
        MAKE(1, hw + 1u),                  /* past the high water mark, mapped chunk */
        MAKE(1, (hw | (HANDLE__CHUNK_SLOTS - 1u)) + 1u), /* first slot of an unmapped chunk */
        MAKE(1, HANDLE__MAX_INDEX),
        (handle_t)UINT64_MAX,
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        handle_t h = never[i];
        if (handle__core_get(h, &v, NULL))
            fail_msg("never-issued handle %#llx resolved", (unsigned long long)h);
        if (handle__core_check(h) != HANDLE__INVALID_HANDLE)
            fail_msg("never-issued handle %#llx classified %d", (unsigned long long)h,
                     handle__core_check(h));
        if (handle__core_delete(h, &out, NULL) != HANDLE__INVALID_HANDLE)
            fail_msg("delete of never-issued handle %#llx not invalid-handle",
                     (unsigned long long)h);
    }
    /* None of that disturbed the live handle or the count. */
    assert_true(handle__core_get(live, &v, NULL));
    assert_ptr_equal(v, val(3));
    assert_int_equal(handle__core_check(live), HANDLE__OK);
    core_drop(live);
}

/* Deleting handle 0 once used to free slot 0; the next handle then had
 * index 0. Guard that directly: after failed deletes of 0, no new handle
 * has index 0 and the live count did not move. */
static void deleting_zero_does_not_free_slot_zero(void **state)
{
    (void)state;
    size_t base = handle__core_live_count();
    handle_t keep = core_new(val(1), NULL, NULL);
    uint32_t out = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(handle__core_delete(0, &out, NULL), HANDLE__INVALID_HANDLE);
    assert_int_equal(handle__core_live_count(), base + 1);
    for (int i = 0; i < 200; i++) {
        handle_t h = core_new(val(i), NULL, NULL);
        assert_int_not_equal(IDX(h), 0);
        core_drop(h);
    }
    core_drop(keep);
    assert_int_equal(handle__core_live_count(), base);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void table_grows_across_chunk_boundaries_keeping_values_intact(void **state)
{
    (void)state;
    enum { N = 3 * HANDLE__CHUNK_SLOTS + 1000 };
    handle_t *hs = malloc(N * sizeof *hs);
    uint32_t *ix = malloc(N * sizeof *ix);
    assert_non_null(hs);
    assert_non_null(ix);
    size_t base = handle__core_live_count();
    for (uint32_t i = 0; i < N; i++) {
        hs[i] = core_new(val(i), (i & 1) ? "odd" : NULL, &ix[i]);
        /* Earlier slots must not move or change while the table grows. */
        if (i % 4099 == 0) {
            for (uint32_t j = 0; j <= i; j += 997) {
                void *v = NULL;
                if (!handle__core_get(hs[j], &v, NULL) || v != val(j))
                    fail_msg("handle %u lost its value while %u were live", j, i + 1);
            }
        }
    }
    assert_int_equal(handle__core_live_count(), base + N);
    /* More than three chunks' worth: the indexes span at least 3 chunks. */
    qsort(ix, N, sizeof *ix, cmp_u32);
    for (uint32_t i = 1; i < N; i++)
        if (ix[i] == ix[i - 1])
            fail_msg("slot index %u issued twice to live handles", ix[i]);
    assert_true((ix[N - 1] >> HANDLE__CHUNK_BITS) - (ix[0] >> HANDLE__CHUNK_BITS) >= 3u);
    assert_true(handle__core_high_water() >= ix[N - 1]);
    for (uint32_t i = 0; i < N; i++) {
        void *v = NULL;
        const char *t = NULL;
        if (!handle__core_get(hs[i], &v, &t) || v != val(i))
            fail_msg("handle %u (%#llx) does not resolve to its value", i,
                     (unsigned long long)hs[i]);
        if ((i & 1) ? (t == NULL || strcmp(t, "odd") != 0) : t != NULL)
            fail_msg("handle %u lost its tag", i);
    }
    for (uint32_t i = 0; i < N; i++)
        core_drop(hs[i]);
    assert_int_equal(handle__core_live_count(), base);
    for (uint32_t i = 0; i < N; i += 101)
        assert_int_equal(handle__core_check(hs[i]), HANDLE__USE_AFTER_DELETE);
    free(ix);
    free(hs);
}

static void live_count_drops_at_delete_before_the_slot_is_released(void **state)
{
    (void)state;
    size_t base = handle__core_live_count();
    handle_t a = core_new(val(1), NULL, NULL);
    handle_t b = core_new(val(2), NULL, NULL);
    assert_int_equal(handle__core_live_count(), base + 2);
    uint32_t ia = 0, ib = 0;
    const char *t = "unset";
    assert_int_equal(handle__core_delete(a, &ia, &t), HANDLE__OK);
    assert_null(t);
    /* Retired but not released (the debug build's quarantine). */
    assert_int_equal(handle__core_live_count(), base + 1);
    assert_int_equal(handle__core_check(a), HANDLE__USE_AFTER_DELETE);
    assert_int_equal(handle__core_delete(a, &ia, NULL), HANDLE__DOUBLE_DELETE);
    assert_int_equal(handle__core_delete(b, &ib, NULL), HANDLE__OK);
    assert_int_equal(handle__core_live_count(), base);
    handle__core_release(ia);
    handle__core_release(ib);
    assert_int_equal(handle__core_live_count(), base);
}

/* ---- thread caches ---------------------------------------------------- */

/* Issues handles from the calling (main) thread until the bump allocator
 * has to hand out new slots, i.e. until no free slot is left in the shared
 * stack or this thread's cache: afterwards, slots that exiting threads give
 * back are the only free ones, so growth of the high water mark measures
 * slots that were not given back. Returns the handles (to be dropped). */
static handle_t *drain_free_slots(size_t *n_out)
{
    size_t n = 0, cap = 1024;
    handle_t *hs = malloc(cap * sizeof *hs);
    assert_non_null(hs);
    uint32_t hw0 = handle__core_high_water();
    while (handle__core_high_water() == hw0) {
        if (n == cap) {
            cap *= 2;
            hs = realloc(hs, cap * sizeof *hs);
            assert_non_null(hs);
        }
        hs[n++] = core_new(NULL, NULL, NULL);
    }
    *n_out = n;
    return hs;
}

static void undrain(handle_t *hs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        core_drop(hs[i]);
    free(hs);
}

struct churn {
    int create, keep;        /* handles made; how many of them stay live */
    handle_t kept[64];
    _Atomic int bad;
};

/* A short-lived thread: creates `create` handles, deletes all but `keep`
 * of them itself, and leaves those to main (so its cache ends up full of
 * freed slots, and its live count is not zero when it exits). */
static void *churn_thread(void *p)
{
    struct churn *c = p;
    handle_t hs[256];
    for (int i = 0; i < c->create; i++) {
        uint32_t idx = 0;
        hs[i] = handle__core_new(val((uintptr_t)i), NULL, &idx);
        if (hs[i] == 0)
            atomic_fetch_add(&c->bad, 1);
    }
    for (int i = 0; i < c->create; i++) {
        void *v = NULL;
        if (!handle__core_get(hs[i], &v, NULL) || v != val((uintptr_t)i))
            atomic_fetch_add(&c->bad, 1);
        if (i < c->keep) {
            c->kept[i] = hs[i];
            continue;
        }
        uint32_t idx = 0;
        if (handle__core_delete(hs[i], &idx, NULL) != HANDLE__OK)
            atomic_fetch_add(&c->bad, 1);
        else
            handle__core_release(idx);
    }
    return NULL;
}

static void thread_exit_gives_back_cached_slots_for_reuse(void **state)
{
    (void)state;
    enum { THREADS = 400, CREATE = 100 };
    size_t base = handle__core_live_count();
    size_t nheld = 0;
    handle_t *held = drain_free_slots(&nheld);
    uint32_t hw0 = handle__core_high_water();
    for (int t = 0; t < THREADS; t++) {
        struct churn c = {.create = CREATE, .keep = 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, churn_thread, &c), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(atomic_load(&c.bad), 0);
    }
    uint32_t grown = handle__core_high_water() - hw0;
    /* Each thread freed CREATE slots into its cache. Were the caches not
     * given back at exit, every thread would strand them (400 * 64 slots)
     * and the bump allocator would keep growing. */
    if (grown > 4u * HANDLE__CACHE_MAX)
        fail_msg("high water grew by %u slots over %d short-lived threads", grown, THREADS);
    undrain(held, nheld);
    assert_int_equal(handle__core_live_count(), base);
}

static void live_count_stays_exact_across_many_exited_threads(void **state)
{
    (void)state;
    enum { ROUNDS = 60, PAR = 6, CREATE = 90, KEEP = 25 };
    static struct churn cs[ROUNDS][PAR];
    size_t base = handle__core_live_count();
    size_t nheld = 0;
    handle_t *held = drain_free_slots(&nheld);
    base += nheld;
    uint32_t hw0 = handle__core_high_water();
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t th[PAR];
        for (int t = 0; t < PAR; t++) {
            cs[r][t].create = CREATE;
            cs[r][t].keep = KEEP;
            assert_int_equal(pthread_create(&th[t], NULL, churn_thread, &cs[r][t]), 0);
        }
        for (int t = 0; t < PAR; t++) {
            assert_int_equal(pthread_join(th[t], NULL), 0);
            assert_int_equal(atomic_load(&cs[r][t].bad), 0);
        }
        /* Counted although their creators are gone. */
        assert_int_equal(handle__core_live_count(), base + (size_t)(r + 1) * PAR * KEEP);
    }
    size_t kept = (size_t)ROUNDS * PAR * KEEP;
    uint32_t grown = handle__core_high_water() - hw0;
    /* Live handles need their slots; the freed ones must be reused. */
    if (grown > kept + (size_t)PAR * 4u * HANDLE__CACHE_MAX)
        fail_msg("high water grew by %u slots for %zu live handles", grown, kept);
    /* main deletes what the exited threads created: values intact. */
    for (int r = 0; r < ROUNDS; r++)
        for (int t = 0; t < PAR; t++)
            for (int i = 0; i < KEEP; i++) {
                void *v = NULL;
                assert_true(handle__core_get(cs[r][t].kept[i], &v, NULL));
                assert_ptr_equal(v, val((uintptr_t)i));
                core_drop(cs[r][t].kept[i]);
            }
    assert_int_equal(handle__core_live_count(), base);
    undrain(held, nheld);
    assert_int_equal(handle__core_live_count(), base - nheld);
}

/* ---- errno ------------------------------------------------------------ */

static _Atomic int errno_failures;
static _Atomic int errno_first_line;

#define CHECK_ERRNO(call)                                                                   \
    do {                                                                                    \
        errno = 1234;                                                                       \
        call;                                                                               \
        if (errno != 1234) {                                                                \
            int zero_ = 0;                                                                  \
            atomic_compare_exchange_strong(&errno_first_line, &zero_, __LINE__);            \
            atomic_fetch_add(&errno_failures, 1);                                           \
        }                                                                                   \
    } while (0)

/* Every public call, on fast and slow paths: a fresh thread's first call
 * (cache creation), refills from the bump allocator (and new chunks),
 * spills of full caches, failed lookups, the live count. */
static void *errno_round(void *arg)
{
    enum { N = 3 * HANDLE__CACHE_MAX + 5 };
    handle_t hs[N];
    (void)arg;
    void *v = NULL;
    bool ok = false;
    size_t n = 0;
    for (int i = 0; i < N; i++)
        CHECK_ERRNO(hs[i] = (i & 1) ? handle_new_tagged(val((uintptr_t)i), "e")
                                    : handle_new(val((uintptr_t)i)));
    for (int i = 0; i < N; i++) {
        CHECK_ERRNO(v = (i & 1) ? handle_value_tagged(hs[i], "e") : handle_value(hs[i]));
        CHECK_ERRNO(ok = handle_lookup(hs[i], &v));
        CHECK_ERRNO(ok = handle_lookup(hs[i], NULL));
    }
    CHECK_ERRNO(n = handle_live_count());
    for (int i = 0; i < N; i++)
        CHECK_ERRNO(handle_delete(hs[i]));
    CHECK_ERRNO(ok = handle_lookup(hs[0], &v));
    CHECK_ERRNO(ok = handle_lookup(0, &v));
    CHECK_ERRNO(ok = handle_lookup(MAKE(1, HANDLE__MAX_INDEX), NULL));
    CHECK_ERRNO(n = handle_live_count());
    (void)ok;
    (void)n;
    return NULL;
}

static void errno_is_preserved_by_every_entry_point(void **state)
{
    (void)state;
    atomic_store(&errno_failures, 0);
    atomic_store(&errno_first_line, 0);
    size_t base = handle_live_count();
    errno_round(NULL);
    /* New threads: the first call of each creates its cache. */
    for (int t = 0; t < 4; t++) {
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, errno_round, NULL), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
    }
    /* Many handles at once: mapping new chunks. */
    enum { BIG = HANDLE__CHUNK_SLOTS + 1000 };
    handle_t *hs = malloc(BIG * sizeof *hs);
    assert_non_null(hs);
    for (int i = 0; i < BIG; i++)
        CHECK_ERRNO(hs[i] = handle_new(NULL));
    for (int i = 0; i < BIG; i++)
        CHECK_ERRNO(handle_delete(hs[i]));
    free(hs);
    if (atomic_load(&errno_failures) != 0)
        fail_msg("%d calls changed errno (first at line %d)", atomic_load(&errno_failures),
                 atomic_load(&errno_first_line));
    assert_int_equal(handle_live_count(), base);
}

/* ---- kinds, classification ------------------------------------------------ */

static void kind_names_and_summaries_cover_every_kind_and_refuse_others(void **state)
{
    (void)state;
    assert_string_equal(handle__kind_name(HANDLE__OK), "ok");
    assert_string_equal(handle__kind_name(HANDLE__DOUBLE_DELETE), "double-delete");
    assert_string_equal(handle__kind_name(HANDLE__OUT_OF_HANDLES), "out-of-handles");
    assert_string_equal(handle__kind_summary(HANDLE__OK), "no error");
    assert_string_equal(handle__kind_summary(HANDLE__TAG_MISMATCH),
                        "a handle was resolved with a tag other than its own");
    for (int k = 0; k < HANDLE__KIND_COUNT; k++) {
        assert_string_not_equal(handle__kind_name(k), "?");
        assert_string_not_equal(handle__kind_summary(k), "?");
    }
    assert_string_equal(handle__kind_name(-1), "?");
    assert_string_equal(handle__kind_name(HANDLE__KIND_COUNT), "?");
    assert_string_equal(handle__kind_summary(-1), "?");
    assert_string_equal(handle__kind_summary(HANDLE__KIND_COUNT), "?");
}

static void classify_separates_deleted_from_never_issued(void **state)
{
    (void)state;
    uint64_t key = (uint64_t)MAKE(5, 77); /* generation 5 last issued from slot 77 */
    assert_int_equal(handle__core_classify(MAKE(1, 0), key), HANDLE__INVALID_HANDLE);
    assert_int_equal(handle__core_classify(MAKE(1, 77), 0), HANDLE__INVALID_HANDLE);
    assert_int_equal(handle__core_classify(MAKE(0, 77), key), HANDLE__INVALID_HANDLE);
    assert_int_equal(handle__core_classify(MAKE(1, 77), key), HANDLE__USE_AFTER_DELETE);
    assert_int_equal(handle__core_classify(MAKE(5, 77), key), HANDLE__USE_AFTER_DELETE);
    assert_int_equal(handle__core_classify(MAKE(6, 77), key), HANDLE__INVALID_HANDLE);
    /* An index in a chunk never mapped. */
    assert_int_equal(handle__core_check(MAKE(1, 0xfff00001u)), HANDLE__INVALID_HANDLE);
}

static void refill_with_slots_in_the_cache_returns_it_unchanged(void **state)
{
    (void)state;
    struct handle__tcache *c = handle__core_refill(); /* takes a batch if empty */
    assert_non_null(c);
    assert_ptr_equal(c, handle__tc);
    uint32_t n = c->n;
    assert_true(n > 0);
    assert_ptr_equal(handle__core_refill(), c); /* slots there: nothing taken */
    assert_int_equal(c->n, n);
    handle_t h = core_new(val(1), NULL, NULL);
    assert_int_equal(c->n, n - 1);
    core_drop(h);
}

/* ---- fmt ------------------------------------------------------------------- */

static void fmt_formats_numbers_and_strings(void **state)
{
    (void)state;
    char buf[256];
    struct handle__fmt f = {buf, 0, sizeof buf};
    handle__fmt_sdec(&f, INT64_MIN);
    handle__fmt_str(&f, " ");
    handle__fmt_sdec(&f, -1);
    handle__fmt_str(&f, " ");
    handle__fmt_sdec(&f, 0);
    handle__fmt_str(&f, " ");
    handle__fmt_sdec(&f, INT64_MAX);
    handle__fmt_str(&f, " ");
    handle__fmt_dec(&f, UINT64_MAX);
    handle__fmt_str(&f, " ");
    handle__fmt_hex(&f, 0);
    handle__fmt_str(&f, " ");
    handle__fmt_hex(&f, UINT64_MAX);
    handle__fmt_str(&f, " ");
    handle__fmt_str(&f, NULL);
    buf[f.len] = '\0';
    assert_string_equal(buf, "-9223372036854775808 -1 0 9223372036854775807 "
                             "18446744073709551615 0x0 0xffffffffffffffff (null)");
}

static void fmt_cuts_at_the_capacity_never_past_it(void **state)
{
    (void)state;
    char buf[16];
    memset(buf, '#', sizeof buf);
    struct handle__fmt f = {buf, 0, 8};
    handle__fmt_str(&f, "abc");
    handle__fmt_sdec(&f, -12345); /* "-1234" fits, "5" is cut */
    assert_int_equal(f.len, 8);
    assert_memory_equal(buf, "abc-1234", 8);
    handle__fmt_str(&f, "more");   /* full: nothing */
    handle__fmt_sdec(&f, -7);
    handle__fmt_hex(&f, 0xabc);
    assert_int_equal(f.len, 8);
    for (size_t i = 8; i < sizeof buf; i++)
        assert_int_equal(buf[i], '#');
    struct handle__fmt z = {buf, 0, 0}; /* no room at all */
    handle__fmt_sdec(&z, -1);
    assert_int_equal(z.len, 0);
}

static void fmt_flush_keeps_errno_and_empties_the_buffer_on_a_bad_fd(void **state)
{
    (void)state;
    char buf[] = "lost";
    struct handle__fmt f = {buf, 4, sizeof buf};
    errno = 4321;
    handle__fmt_flush(&f, -1); /* EBADF: gives up */
    assert_int_equal(errno, 4321);
    assert_int_equal(f.len, 0);
}

static void on_usr1(int sig) { (void)sig; }
struct drain { int fd; pthread_t target; size_t got; char tail[8]; };

/* Interrupts the writer (blocked on a full pipe) with signals, then reads
 * everything; keeps the last bytes. */
static void *drainer(void *p)
{
    struct drain *d = p;
    for (int i = 0; i < 5; i++) {
        usleep(20000);
        pthread_kill(d->target, SIGUSR1);
    }
    char b[4096];
    ssize_t n;
    while ((n = read(d->fd, b, sizeof b)) > 0) {
        d->got += (size_t)n;
        if (n >= 7)
            memcpy(d->tail, b + n - 7, 7);
    }
    return NULL;
}

static void fmt_flush_retries_after_eintr_and_writes_everything(void **state)
{
    (void)state;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr1; /* no SA_RESTART: the blocked write gets EINTR */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    /* Fill the pipe so that the flush blocks. */
    int fl = fcntl(p[1], F_GETFL);
    fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
    static char fill[4096];
    size_t filled = 0;
    ssize_t n;
    while ((n = write(p[1], fill, sizeof fill)) > 0)
        filled += (size_t)n;
    fcntl(p[1], F_SETFL, fl);
    struct drain d = {.fd = p[0], .target = pthread_self()};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drainer, &d), 0);
    char text[] = "flushed";
    struct handle__fmt f = {text, 7, sizeof text};
    errno = 77;
    handle__fmt_flush(&f, p[1]);
    assert_int_equal(errno, 77);
    assert_int_equal(f.len, 0);
    close(p[1]);
    pthread_join(th, NULL);
    close(p[0]);
    sigaction(SIGUSR1, &old, NULL);
    assert_int_equal(d.got, filled + 7);
    assert_memory_equal(d.tail, "flushed", 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handle_packs_generation_high_and_nonzero_slot_index_low),
        cmocka_unit_test(new_never_returns_zero_or_slot_index_zero),
        cmocka_unit_test(stale_handle_refused_after_its_slot_was_reused_100000_times),
        cmocka_unit_test(never_issued_handles_are_classified_invalid_handle),
        cmocka_unit_test(deleting_zero_does_not_free_slot_zero),
        cmocka_unit_test(table_grows_across_chunk_boundaries_keeping_values_intact),
        cmocka_unit_test(live_count_drops_at_delete_before_the_slot_is_released),
        cmocka_unit_test(thread_exit_gives_back_cached_slots_for_reuse),
        cmocka_unit_test(live_count_stays_exact_across_many_exited_threads),
        cmocka_unit_test(errno_is_preserved_by_every_entry_point),
        cmocka_unit_test(kind_names_and_summaries_cover_every_kind_and_refuse_others),
        cmocka_unit_test(classify_separates_deleted_from_never_issued),
        cmocka_unit_test(refill_with_slots_in_the_cache_returns_it_unchanged),
        cmocka_unit_test(fmt_formats_numbers_and_strings),
        cmocka_unit_test(fmt_cuts_at_the_capacity_never_past_it),
        cmocka_unit_test(fmt_flush_keeps_errno_and_empties_the_buffer_on_a_bad_fd),
        cmocka_unit_test(fmt_flush_retries_after_eintr_and_writes_everything),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
