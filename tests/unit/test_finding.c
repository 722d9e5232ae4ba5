/*
 * test_finding.c - the text of a misuse finding (lib/report/finding.h),
 * byte for byte, as the debug runtime's panic prints it and handle-report
 * renders a recorded error: every kind, with what the panic knows and
 * with what a trace keeps (the parts known only at the time left out),
 * raw frames with a Note, and a text buffer that starts in static storage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/finding.h"

static const struct handle__sym_frame drop[] = {
    {.pc = 0x1c5, .function = "drop_conn", .file = "/src/conn.c", .line = 22,
     .module = "/bin/app", .module_offset = 0x1c5},
    {.pc = 0x23c, .function = "main", .file = "/src/main.c", .line = 51,
     .module = "/bin/app", .module_offset = 0x23c},
};
static const struct handle__sym_frame make[] = {
    {.pc = 0x1a1, .function = "make_conn", .file = "/src/conn.c", .line = 17,
     .module = "/bin/app", .module_offset = 0x1a1},
};
static const struct handle__sym_frame raw[] = {
    {.pc = 0x5500000011c5, .module = "/bin/app", .module_offset = 0x11c5},
    {.pc = 0x7f0000001000, .module = "", .module_offset = 0x7f0000001000},
};

#define BAR "=================================================================\n"

static void check(const struct handle__finding *f, const char *want)
{
    struct handle__sb b = {0};
    handle__finding_text(&b, f);
    assert_string_equal(handle__sb_str(&b), want);
    handle__sb_free(&b);
}

static struct handle__finding_stack st(const struct handle__sym_frame *f, size_t n)
{
    return (struct handle__finding_stack){f, n};
}

static void test_double_delete(void **state)
{
    (void)state;
    struct handle__finding f = handle__finding_init(42, "double-delete", 0x200000007);
    f.thread = 1;
    f.tag = "struct conn";
    f.stack = st(drop, 2);
    f.has_deleted = true;
    f.deleted_thread = 1;
    f.deleted = st(drop, 1);
    f.has_created = true;
    f.created_thread = 0;
    f.created = st(make, 1);
    check(&f, BAR "==42==ERROR: HandleSanitizer: double-delete on handle 0x200000007 in thread T1\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "    #1 0x23c in main /src/main.c:51\n"
              "\n"
              "handle 0x200000007 (tag \"struct conn\") was deleted by thread T1 here:\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "previously created by thread T0 here:\n"
              "    #0 0x1a1 in make_conn /src/conn.c:17\n"
              "\n"
              "SUMMARY: HandleSanitizer: double-delete /src/conn.c:22 in drop_conn\n");
}

static void test_history_gone(void **state)
{
    (void)state;
    struct handle__finding f = handle__finding_init(7, "use-after-delete", 0x10);
    f.thread = 0;
    f.stack = st(drop, 1);
    f.quarantine = 0;
    check(&f, BAR "==7==ERROR: HandleSanitizer: use-after-delete on handle 0x10 in thread T0\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "handle 0x10 was deleted, and its slot has been reused since, so its history is "
              "gone (raise HANDLE_OPTIONS=quarantine=N, now 0).\n"
              "\n"
              "SUMMARY: HandleSanitizer: use-after-delete /src/conn.c:22 in drop_conn\n");
    f.quarantine = -1; /* from a trace: not known */
    f.thread = -1;
    check(&f, BAR "==7==ERROR: HandleSanitizer: use-after-delete on handle 0x10 in thread T?\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "handle 0x10 was deleted, and its slot has been reused since, so its history is "
              "gone (raise HANDLE_OPTIONS=quarantine=N).\n"
              "\n"
              "SUMMARY: HandleSanitizer: use-after-delete /src/conn.c:22 in drop_conn\n");
}

static void test_invalid(void **state)
{
    (void)state;
    struct handle__finding f = handle__finding_init(7, "invalid-handle", 0);
    f.thread = 2;
    f.stack = st(drop, 1);
    check(&f, BAR "==7==ERROR: HandleSanitizer: invalid-handle on handle 0x0 in thread T2\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "0 is never a valid handle.\n"
              "\n"
              "SUMMARY: HandleSanitizer: invalid-handle /src/conn.c:22 in drop_conn\n");
    f.handle = 0x7777700000001234;
    check(&f, BAR "==7==ERROR: HandleSanitizer: invalid-handle on handle 0x7777700000001234 in "
              "thread T2\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "handle 0x7777700000001234 was never issued by this process.\n"
              "\n"
              "SUMMARY: HandleSanitizer: invalid-handle /src/conn.c:22 in drop_conn\n");
}

static void test_tag_mismatch(void **state)
{
    (void)state;
    struct handle__finding f = handle__finding_init(7, "tag-mismatch", 0x5);
    f.thread = 0;
    f.tag = "struct conn";
    f.stack = st(drop, 1);
    f.has_want_tag = true;
    f.want_tag = "struct session";
    f.has_created = true;
    f.created_thread = 3;
    f.created = st(make, 1);
    check(&f, BAR "==7==ERROR: HandleSanitizer: tag-mismatch on handle 0x5 in thread T0\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "handle 0x5 has tag \"struct conn\" but was resolved with tag \"struct session\"; "
              "it was created by thread T3 here:\n"
              "    #0 0x1a1 in make_conn /src/conn.c:17\n"
              "\n"
              "SUMMARY: HandleSanitizer: tag-mismatch /src/conn.c:22 in drop_conn\n");
    /* From a trace: the tag asked for is not kept; an untagged handle. */
    f.has_want_tag = false;
    f.tag = NULL;
    f.has_created = false;
    check(&f, BAR "==7==ERROR: HandleSanitizer: tag-mismatch on handle 0x5 in thread T0\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "handle 0x5 has tag (none) but was resolved with another tag; its creation is "
              "unknown.\n"
              "\n"
              "SUMMARY: HandleSanitizer: tag-mismatch /src/conn.c:22 in drop_conn\n");
}

static void test_out_of_handles_raw_with_note(void **state)
{
    (void)state;
    struct handle__finding f = handle__finding_init(9, "out-of-handles", 0);
    f.thread = 0;
    f.stack = st(raw, 2);
    f.live = 65534;
    f.note = "no memory for a 16 MiB stack to symbolize on (Cannot allocate memory): frames "
             "show module+offset";
    check(&f, BAR "==9==ERROR: HandleSanitizer: out-of-handles on handle 0x0 in thread T0\n"
              "    #0 0x5500000011c5 (/bin/app+0x11c5)\n"
              "    #1 0x7f0000001000 (<unknown module>)\n"
              "\n"
              "no handle could be created: the table or memory is exhausted (65534 handles "
              "live).\n"
              "\n"
              "Note: no memory for a 16 MiB stack to symbolize on (Cannot allocate memory): "
              "frames show module+offset.\n"
              "\n"
              "SUMMARY: HandleSanitizer: out-of-handles (/bin/app+0x11c5)\n");
    f.live = -1;
    f.note = NULL;
    f.stack = st(NULL, 0);
    check(&f, BAR "==9==ERROR: HandleSanitizer: out-of-handles on handle 0x0 in thread T0\n"
              "    <empty stack>\n"
              "\n"
              "no handle could be created: the table or memory is exhausted.\n"
              "\n"
              "SUMMARY: HandleSanitizer: out-of-handles on handle 0x0\n");
}

static void test_unknown_kind(void **state)
{
    (void)state;
    struct handle__finding f = handle__finding_init(1, "future-kind", 0x9);
    f.thread = 0;
    f.stack = st(drop, 1);
    f.has_created = true;
    f.created_thread = 0;
    f.created = st(make, 1);
    check(&f, BAR "==1==ERROR: HandleSanitizer: future-kind on handle 0x9 in thread T0\n"
              "    #0 0x1c5 in drop_conn /src/conn.c:22\n"
              "\n"
              "created by thread T0 here:\n"
              "    #0 0x1a1 in make_conn /src/conn.c:17\n"
              "\n"
              "SUMMARY: HandleSanitizer: future-kind /src/conn.c:22 in drop_conn\n");
}

/* handle__sb_init_in: static storage first, malloc'd memory once it
 * outgrows it; the caller's buffer is never freed. */
static void test_buffer_in_static_storage(void **state)
{
    (void)state;
    static char buf[16];
    struct handle__sb b;
    handle__sb_init_in(&b, buf, sizeof buf);
    assert_string_equal(handle__sb_str(&b), "");
    handle__sb_puts(&b, "0123456789");
    assert_ptr_equal(b.p, buf);
    handle__sb_printf(&b, "%s", "abcdefghij");
    assert_ptr_not_equal(b.p, buf);
    assert_string_equal(handle__sb_str(&b), "0123456789abcdefghij");
    assert_memory_equal(buf, "0123456789", 10); /* the caller's memory is left alone */
    handle__sb_free(&b);
    handle__sb_init_in(&b, buf, sizeof buf);
    handle__sb_puts(&b, "short");
    handle__sb_free(&b); /* must not free buf */
    assert_null(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_delete),
        cmocka_unit_test(test_history_gone),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_tag_mismatch),
        cmocka_unit_test(test_out_of_handles_raw_with_note),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_buffer_in_static_storage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
