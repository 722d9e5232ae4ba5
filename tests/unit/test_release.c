/*
 * test_release.c - unit tests of the release library's seven entry points
 * (lib/release, linked as libhandle.a) and of its panic.
 *
 * What it proves: each public call does what handle.h promises (round
 * trips, tags compared by content, two NULL tags equal, the live count);
 * handle_lookup never panics; and every kind of misuse (invalid-handle on
 * 0 and on never-issued handles, double-delete, use-after-delete through
 * handle_value and handle_value_tagged, tag-mismatch) panics with the right
 * kind. Each misuse is checked twice: in-process through the test-only
 * panic hook (which longjmps back, so the kind, handle and text can be
 * inspected), and in a forked child with no hook, where the parent checks
 * that the child died of SIGABRT after writing exactly the two-line report
 * of SPEC section 4 to stderr. It does not test the debug build's reports.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/panic_hook.h"
#include "handle/handle.h"

#define MAKE(gen, idx) ((handle_t)(((uint64_t)(gen) << 32) | (uint32_t)(idx)))

static int obj_a, obj_b; /* values whose addresses are handed out */

/* ---- panic hook ------------------------------------------------------- */

static struct {
    int fired;
    int kind;
    handle_t h;
    char text[1024];
    size_t len;
} panic_seen;
static jmp_buf panic_jmp;

static void longjmp_hook(int kind, handle_t h, const char *text, size_t len)
{
    panic_seen.fired++;
    panic_seen.kind = kind;
    panic_seen.h = h;
    panic_seen.len = len < sizeof panic_seen.text - 1 ? len : sizeof panic_seen.text - 1;
    memcpy(panic_seen.text, text, panic_seen.len);
    panic_seen.text[panic_seen.len] = '\0';
    longjmp(panic_jmp, 1);
}

/* Runs act(h) with the hook installed; true if it panicked (and returned
 * through the hook), false if it returned normally. */
static bool panics(void (*act)(handle_t), handle_t h)
{
    memset(&panic_seen, 0, sizeof panic_seen);
    handle__panic_hook = longjmp_hook;
    volatile bool panicked = false;
    if (setjmp(panic_jmp) == 0)
        act(h);
    else
        panicked = true;
    handle__panic_hook = NULL;
    return panicked;
}

/* The exact report of SPEC section 4 for the release build, for process
 * pid: the ERROR line, then a HINT line naming libhandle-debug.so. */
static void check_report(const char *text, long pid, const char *kind, handle_t h)
{
    char want[256];
    snprintf(want, sizeof want, "==%ld==ERROR: HandleSanitizer: %s on handle 0x%" PRIxPTR "\n",
             pid, kind, h);
    size_t wl = strlen(want);
    if (strncmp(text, want, wl) != 0)
        fail_msg("report does not start with the ERROR line\nwant: %sgot:  %s", want, text);
    const char *hint = text + wl;
    char hint_prefix[64];
    snprintf(hint_prefix, sizeof hint_prefix, "==%ld==HINT: ", pid);
    if (strncmp(hint, hint_prefix, strlen(hint_prefix)) != 0)
        fail_msg("second line is not the HINT line: %s", hint);
    const char *nl = strchr(hint, '\n');
    if (nl == NULL)
        fail_msg("HINT line is not terminated: %s", hint);
    if (nl[1] != '\0')
        fail_msg("more than two lines in the report; extra: %s", nl + 1);
    const char *dbg = strstr(hint, "libhandle-debug.so");
    if (dbg == NULL || dbg > nl)
        fail_msg("HINT line does not name libhandle-debug.so: %s", hint);
}

/* ---- misuse cases ----------------------------------------------------- */

/* Each case's setup returns the handle the misuse is about (the one the
 * report must name); act(h) is the misusing call. */
struct misuse {
    const char *kind;
    handle_t (*setup)(void);
    void (*act)(handle_t h);
    void (*after)(handle_t h); /* optional: state must be intact afterwards */
};

static handle_t never_issued_gen;   /* a live handle whose next generation is used */
static handle_t reused_live;        /* the live handle now in a stale handle's slot */

static void act_value(handle_t h) { (void)handle_value(h); }
static void act_delete(handle_t h) { handle_delete(h); }
static void act_value_tagged_conn(handle_t h) { (void)handle_value_tagged(h, "struct conn"); }
static void act_value_tagged_null(handle_t h) { (void)handle_value_tagged(h, NULL); }
static void act_value_tagged_other(handle_t h)
{
    char other[] = "struct sess"; /* same length, other text */
    (void)handle_value_tagged(h, other);
}

static handle_t setup_zero(void)
{
    /* Make sure handles exist (the table's first chunk is mapped): 0 must
     * be refused by the table, not only by an empty directory. */
    never_issued_gen = handle_new(&obj_a);
    return 0;
}
static handle_t setup_next_generation(void)
{
    never_issued_gen = handle_new(&obj_a);
    return never_issued_gen + ((handle_t)1 << 32);
}
static handle_t setup_generation_zero(void)
{
    never_issued_gen = handle_new(&obj_a);
    return (handle_t)(uint32_t)never_issued_gen;
}
static handle_t setup_unmapped_index(void) { return MAKE(1, 0xfffffff0u); }
static handle_t setup_deleted(void)
{
    handle_t h = handle_new(&obj_a);
    handle_delete(h);
    return h;
}
static handle_t setup_deleted_tagged(void)
{
    handle_t h = handle_new_tagged(&obj_a, "struct conn");
    handle_delete(h);
    return h;
}
static handle_t setup_deleted_then_reused(void)
{
    handle_t h = handle_new(&obj_a);
    handle_delete(h);
    reused_live = handle_new(&obj_b); /* same thread: same slot */
    assert_int_equal((uint32_t)reused_live, (uint32_t)h);
    return h;
}
static void after_reused(handle_t h)
{
    (void)h;
    void *v = NULL;
    assert_true(handle_lookup(reused_live, &v));
    assert_ptr_equal(v, &obj_b);
}
static handle_t setup_tagged_conn(void) { return handle_new_tagged(&obj_a, "struct conn"); }
static handle_t setup_untagged(void) { return handle_new(&obj_a); }
static void after_still_live(handle_t h)
{
    void *v = NULL;
    assert_true(handle_lookup(h, &v));
    assert_ptr_equal(v, &obj_a);
}

#define CASE(name, kind, setup, act, after)                                          \
    static const struct misuse name = {kind, setup, act, after};
CASE(value_of_zero, "invalid-handle", setup_zero, act_value, NULL)
CASE(value_tagged_of_zero, "invalid-handle", setup_zero, act_value_tagged_conn, NULL)
CASE(delete_of_zero, "invalid-handle", setup_zero, act_delete, NULL)
CASE(value_of_never_issued_generation, "invalid-handle", setup_next_generation, act_value, NULL)
CASE(delete_of_never_issued_generation, "invalid-handle", setup_next_generation, act_delete, NULL)
CASE(value_of_generation_zero, "invalid-handle", setup_generation_zero, act_value, NULL)
CASE(value_of_never_mapped_index, "invalid-handle", setup_unmapped_index, act_value, NULL)
CASE(delete_of_never_mapped_index, "invalid-handle", setup_unmapped_index, act_delete, NULL)
CASE(double_delete, "double-delete", setup_deleted, act_delete, NULL)
CASE(double_delete_after_slot_reuse, "double-delete", setup_deleted_then_reused, act_delete,
     after_reused)
CASE(value_after_delete, "use-after-delete", setup_deleted, act_value, NULL)
CASE(value_tagged_after_delete, "use-after-delete", setup_deleted_tagged, act_value_tagged_conn,
     NULL)
CASE(value_after_delete_and_slot_reuse, "use-after-delete", setup_deleted_then_reused, act_value,
     after_reused)
CASE(value_tagged_with_other_tag_text, "tag-mismatch", setup_tagged_conn, act_value_tagged_other,
     after_still_live)
CASE(value_tagged_null_on_tagged_handle, "tag-mismatch", setup_tagged_conn, act_value_tagged_null,
     after_still_live)
CASE(value_tagged_tag_on_untagged_handle, "tag-mismatch", setup_untagged, act_value_tagged_conn,
     after_still_live)

/* Cleans up whatever a case's setup left live. */
static void cleanup(void)
{
    void *v;
    if (never_issued_gen && handle_lookup(never_issued_gen, &v))
        handle_delete(never_issued_gen);
    if (reused_live && handle_lookup(reused_live, &v))
        handle_delete(reused_live);
    never_issued_gen = reused_live = 0;
}

/* In-process: the panic hook fires once with the kind, the handle and the
 * exact two-line text; the library's state is intact afterwards. */
static void misuse_panics_through_hook(void **state)
{
    const struct misuse *m = *state;
    size_t base = handle_live_count();
    handle_t h = m->setup();
    size_t live = handle_live_count();
    assert_true(panics(m->act, h));
    assert_int_equal(panic_seen.fired, 1);
    assert_string_equal(handle__kind_name(panic_seen.kind), m->kind);
    assert_true(panic_seen.h == h);
    check_report(panic_seen.text, (long)getpid(), m->kind, h);
    assert_int_equal(handle_live_count(), live); /* a refused call changes nothing */
    if (m->after)
        m->after(h);
    if (h != 0 && handle_lookup(h, NULL))
        handle_delete(h);
    cleanup();
    assert_int_equal(handle_live_count(), base);
}

/* Out of process, as a user sees it: no hook, the child aborts. */
static void misuse_aborts_child_with_two_line_report(void **state)
{
    const struct misuse *m = *state;
    size_t base = handle_live_count();
    handle_t h = m->setup();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], STDERR_FILENO) < 0)
            _exit(40);
        handle__panic_hook = NULL;
        m->act(h);
        _exit(41); /* the misuse returned: no panic */
    }
    close(fds[1]);
    char buf[2048];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fail_msg("child did not die of a signal (exit %d); stderr:\n%s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, buf);
    if (WTERMSIG(status) != SIGABRT)
        fail_msg("child died of signal %d, not SIGABRT; stderr:\n%s", WTERMSIG(status), buf);
    check_report(buf, (long)pid, m->kind, h);
    if (m->after)
        m->after(h);
    if (h != 0 && handle_lookup(h, NULL))
        handle_delete(h);
    cleanup();
    assert_int_equal(handle_live_count(), base);
}

/* ---- the public calls ------------------------------------------------- */

static void new_returns_nonzero_handle_resolving_to_its_value_or_null(void **state)
{
    (void)state;
    void *values[] = {&obj_a, &obj_b, NULL, (void *)(uintptr_t)1, (void *)UINTPTR_MAX};
    handle_t hs[5];
    for (int i = 0; i < 5; i++) {
        hs[i] = handle_new(values[i]);
        assert_true(hs[i] != 0);
    }
    for (int i = 0; i < 5; i++) {
        assert_ptr_equal(handle_value(hs[i]), values[i]);
        assert_ptr_equal(handle_value_tagged(hs[i], NULL), values[i]);
        for (int j = 0; j < i; j++)
            assert_true(hs[i] != hs[j]);
    }
    for (int i = 0; i < 5; i++)
        handle_delete(hs[i]);
}

static void same_value_gets_a_distinct_handle_each_time(void **state)
{
    (void)state;
    handle_t a = handle_new(&obj_a), b = handle_new(&obj_a), c = handle_new_tagged(&obj_a, "x");
    assert_true(a != b && b != c && a != c);
    handle_delete(b);
    assert_ptr_equal(handle_value(a), &obj_a); /* deleting one leaves the others */
    assert_ptr_equal(handle_value_tagged(c, "x"), &obj_a);
    handle_delete(a);
    handle_delete(c);
}

static void tags_are_compared_by_content_not_address(void **state)
{
    (void)state;
    char made[] = "struct conn";
    char asked[sizeof made];
    memcpy(asked, made, sizeof made);
    assert_ptr_not_equal(made, asked);
    handle_t h = handle_new_tagged(&obj_b, made);
    assert_ptr_equal(handle_value_tagged(h, asked), &obj_b);
    assert_ptr_equal(handle_value_tagged(h, "struct conn"), &obj_b);
    assert_ptr_equal(handle_value(h), &obj_b); /* handle_value ignores the tag */
    handle_delete(h);
}

static void two_null_tags_are_equal(void **state)
{
    (void)state;
    handle_t a = handle_new(&obj_a);
    handle_t b = handle_new_tagged(&obj_b, NULL);
    assert_false(panics(act_value_tagged_null, a));
    assert_false(panics(act_value_tagged_null, b));
    assert_ptr_equal(handle_value_tagged(a, NULL), &obj_a);
    assert_ptr_equal(handle_value_tagged(b, NULL), &obj_b);
    assert_ptr_equal(handle_value(b), &obj_b);
    handle_delete(a);
    handle_delete(b);
}

static void delete_ends_the_handle_and_lowers_the_live_count(void **state)
{
    (void)state;
    size_t base = handle_live_count();
    handle_t a = handle_new(&obj_a), b = handle_new(&obj_b);
    assert_int_equal(handle_live_count(), base + 2);
    handle_delete(a);
    assert_int_equal(handle_live_count(), base + 1);
    assert_false(handle_lookup(a, NULL));
    assert_true(handle_lookup(b, NULL));
    handle_delete(b);
    assert_int_equal(handle_live_count(), base);
}

static void lookup_of_live_handle_fills_value_and_accepts_null_out(void **state)
{
    (void)state;
    handle_t h = handle_new(&obj_a), z = handle_new(NULL);
    void *v = NULL;
    assert_true(handle_lookup(h, &v));
    assert_ptr_equal(v, &obj_a);
    assert_true(handle_lookup(h, NULL));
    v = &obj_b;
    assert_true(handle_lookup(z, &v));
    assert_null(v);
    handle_delete(h);
    handle_delete(z);
}

static void fail_hook(int kind, handle_t h, const char *text, size_t len)
{
    (void)h;
    (void)len;
    panic_seen.fired++;
    panic_seen.kind = kind;
    (void)text;
    longjmp(panic_jmp, 1);
}

static void lookup_never_panics_on_zero_stale_or_never_issued(void **state)
{
    (void)state;
    handle_t live = handle_new(&obj_a);
    handle_t stale = handle_new(&obj_b);
    handle_delete(stale);
    const handle_t bad[] = {0,
                            stale,
                            live + ((handle_t)1 << 32),
                            (handle_t)(uint32_t)live,
                            MAKE(1, 0),
                            MAKE(1, 0xfffffff0u),
                            (handle_t)UINTPTR_MAX};
    memset(&panic_seen, 0, sizeof panic_seen);
    handle__panic_hook = fail_hook;
    volatile int i = 0;
    if (setjmp(panic_jmp) != 0) {
        handle__panic_hook = NULL;
        fail_msg("handle_lookup panicked (%s) on bad handle #%d",
                 handle__kind_name(panic_seen.kind), i);
    }
    for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        void *v = &obj_a;
        if (handle_lookup(bad[i], &v))
            fail_msg("handle_lookup accepted bad handle #%d", i);
        if (v != &obj_a)
            fail_msg("handle_lookup wrote *value for bad handle #%d", i);
        if (handle_lookup(bad[i], NULL))
            fail_msg("handle_lookup(NULL out) accepted bad handle #%d", i);
    }
    handle__panic_hook = NULL;
    assert_int_equal(panic_seen.fired, 0);
    handle_delete(live);
}

static void *new_in_thread(void *p)
{
    handle_t *hs = p;
    for (int i = 0; i < 100; i++)
        hs[i] = handle_new_tagged(&obj_b, "thread");
    return NULL;
}

static void live_count_includes_handles_of_other_threads(void **state)
{
    (void)state;
    size_t base = handle_live_count();
    handle_t hs[100];
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, new_in_thread, hs), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(handle_live_count(), base + 100);
    for (int i = 0; i < 100; i++) {
        assert_ptr_equal(handle_value_tagged(hs[i], "thread"), &obj_b);
        handle_delete(hs[i]);
    }
    assert_int_equal(handle_live_count(), base);
}

static void forked_child_counts_and_resolves_inherited_handles(void **state)
{
    (void)state;
    size_t base = handle_live_count();
    handle_t h = handle_new(&obj_a);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (handle_live_count() != base + 1)
            _exit(1);
        if (handle_value(h) != &obj_a)
            _exit(2);
        handle_t c = handle_new(&obj_b);
        if (handle_live_count() != base + 2 || handle_value(c) != &obj_b)
            _exit(3);
        handle_delete(h);
        handle_delete(c);
        _exit(handle_live_count() == base ? 0 : 4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The child's delete did not touch the parent's table. */
    assert_ptr_equal(handle_value(h), &obj_a);
    handle_delete(h);
    assert_int_equal(handle_live_count(), base);
}

#define MISUSE(c)                                                                  \
    {#c "_panics_through_hook", misuse_panics_through_hook, NULL, NULL, (void *)&c}, \
    {                                                                              \
        #c "_aborts_child_with_two_line_report", misuse_aborts_child_with_two_line_report, \
            NULL, NULL, (void *)&c                                                 \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_returns_nonzero_handle_resolving_to_its_value_or_null),
        cmocka_unit_test(same_value_gets_a_distinct_handle_each_time),
        cmocka_unit_test(tags_are_compared_by_content_not_address),
        cmocka_unit_test(two_null_tags_are_equal),
        cmocka_unit_test(delete_ends_the_handle_and_lowers_the_live_count),
        cmocka_unit_test(lookup_of_live_handle_fills_value_and_accepts_null_out),
        cmocka_unit_test(lookup_never_panics_on_zero_stale_or_never_issued),
        cmocka_unit_test(live_count_includes_handles_of_other_threads),
        cmocka_unit_test(forked_child_counts_and_resolves_inherited_handles),
        MISUSE(value_of_zero),
        MISUSE(value_tagged_of_zero),
        MISUSE(delete_of_zero),
        MISUSE(value_of_never_issued_generation),
        MISUSE(delete_of_never_issued_generation),
        MISUSE(value_of_generation_zero),
        MISUSE(value_of_never_mapped_index),
        MISUSE(delete_of_never_mapped_index),
        MISUSE(double_delete),
        MISUSE(double_delete_after_slot_reuse),
        MISUSE(value_after_delete),
        MISUSE(value_tagged_after_delete),
        MISUSE(value_after_delete_and_slot_reuse),
        MISUSE(value_tagged_with_other_tag_text),
        MISUSE(value_tagged_null_on_tagged_handle),
        MISUSE(value_tagged_tag_on_untagged_handle),
    };
    return cmocka_run_group_tests_name("release", tests, NULL, NULL);
}
