/*
 * test_go_port.c - Go's runtime/cgo/handle_test.go, ported to libhandle.
 *
 * TestHandle: for several values (an integer, a pointer, nil/NULL), two
 * handles of the same value are non-zero and distinct, both resolve to the
 * value, and after deleting everything the table is empty (Go ranges over
 * its map; here handle_live_count() is 0). TestInvalidHandle: deleting the
 * zero handle and an invalid handle (Go's h+1) panics; Go recovers the
 * panic, this port observes it through the test-only panic hook, which
 * longjmps back. BenchmarkHandle's concurrent case becomes a short test
 * that new/value/delete from several goroutines (threads) at once works
 * and leaves the table empty. Nothing else in this program makes handles,
 * so the live count is compared with 0, as Go compares its map's size.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/panic_hook.h"
#include "handle/handle.h"

static jmp_buf recover_jmp;
static int recovered_kind;
static handle_t recovered_handle;

static void recover_hook(int kind, handle_t h, const char *text, size_t len)
{
    (void)text;
    (void)len;
    recovered_kind = kind;
    recovered_handle = h;
    longjmp(recover_jmp, 1);
}

/* Go's `defer func() { if r := recover(); r != nil {...} }()` around one
 * call: returns true if the call panicked. */
static bool recovers(void (*call)(handle_t), handle_t h)
{
    volatile bool panicked = false;
    recovered_kind = HANDLE__OK;
    recovered_handle = 0;
    handle__panic_hook = recover_hook;
    if (setjmp(recover_jmp) == 0)
        call(h);
    else
        panicked = true;
    handle__panic_hook = NULL;
    return panicked;
}

static void delete_call(handle_t h) { handle_delete(h); }
static void value_call(handle_t h) { (void)handle_value(h); }

/* func TestHandle(t *testing.T) */
static void TestHandle_equal_values_get_distinct_handles_and_table_ends_empty(void **state)
{
    (void)state;
    assert_int_equal(handle_live_count(), 0);
    int v = 42;
    struct {
        void *v1, *v2;
    } tests[] = {
        {(void *)(uintptr_t)42, (void *)(uintptr_t)42}, /* v1: v, v2: v */
        {&v, &v},                                       /* v1: &v, v2: &v */
        {NULL, NULL},                                   /* v1: nil, v2: nil */
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        handle_t h1 = handle_new(tests[i].v1);
        handle_t h2 = handle_new(tests[i].v2);
        if (h1 == 0 || h2 == 0)
            fail_msg("NewHandle returns zero");
        if (h1 == h2)
            fail_msg("Duplicated Go values should have different handles, but got equal");
        void *h1v = handle_value(h1);
        void *h2v = handle_value(h2);
        if (h1v != h2v || h1v != tests[i].v1)
            fail_msg("Value of a Handle got wrong, got %p %p, want %p", h1v, h2v, tests[i].v1);
        handle_delete(h1);
        handle_delete(h2);
    }
    /* siz := 0; handles.Range(...); if siz != 0 { t.Fatalf(...) } */
    size_t siz = handle_live_count();
    if (siz != 0)
        fail_msg("handles are not cleared, got %zu, want %d", siz, 0);
}

/* func TestInvalidHandle(t *testing.T): t.Run("zero", ...) */
static void TestInvalidHandle_zero_delete_panics(void **state)
{
    (void)state;
    handle_t h = 0;
    if (!recovers(delete_call, h))
        fail_msg("Delete of zero handle did not trigger a panic");
    assert_string_equal(handle__kind_name(recovered_kind), "invalid-handle");
    assert_true(recovered_handle == 0);
    /* Value of the zero handle panics too (Go's Value on 0 panics). */
    handle_t live = handle_new((void *)(uintptr_t)42);
    if (!recovers(value_call, 0))
        fail_msg("Value of zero handle did not trigger a panic");
    assert_string_equal(handle__kind_name(recovered_kind), "invalid-handle");
    handle_delete(live);
    assert_int_equal(handle_live_count(), 0);
}

/* func TestInvalidHandle(t *testing.T): t.Run("invalid", ...) */
static void TestInvalidHandle_never_issued_delete_panics(void **state)
{
    (void)state;
    handle_t h = handle_new((void *)(uintptr_t)42);
    /* Go uses h+1: its handles are a counter, so h+1 is not issued yet.
     * Here h+1 is the next slot with h's generation: not live (h is the
     * only live handle), so deleting it must panic. */
    assert_int_equal(handle_live_count(), 1);
    assert_false(handle_lookup(h + 1, NULL));
    if (!recovers(delete_call, h + 1))
        fail_msg("Invalid handle did not trigger a panic");
    assert_true(recovered_handle == h + 1);
    /* The next generation of h's own slot is certainly never issued:
     * that is invalid-handle, precisely. */
    handle_t never = h + ((handle_t)1 << 32);
    if (!recovers(delete_call, never))
        fail_msg("Invalid handle did not trigger a panic");
    assert_string_equal(handle__kind_name(recovered_kind), "invalid-handle");
    if (!recovers(value_call, never))
        fail_msg("Value of an invalid handle did not trigger a panic");
    assert_string_equal(handle__kind_name(recovered_kind), "invalid-handle");
    /* The recovered panics changed nothing: h is intact. */
    assert_ptr_equal(handle_value(h), (void *)(uintptr_t)42);
    handle_delete(h);
    assert_int_equal(handle_live_count(), 0);
}

/* func BenchmarkHandle(b *testing.B): b.Run("concurrent", ...), as a test. */
enum { GOROUTINES = 4, ITERATIONS = 50000 };
static _Atomic int concurrent_bad;

static void *goroutine(void *arg)
{
    int v = (int)(intptr_t)arg;
    for (int i = 0; i < ITERATIONS; i++) {
        handle_t h = handle_new(&v);
        if (handle_value(h) != &v)
            atomic_fetch_add(&concurrent_bad, 1);
        handle_delete(h);
    }
    return NULL;
}

static void BenchmarkHandle_concurrent_new_value_delete_leaves_table_empty(void **state)
{
    (void)state;
    pthread_t th[GOROUTINES];
    for (int i = 0; i < GOROUTINES; i++)
        assert_int_equal(pthread_create(&th[i], NULL, goroutine, (void *)(intptr_t)i), 0);
    for (int i = 0; i < GOROUTINES; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&concurrent_bad), 0);
    assert_int_equal(handle_live_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(TestHandle_equal_values_get_distinct_handles_and_table_ends_empty),
        cmocka_unit_test(TestInvalidHandle_zero_delete_panics),
        cmocka_unit_test(TestInvalidHandle_never_issued_delete_panics),
        cmocka_unit_test(BenchmarkHandle_concurrent_new_value_delete_leaves_table_empty),
    };
    return cmocka_run_group_tests_name("go_port", tests, NULL, NULL);
}
