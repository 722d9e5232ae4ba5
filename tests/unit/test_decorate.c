/*
 * test_decorate.c - unit tests of lib/report/decorate.c: which report
 * lines get which of ASan's colours (and which stay plain), the text
 * around them kept byte for byte, and the `auto` rule (a terminal, and
 * NO_COLOR unset or empty) on a pseudo-terminal and a pipe.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "report/decorate.h"

static const char *line_colour(const char *s)
{
    return handle__deco_line(s, strlen(s));
}

static void lines_get_asan_colours(void **state)
{
    (void)state;
    assert_string_equal(line_colour("==4242==ERROR: HandleSanitizer: detected handle leaks"),
                        "\033[1m\033[31m");
    assert_string_equal(line_colour("Leak of 2 handle(s) tagged \"session\" created from:"),
                        "\033[1m\033[34m");
    assert_string_equal(line_colour("handle 0x200000007 (tag \"c\") was deleted by thread T1 here:"),
                        "\033[1m\033[35m");
    assert_string_equal(line_colour("previously created by thread T0 here:"), "\033[1m\033[35m");
    assert_string_equal(line_colour("handle 0x1 has tag \"a\" but was resolved with tag \"b\"; it "
                                    "was created by thread T0 here:"),
                        "\033[1m\033[35m");
    /* Plain, as in ASan: frames, SUMMARY, notes, warnings, the rule, the
     * suppressions table, ABORTING. */
    assert_null(line_colour("    #0 0x55d0c1a2b3c4 in drop_conn /src/app/conn.c:88"));
    assert_null(line_colour("    #0 0x1 in f by thread T0 here:"));
    assert_null(line_colour("SUMMARY: HandleSanitizer: 3 handle(s) leaked in 2 site(s)."));
    assert_null(line_colour("================================================================="));
    assert_null(line_colour("==4242==WARNING: HandleSanitizer: unknown option 'x'"));
    assert_null(line_colour("==4242==ABORTING"));
    assert_null(line_colour("==ERROR: no pid"));
    assert_null(line_colour("Suppressions used:"));
    assert_null(line_colour("Note: no symbols here:"));
    assert_null(line_colour(""));
}

static void decorate_keeps_the_text(void **state)
{
    (void)state;
    const char *in = "=====\n==7==ERROR: HandleSanitizer: x\n    #0 0x1 in f a.c:1\n\nLeak of 1 "
                     "handle(s) created from:\nSUMMARY: y";
    struct handle__sb b = {0};
    handle__decorate(&b, in, strlen(in));
    assert_string_equal(handle__sb_str(&b),
                        "=====\n\033[1m\033[31m==7==ERROR: HandleSanitizer: x\033[1m\033[0m\n"
                        "    #0 0x1 in f a.c:1\n\n\033[1m\033[34mLeak of 1 handle(s) created "
                        "from:\033[1m\033[0m\nSUMMARY: y");
    /* A last line without its newline is decorated too. */
    handle__sb_reset(&b);
    handle__decorate(&b, "Leak of 3", 9);
    assert_string_equal(handle__sb_str(&b), "\033[1m\033[34mLeak of 3\033[1m\033[0m");
    handle__sb_reset(&b);
    handle__decorate(&b, "", 0);
    assert_string_equal(handle__sb_str(&b), "");
    handle__sb_free(&b);
}

static void auto_needs_a_terminal_and_no_no_color(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    unsetenv("NO_COLOR");
    assert_false(handle__deco_auto(p[1]));
    close(p[0]);
    close(p[1]);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0)
        skip();
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    if (s < 0)
        skip();
    assert_true(handle__deco_auto(s));
    setenv("NO_COLOR", "", 1);
    assert_true(handle__deco_auto(s));
    setenv("NO_COLOR", "1", 1);
    assert_false(handle__deco_auto(s));
    unsetenv("NO_COLOR");
    close(s);
    close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_get_asan_colours),
        cmocka_unit_test(decorate_keeps_the_text),
        cmocka_unit_test(auto_needs_a_terminal_and_no_no_color),
    };
    return cmocka_run_group_tests_name("decorate", tests, NULL, NULL);
}
