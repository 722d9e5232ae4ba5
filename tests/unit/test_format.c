/*
 * test_format.c - the frame lines and SUMMARY locations of SPEC section 4
 * (lib/report/text.h), byte for byte, from frames built by hand, and the
 * string buffer under them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/text.h"

static const struct handle__sym_frame full = {
    .pc = 0x55d0c1a2b3c4,
    .function = "drop_conn",
    .file = "/src/app/conn.c",
    .line = 88,
    .column = 5,
    .module = "/usr/bin/app",
    .module_offset = 0x13c4,
};

static void test_frame_with_function_and_line(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    unsigned num = 0;
    handle__sb_frames(&b, &full, 1, &num);
    /* No column: SPEC's format is FILE:LINE. */
    assert_string_equal(handle__sb_str(&b), "    #0 0x55d0c1a2b3c4 in drop_conn /src/app/conn.c:88\n");
    assert_int_equal(num, 1);
    handle__sb_free(&b);
}

static void test_frame_without_line_info(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    unsigned num = 7;
    struct handle__sym_frame f = full;
    f.file = NULL;
    f.line = 0;
    handle__sb_frames(&b, &f, 1, &num);
    assert_string_equal(handle__sb_str(&b),
                        "    #7 0x55d0c1a2b3c4 in drop_conn (/usr/bin/app+0x13c4)\n");
    /* A file without a line is no line info either. */
    handle__sb_reset(&b);
    f.file = "/src/app/conn.c";
    handle__sb_frames(&b, &f, 1, &num);
    assert_string_equal(handle__sb_str(&b),
                        "    #8 0x55d0c1a2b3c4 in drop_conn (/usr/bin/app+0x13c4)\n");
    assert_int_equal(num, 9);
    handle__sb_free(&b);
}

static void test_frame_without_symbol(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    unsigned num = 2;
    struct handle__sym_frame f = {
        .pc = 0x7f0011223344, .module = "/usr/lib/x86_64-linux-gnu/libc.so.6",
        .module_offset = 0x23344};
    handle__sb_frames(&b, &f, 1, &num);
    assert_string_equal(handle__sb_str(&b),
                        "    #2 0x7f0011223344 (/usr/lib/x86_64-linux-gnu/libc.so.6+0x23344)\n");
    handle__sb_free(&b);
}

static void test_frame_of_unknown_module(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    unsigned num = 0;
    struct handle__sym_frame f[2] = {
        {.pc = 0x10, .module = "", .module_offset = 0x10},
        {.pc = 0x20, .module = NULL, .module_offset = 0x20},
    };
    handle__sb_frames(&b, f, 2, &num);
    assert_string_equal(handle__sb_str(&b), "    #0 0x10 (<unknown module>)\n"
                                            "    #1 0x20 (<unknown module>)\n");
    handle__sb_free(&b);
}

static void test_frame_with_line_but_no_function(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    unsigned num = 0;
    struct handle__sym_frame f = full;
    f.function = NULL;
    handle__sb_frames(&b, &f, 1, &num);
    assert_string_equal(handle__sb_str(&b), "    #0 0x55d0c1a2b3c4 /src/app/conn.c:88\n");
    handle__sb_free(&b);
}

/* SPEC's example stack, and an inlined call: its own line, the same pc. */
static void test_stack_with_inlined_frames(void **state)
{
    (void)state;
    struct handle__sym_frame f[4] = {
        {.pc = 0x55d0c1a2b1f0, .function = "conn_init", .file = "/src/app/conn.h", .line = 12,
         .module = "/usr/bin/app", .module_offset = 0x11f0, .inlined = true},
        {.pc = 0x55d0c1a2b1f0, .function = "make_conn", .file = "/src/app/conn.c", .line = 31,
         .module = "/usr/bin/app", .module_offset = 0x11f0},
        {.pc = 0x55d0c1a2b4e0, .function = "main", .file = "/src/app/main.c", .line = 35,
         .module = "/usr/bin/app", .module_offset = 0x14e0},
        {.pc = 0x7f1234567890, .function = "__libc_start_call_main",
         .module = "/usr/lib/x86_64-linux-gnu/libc.so.6", .module_offset = 0x27890},
    };
    struct handle__sb b = {0};
    unsigned num = 0;
    handle__sb_frames(&b, f, 4, &num);
    assert_string_equal(handle__sb_str(&b),
                        "    #0 0x55d0c1a2b1f0 in conn_init /src/app/conn.h:12\n"
                        "    #1 0x55d0c1a2b1f0 in make_conn /src/app/conn.c:31\n"
                        "    #2 0x55d0c1a2b4e0 in main /src/app/main.c:35\n"
                        "    #3 0x7f1234567890 in __libc_start_call_main "
                        "(/usr/lib/x86_64-linux-gnu/libc.so.6+0x27890)\n");
    assert_int_equal(num, 4);
    /* Numbering continues across calls (one pc's frames at a time). */
    handle__sb_reset(&b);
    num = 0;
    handle__sb_frames(&b, f, 2, &num);
    handle__sb_frames(&b, f + 2, 1, &num);
    handle__sb_frames(&b, f + 3, 0, &num);
    assert_int_equal(num, 3);
    assert_non_null(strstr(handle__sb_str(&b), "    #2 0x55d0c1a2b4e0 in main"));
    handle__sb_free(&b);
}

static void test_summary_location(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    handle__sb_location(&b, &full, 1);
    assert_string_equal(handle__sb_str(&b), "/src/app/conn.c:88 in drop_conn");

    /* The first frame with a line, however deep. */
    struct handle__sym_frame f[3] = {
        {.pc = 0x1000, .module = "/usr/lib/libx.so", .module_offset = 0x1000},
        {.pc = 0x2000, .function = "x_call", .module = "/usr/lib/libx.so", .module_offset = 0x2000},
        full,
    };
    handle__sb_reset(&b);
    handle__sb_location(&b, f, 3);
    assert_string_equal(handle__sb_str(&b), "/src/app/conn.c:88 in drop_conn");

    /* No line anywhere: the first frame's module+offset (and its name). */
    handle__sb_reset(&b);
    handle__sb_location(&b, f, 2);
    assert_string_equal(handle__sb_str(&b), "(/usr/lib/libx.so+0x1000)");
    handle__sb_reset(&b);
    handle__sb_location(&b, f + 1, 1);
    assert_string_equal(handle__sb_str(&b), "(/usr/lib/libx.so+0x2000) in x_call");

    /* A line but no name. */
    struct handle__sym_frame g = full;
    g.function = NULL;
    handle__sb_reset(&b);
    handle__sb_location(&b, &g, 1);
    assert_string_equal(handle__sb_str(&b), "/src/app/conn.c:88");

    handle__sb_reset(&b);
    handle__sb_location(&b, NULL, 0);
    assert_string_equal(handle__sb_str(&b), "(<unknown module>)");
    handle__sb_free(&b);
}

static void test_string_buffer(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    assert_string_equal(handle__sb_str(&b), "");
    handle__sb_printf(&b, "%s", "");
    assert_string_equal(handle__sb_str(&b), "");
    handle__sb_printf(&b, "%d-%s", 42, "x");
    handle__sb_putc(&b, '|');
    handle__sb_puts(&b, "ab");
    handle__sb_mem(&b, "cdef", 2);
    assert_string_equal(handle__sb_str(&b), "42-x|abcd");
    assert_int_equal(b.len, 9);
    /* Growth well past the first allocation, through printf and puts. */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    handle__sb_printf(&b, "[%s]", big);
    handle__sb_puts(&b, big);
    assert_int_equal(b.len, 9 + 2 + 2 * (sizeof big - 1));
    assert_int_equal(strlen(handle__sb_str(&b)), b.len);
    assert_int_equal(b.p[9], '[');
    assert_int_equal(b.p[b.len - 1], 'q');
    assert_false(b.oom);
    handle__sb_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(handle__sb_str(&b), "");
    handle__sb_free(&b);
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
    handle__sb_free(&b); /* twice is fine */
}

/* Issue 12 item 9: control bytes from a program (ESC, BEL, CR, LF, other
 * C0, DEL) in a frame's function, file and module are escaped. */
static void test_frame_escapes_control_bytes(void **state)
{
    (void)state;
    const struct handle__sym_frame f = {
        .pc = 0x10,
        .function = "f\033[2J\a",
        .file = "/src/a\r\nb.c",
        .line = 3,
        .module = "/m\001\177",
        .module_offset = 0x10,
    };
    struct handle__sb b = {0};
    handle__sb_frame_text(&b, &f);
    assert_string_equal(handle__sb_str(&b), "in f\\x1b[2J\\x07 /src/a\\r\\nb.c:3");
    handle__sb_reset(&b);
    struct handle__sym_frame g = f;
    g.file = NULL;
    handle__sb_frame_text(&b, &g);
    assert_string_equal(handle__sb_str(&b), "in f\\x1b[2J\\x07 (/m\\x01\\x7f+0x10)");
    handle__sb_reset(&b);
    handle__sb_location(&b, &f, 1);
    assert_string_equal(handle__sb_str(&b), "/src/a\\r\\nb.c:3 in f\\x1b[2J\\x07");
    handle__sb_reset(&b);
    handle__sb_escaped(&b, "t\tab\x1f~\xc3\xa9");
    assert_string_equal(handle__sb_str(&b), "t\\tab\\x1f~\xc3\xa9"); /* UTF-8 stays */
    handle__sb_reset(&b);
    handle__sb_escaped_lines(&b, "one\ntwo\x1b\n");
    assert_string_equal(handle__sb_str(&b), "one\ntwo\\x1b\n");
    handle__sb_free(&b);
}

/* Issue 12 item 1: the Trace: line's path, quoted as a shell needs it. */
static void test_shell_quoting(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"handle-trace.42.db", "handle-trace.42.db"},
        {"/tmp/x/a,b:c=d@e%f+g_h-i.db", "/tmp/x/a,b:c=d@e%f+g_h-i.db"},
        {"=ls", "'=ls'"},
        {"a^b", "'a^b'"},
        {"", "''"},
        {"my dir/t.db", "'my dir/t.db'"},
        {"it's", "'it'\\''s'"},
        {"say \"hi\" $HOME `x` \\", "'say \"hi\" $HOME `x` \\'"},
        {"*?[~#!;&|<>(){}", "'*?[~#!;&|<>(){}'"},
        {"a\nb'c\\d\te\x1b", "$'a\\nb\\'c\\\\d\\te\\x1b'"},
    };
    struct handle__sb b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        handle__sb_reset(&b);
        handle__sb_shell_quoted(&b, cases[i].in);
        assert_string_equal(handle__sb_str(&b), cases[i].out);
    }
    handle__sb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_with_function_and_line),
        cmocka_unit_test(test_frame_without_line_info),
        cmocka_unit_test(test_frame_without_symbol),
        cmocka_unit_test(test_frame_of_unknown_module),
        cmocka_unit_test(test_frame_with_line_but_no_function),
        cmocka_unit_test(test_stack_with_inlined_frames),
        cmocka_unit_test(test_summary_location),
        cmocka_unit_test(test_string_buffer),
        cmocka_unit_test(test_frame_escapes_control_bytes),
        cmocka_unit_test(test_shell_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
