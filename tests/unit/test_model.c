/*
 * test_model.c - the debug runtime's model under concurrency: the stack
 * depot (lock-free lookups, one id per distinct stack), interned tags,
 * thread numbers, and the side table's lazily mapped chunks, each used by
 * several threads at once. Run in the normal, ASan+UBSan and TSan builds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "debug/model.h"
#include "debug/rt.h"
#include "debug/side.h"

#define THREADS 4
#define STACKS 2000

static void make_stack(uintptr_t *pcs, uint32_t depth, uint32_t k)
{
    for (uint32_t i = 0; i < depth; i++)
        pcs[i] = 0x1000u + (uintptr_t)k * 64u + i; /* no module: fine */
}

static uint32_t ids[THREADS][STACKS];

static void *depot_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    uintptr_t pcs[16];
    for (uint32_t k = 0; k < STACKS; k++) {
        uint32_t kk = (k + (uint32_t)t * 97u) % STACKS; /* different orders */
        make_stack(pcs, 1 + kk % 16, kk);
        ids[t][kk] = handle__depot_put(pcs, 1 + kk % 16);
        struct handle__stack st;
        /* a reader of an id another thread may have just published */
        uint32_t other = ids[(t + 1) % THREADS][kk];
        (void)other;
        assert_true(handle__depot_get(ids[t][kk], &st));
    }
    return NULL;
}

static void test_depot_concurrent(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, depot_worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    uintptr_t pcs[16];
    for (uint32_t k = 0; k < STACKS; k++) {
        for (int t = 1; t < THREADS; t++)
            assert_int_equal(ids[t][k], ids[0][k]); /* one id per stack */
        assert_int_not_equal(ids[0][k], 0);
        struct handle__stack st;
        assert_true(handle__depot_get(ids[0][k], &st));
        make_stack(pcs, 1 + k % 16, k);
        assert_int_equal(st.depth, 1 + k % 16);
        assert_memory_equal(st.pcs, pcs, st.depth * sizeof *pcs);
    }
    assert_true(handle__depot_count() >= STACKS);
}

static uint32_t tag_ids[THREADS][64];
static uint32_t thread_ids[THREADS];

static void *tag_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    char buf[64][32];
    thread_ids[t] = handle__thread_self();
    for (int round = 0; round < 50; round++)
        for (int k = 0; k < 64; k++) {
            snprintf(buf[k], sizeof buf[k], "tag-%d", k); /* new pointer, same text */
            tag_ids[t][k] = handle__tag_intern(buf[k]);
            const char *txt = handle__tag_get(tag_ids[t][k]);
            assert_non_null(txt);
            assert_string_equal(txt, buf[k]);
        }
    assert_int_equal(handle__thread_self(), thread_ids[t]);
    return NULL;
}

static void test_tags_and_threads_concurrent(void **state)
{
    (void)state;
    assert_int_equal(handle__thread_self(), 0); /* the main thread is T0 */
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, tag_worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < 64; k++)
        for (int t = 1; t < THREADS; t++)
            assert_int_equal(tag_ids[t][k], tag_ids[0][k]);
    for (int t = 0; t < THREADS; t++) {
        assert_int_not_equal(thread_ids[t], 0);
        for (int u = t + 1; u < THREADS; u++)
            assert_int_not_equal(thread_ids[t], thread_ids[u]);
        const struct handle__thread *th2 = handle__thread_get(thread_ids[t]);
        assert_non_null(th2);
        assert_int_equal(th2->id, thread_ids[t]);
    }
}

static void *side_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    /* each thread writes its own slots in chunks all threads map */
    for (uint32_t i = 0; i < 4 * HANDLE__CHUNK_SLOTS; i += 257) {
        uint32_t idx = i + (uint32_t)t + 1;
        struct handle__side *s = handle__side_get(idx, true);
        assert_non_null(s);
        s->created_ns = idx;
        atomic_store_explicit(&s->h, (uint64_t)idx << 32 | idx, memory_order_release);
    }
    return NULL;
}

static void test_side_table_concurrent(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, side_worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        for (uint32_t i = 0; i < 4 * HANDLE__CHUNK_SLOTS; i += 257) {
            uint32_t idx = i + (uint32_t)t + 1;
            struct handle__side *s = handle__side_get(idx, false);
            assert_non_null(s);
            assert_int_equal(atomic_load(&s->h), (uint64_t)idx << 32 | idx);
            assert_int_equal(s->created_ns, idx);
        }
    /* a chunk never touched is not mapped, and is not created by a reader */
    assert_null(handle__side_get(40u * HANDLE__CHUNK_SLOTS, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depot_concurrent),
        cmocka_unit_test(test_tags_and_threads_concurrent),
        cmocka_unit_test(test_side_table_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
