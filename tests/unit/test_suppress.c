/*
 * test_suppress.c - LSan-syntax leak suppressions (lib/report/suppress.h):
 * the glob (match anywhere, ^ and $ anchors, '*'), the parser (comments,
 * blank lines, white space, errors naming the line, other types refused),
 * matching a stack (module, function, file; LSan's order), hit counts,
 * "Suppressions used", and loading from a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report/leaks.h"
#include "report/suppress.h"
#include "report/text.h"

static void test_glob_matches_anywhere_unless_anchored(void **state)
{
    (void)state;
    assert_true(handle__supp_glob("conn", "make_conn"));
    assert_true(handle__supp_glob("conn", "connect"));
    assert_true(handle__supp_glob("conn", "reconnect_all"));
    assert_true(handle__supp_glob("conn", "conn"));
    assert_false(handle__supp_glob("conn", "con"));
    assert_false(handle__supp_glob("conn", "CONN")); /* case matters */

    assert_true(handle__supp_glob("^make", "make_conn"));
    assert_false(handle__supp_glob("^make", "remake_conn"));
    assert_true(handle__supp_glob("conn$", "make_conn"));
    assert_false(handle__supp_glob("conn$", "make_conn2"));
    assert_true(handle__supp_glob("^make_conn$", "make_conn"));
    assert_false(handle__supp_glob("^make_conn$", "make_conn_"));
    assert_false(handle__supp_glob("^make_conn$", "_make_conn"));
    /* Every occurrence counts, not only the first (LSan's matcher would
     * give up after the first "foo" here). */
    assert_true(handle__supp_glob("foo$", "foo_foo"));
    assert_true(handle__supp_glob("^a*b$", "axb_b"));
    /* ^ and $ elsewhere are plain characters. */
    assert_true(handle__supp_glob("a^b", "xa^by"));
    assert_true(handle__supp_glob("a$b", "a$b"));
    assert_false(handle__supp_glob("a$b", "ab"));
}

static void test_glob_star_matches_any_run(void **state)
{
    (void)state;
    assert_true(handle__supp_glob("make*conn", "make_conn"));
    assert_true(handle__supp_glob("make*conn", "makeconn"));
    assert_true(handle__supp_glob("make*conn", "xx_make_a_b_conn_yy"));
    assert_false(handle__supp_glob("make*conn", "conn_make"));
    assert_true(handle__supp_glob("^/src/vendor/*.c$", "/src/vendor/zlib/inflate.c"));
    assert_false(handle__supp_glob("^/src/vendor/*.c$", "/src/vendor/zlib/inflate.cc"));
    assert_false(handle__supp_glob("^/src/vendor/*.c$", "/home/src/vendor/a.c"));
    assert_true(handle__supp_glob("*", "x"));
    assert_true(handle__supp_glob("^*$", "x"));
    assert_true(handle__supp_glob("a**b", "ab"));
    assert_true(handle__supp_glob("^*lib*.so*$", "/usr/lib/libfoo.so.1"));
    assert_true(handle__supp_glob("a*b*c", "aXbYc"));
    assert_false(handle__supp_glob("a*b*c", "aXcYb"));
    /* Many stars against a long string without a match ends quickly. */
    char s[4096];
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    assert_false(handle__supp_glob("^*a*a*a*a*a*a*a*a*b$", s));
}

static void test_glob_empty_strings(void **state)
{
    (void)state;
    /* An empty or missing string never matches (an unknown function is not
     * suppressed by everything); an empty pattern matches the rest. */
    assert_false(handle__supp_glob("", ""));
    assert_false(handle__supp_glob("*", ""));
    assert_false(handle__supp_glob("x", NULL));
    assert_false(handle__supp_glob(NULL, "x"));
    assert_true(handle__supp_glob("", "anything"));
    assert_true(handle__supp_glob("^", "anything"));
    assert_true(handle__supp_glob("$", "anything"));
    assert_false(handle__supp_glob("^$", "anything"));
}

static void test_parse_comments_blank_lines_and_white_space(void **state)
{
    (void)state;
    char err[256] = "";
    struct handle__supp *sp = handle__supp_parse("# leaks we live with\n"
                                                 "\n"
                                                 "leak:make_conn\n"
                                                 "   \t\n"
                                                 "   # indented comment\n"
                                                 "  leak:^libfoo.so$  \r\n"
                                                 "leak:   /vendor/*\n"
                                                 "leak:last_without_newline",
                                                 "supp.txt", err, sizeof err);
    assert_non_null(sp);
    assert_int_equal(handle__supp_count(sp), 4);
    assert_string_equal(handle__supp_pattern(sp, 0), "make_conn");
    assert_string_equal(handle__supp_pattern(sp, 1), "^libfoo.so$");
    assert_string_equal(handle__supp_pattern(sp, 2), "/vendor/*");
    assert_string_equal(handle__supp_pattern(sp, 3), "last_without_newline");
    assert_int_equal(handle__supp_line(sp, 0), 3);
    assert_int_equal(handle__supp_line(sp, 1), 6);
    assert_int_equal(handle__supp_line(sp, 3), 8);
    assert_null(handle__supp_pattern(sp, 4));
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(handle__supp_hits(sp, i), 0);
    handle__supp_free(sp);

    sp = handle__supp_parse("", NULL, err, sizeof err);
    assert_non_null(sp);
    assert_int_equal(handle__supp_count(sp), 0);
    handle__supp_free(sp);
}

static void test_parse_errors_name_the_line(void **state)
{
    (void)state;
    char err[256];
    struct handle__supp *sp =
        handle__supp_parse("leak:ok\n# fine\nrace:data_race_here\n", "my.supp", err, sizeof err);
    assert_null(sp);
    assert_string_equal(err, "my.supp:3: unsupported suppression type 'race' (only 'leak' is "
                             "supported)");

    sp = handle__supp_parse("leak:a\nleak:b\n\njust a function name\n", NULL, err, sizeof err);
    assert_null(sp);
    assert_string_equal(err, "suppressions:4: expected 'leak:PATTERN', got 'just a function name'");

    /* Other LSan/ASan types, and case, are refused as well. */
    sp = handle__supp_parse("interceptor_via_fun:foo", "x", err, sizeof err);
    assert_null(sp);
    assert_non_null(strstr(err, "x:1: unsupported suppression type 'interceptor_via_fun'"));
    sp = handle__supp_parse("LEAK:foo", "x", err, sizeof err);
    assert_null(sp);
    assert_non_null(strstr(err, "'LEAK'"));
    sp = handle__supp_parse(" leak :foo", "x", err, sizeof err);
    assert_null(sp);

    /* A tiny or absent error buffer is fine. */
    char small[8];
    assert_null(handle__supp_parse("race:x", "x", small, sizeof small));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_null(handle__supp_parse("race:x", "x", NULL, 0));
}

static struct handle__sym_frame frame(const char *function, const char *file,
                                      const char *module, uintptr_t pc)
{
    return (struct handle__sym_frame){
        .pc = pc, .function = function, .file = file, .line = file ? 10 : 0,
        .module = module, .module_offset = pc & 0xffff,
    };
}

static void test_match_function_file_or_module_of_any_frame(void **state)
{
    (void)state;
    char err[256];
    struct handle__supp *sp = handle__supp_parse("leak:^open_session$\n"
                                                 "leak:/third_party/\n"
                                                 "leak:libplugin.so\n",
                                                 NULL, err, sizeof err);
    assert_non_null(sp);
    struct handle__sym_frame f[3];

    f[0] = frame("helper", "/src/app/a.c", "/usr/bin/app", 0x1000);
    f[1] = frame("open_session", "/src/app/s.c", "/usr/bin/app", 0x2000);
    f[2] = frame("main", "/src/app/main.c", "/usr/bin/app", 0x3000);
    assert_int_equal(handle__supp_match(sp, f, 3), 0);
    assert_int_equal(handle__supp_match(sp, f, 1), -1); /* only frames given count */

    f[1] = frame("open_session_v2", "/src/app/s.c", "/usr/bin/app", 0x2000);
    assert_int_equal(handle__supp_match(sp, f, 3), -1); /* anchored */

    f[2] = frame("z_init", "/src/third_party/z/init.c", "/usr/bin/app", 0x3000);
    assert_int_equal(handle__supp_match(sp, f, 3), 1); /* by source file */

    f[2] = frame(NULL, NULL, "/opt/x/libplugin.so.2", 0x3000);
    assert_int_equal(handle__supp_match(sp, f, 3), 2); /* by module */

    /* Unknown function, file and module match nothing, not even "". */
    struct handle__supp *all = handle__supp_parse("leak:", NULL, err, sizeof err);
    assert_non_null(all);
    f[0] = frame(NULL, NULL, "", 0x10);
    assert_int_equal(handle__supp_match(all, f, 1), -1);
    f[0] = frame("x", NULL, "", 0x10);
    assert_int_equal(handle__supp_match(all, f, 1), 0);
    assert_int_equal(handle__supp_match(NULL, f, 1), -1);
    assert_int_equal(handle__supp_match(sp, f, 0), -1);
    handle__supp_free(all);
    handle__supp_free(sp);
}

static void test_match_order_is_lsans(void **state)
{
    (void)state;
    char err[256];
    /* Frame by frame; in a frame the module first, then the function, then
     * the file; for each, the patterns in file order. */
    struct handle__supp *sp = handle__supp_parse("leak:file.c\n"
                                                 "leak:func\n"
                                                 "leak:mod.so\n"
                                                 "leak:outer\n",
                                                 NULL, err, sizeof err);
    assert_non_null(sp);
    struct handle__sym_frame f[2] = {
        frame("func", "/src/file.c", "/lib/mod.so", 0x10),
        frame("outer", "/src/o.c", "/lib/other.so", 0x20),
    };
    assert_int_equal(handle__supp_match(sp, f, 2), 2); /* module of frame 0 */
    f[0].module = "/lib/m.so";
    assert_int_equal(handle__supp_match(sp, f, 2), 1); /* then its function */
    f[0].function = "fn";
    assert_int_equal(handle__supp_match(sp, f, 2), 0); /* then its file */
    f[0].file = NULL;
    assert_int_equal(handle__supp_match(sp, f, 2), 3); /* then frame 1 */
    handle__supp_free(sp);
}

static void test_hits_and_suppressions_used(void **state)
{
    (void)state;
    char err[256];
    struct handle__supp *sp =
        handle__supp_parse("leak:a\nleak:b\nleak:c\n", NULL, err, sizeof err);
    assert_non_null(sp);
    struct handle__sb b = {0};
    handle__supp_print_used(&b, sp);
    assert_string_equal(handle__sb_str(&b), ""); /* nothing used, nothing printed */

    handle__supp_add_hits(sp, 2, 5);
    handle__supp_add_hits(sp, 0, 1);
    handle__supp_add_hits(sp, 2, 1);
    handle__supp_add_hits(sp, 3, 100); /* out of range: ignored */
    assert_int_equal(handle__supp_hits(sp, 0), 1);
    assert_int_equal(handle__supp_hits(sp, 1), 0);
    assert_int_equal(handle__supp_hits(sp, 2), 6);
    assert_int_equal(handle__supp_hits(sp, 3), 0);

    handle__supp_print_used(&b, sp);
    assert_string_equal(handle__sb_str(&b),
                        "-----------------------------------------------------\n"
                        "Suppressions used:\n"
                        "  count template\n"
                        "      1 a\n"
                        "      6 c\n"
                        "-----------------------------------------------------\n");
    handle__sb_free(&b);
    handle__supp_free(sp);
    handle__supp_free(NULL);
}

/* The leak report places LSan's table after the last site and before the
 * SUMMARY; without the suppressions (print_suppressions=0 passes NULL)
 * there is no table. */
static void test_leak_report_places_the_table(void **state)
{
    (void)state;
    char err[256];
    struct handle__supp *sp = handle__supp_parse("leak:known\n", NULL, err, sizeof err);
    assert_non_null(sp);
    static const uintptr_t pcs[1] = {0x1234};
    struct handle__sym_frame fr[2] = {{.pc = 0x1234, .function = "known", .module = "m"},
                                      {.pc = 0x1234, .function = "other", .module = "m"}};
    struct handle__leak_site sites[2] = {
        {.count = 2, .depth = 1, .pcs = pcs, .frames = &fr[0], .nframes = 1, .suppressed_by = 0},
        {.count = 1, .depth = 1, .pcs = pcs, .frames = &fr[1], .nframes = 1, .suppressed_by = -1},
    };
    handle__supp_add_hits(sp, 0, 2);
    struct handle__sb b = {0};
    handle__leaks_text(&b, 7, sites, 2, 0, sp);
    const char *t = handle__sb_str(&b);
    const char *site = strstr(t, "\nLeak of 1 handle(s) created from:\n    #0 0x1234 in other (m+0x0)\n");
    const char *table = strstr(t, "\n-----------------------------------------------------\n"
                                  "Suppressions used:\n  count template\n      2 known\n"
                                  "-----------------------------------------------------\n\n"
                                  "SUMMARY: HandleSanitizer: 1 handle(s) leaked in 1 site(s).\n");
    assert_non_null(site);
    assert_non_null(table);
    assert_true(site < table);
    handle__sb_reset(&b);
    handle__leaks_text(&b, 7, sites, 2, 0, NULL);
    assert_null(strstr(handle__sb_str(&b), "Suppressions used"));
    assert_non_null(strstr(handle__sb_str(&b), "\n\nSUMMARY: HandleSanitizer: 1 handle(s)"));
    handle__sb_free(&b);
    handle__supp_free(sp);
}

static void test_load_from_file(void **state)
{
    (void)state;
    char path[] = "/tmp/handle-supp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# test\nleak:from_file\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);

    char err[512] = "";
    struct handle__supp *sp = handle__supp_load(path, err, sizeof err);
    assert_non_null(sp);
    assert_int_equal(handle__supp_count(sp), 1);
    assert_string_equal(handle__supp_pattern(sp, 0), "from_file");
    handle__supp_free(sp);

    /* Errors name the file. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("leak:x\nthread:y\n", f);
    fclose(f);
    assert_null(handle__supp_load(path, err, sizeof err));
    char want[512];
    snprintf(want, sizeof want, "%s:2: unsupported suppression type 'thread'", path);
    assert_non_null(strstr(err, want));
    unlink(path);

    assert_null(handle__supp_load(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(err, want);
    assert_null(handle__supp_load("/tmp", err, sizeof err));
    assert_string_equal(err, "/tmp: Is a directory");
}

/* Without suppressions (NULL) every accessor answers "none"; out of
 * range indexes too. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* At most 1 MiB is read (SPEC section 3; issue 11 case 15, issue 12 item
 * 5): /dev/zero and a larger file are errors in bounded time, a file of
 * exactly 1 MiB is read, and a FIFO nobody writes to is an error after
 * the wait, not a process blocked forever. */
static void test_load_at_most_1_mib(void **state)
{
    (void)state;
    char err[512];
    double t0 = now_s();
    assert_null(handle__supp_load("/dev/zero", err, sizeof err));
    assert_string_equal(err, "/dev/zero: over 1 MiB (a suppression file is at most 1 MiB)");

    char tmp[] = "/tmp/handle-supp-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    /* 1 MiB exactly: 16384 lines of 64 bytes, the last a pattern */
    char line[65];
    memset(line, '#', 63);
    line[63] = '\n';
    for (int i = 0; i < 16383; i++)
        assert_int_equal(write(fd, line, 64), 64);
    snprintf(line, sizeof line, "leak:%-58s\n", "last");
    assert_int_equal(write(fd, line, 64), 64);
    struct handle__supp *sp = handle__supp_load(tmp, err, sizeof err);
    assert_non_null(sp);
    assert_int_equal(handle__supp_count(sp), 1);
    assert_int_equal(handle__supp_line(sp, 0), 16384);
    handle__supp_free(sp);
    /* one byte more */
    assert_int_equal(write(fd, "\n", 1), 1);
    close(fd);
    char want[600];
    assert_null(handle__supp_load(tmp, err, sizeof err));
    snprintf(want, sizeof want, "%s: over 1 MiB (a suppression file is at most 1 MiB)", tmp);
    assert_string_equal(err, want);
    unlink(tmp);

    /* a FIFO without a writer: the open does not block, the read waits
     * the time given */
    char dir[] = "/tmp/handle-supp-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    double t1 = now_s();
    assert_null(handle__supp_load_within(fifo, 300, err, sizeof err));
    snprintf(want, sizeof want, "%s: nothing to read within 0.3 s (a FIFO without a writer?)", fifo);
    assert_string_equal(err, want);
    assert_true(now_s() - t1 >= 0.29);
    unlink(fifo);
    rmdir(dir);
    if (now_s() - t0 > 30)
        fail_msg("%.1f s", now_s() - t0);
}

static void test_null_and_out_of_range(void **state)
{
    (void)state;
    struct handle__sym_frame f = frame("fn", "/src/a.c", "/lib/m.so", 0x10);
    assert_int_equal(handle__supp_match(NULL, &f, 1), -1);
    assert_int_equal(handle__supp_count(NULL), 0);
    assert_null(handle__supp_pattern(NULL, 0));
    assert_int_equal(handle__supp_line(NULL, 0), 0);
    assert_int_equal(handle__supp_hits(NULL, 0), 0);
    handle__supp_add_hits(NULL, 0, 1);
    struct handle__sb b = {0};
    handle__supp_print_used(&b, NULL);
    assert_string_equal(handle__sb_str(&b), "");

    char err[256];
    struct handle__supp *sp = handle__supp_parse("\n\nleak:x\n", NULL, err, sizeof err);
    assert_non_null(sp);
    assert_int_equal(handle__supp_line(sp, 0), 3);
    assert_int_equal(handle__supp_line(sp, 1), 0);
    assert_null(handle__supp_pattern(sp, 1));
    handle__supp_free(sp);
}

/* Inlined frames share their pc and module: the module is tried once, at
 * the first of them; a frame at another pc tries it again. */
static void test_module_once_per_pc(void **state)
{
    (void)state;
    char err[256];
    struct handle__supp *sp = handle__supp_parse("leak:fn2\nleak:mod.so\n", NULL, err, sizeof err);
    assert_non_null(sp);
    struct handle__sym_frame f[3] = {
        frame("fn1", NULL, "/lib/other.so", 0x10),
        frame("fn2", NULL, "/lib/other.so", 0x10), /* inlined into fn1's pc */
        frame("fn3", NULL, "/lib/mod.so", 0x20),
    };
    assert_int_equal(handle__supp_match(sp, f, 3), 0);
    f[1].function = "fnx";
    assert_int_equal(handle__supp_match(sp, f, 3), 1); /* frame 2's module */
    f[1].module = "/lib/mod.so"; /* the same pc in another module: tried */
    assert_int_equal(handle__supp_match(sp, f, 2), 1);
    handle__supp_free(sp);
}

/* An offending line is quoted up to 60 bytes. */
static void test_long_lines_quoted_in_part(void **state)
{
    (void)state;
    char err[512], text[200], want[256];
    memset(text, 'a', 100);
    text[100] = '\0';
    assert_null(handle__supp_parse(text, "f", err, sizeof err));
    snprintf(want, sizeof want, "f:1: expected 'leak:PATTERN', got '%.60s'", text);
    assert_string_equal(err, want);
    text[100] = ':';
    strcpy(text + 101, "pattern");
    assert_null(handle__supp_parse(text, "f", err, sizeof err));
    snprintf(want, sizeof want,
             "f:1: unsupported suppression type '%.60s' (only 'leak' is supported)", text);
    assert_string_equal(err, want);
}

/* Many patterns (the array grows), and files that are not plain: a pipe
 * longer than the first read, one that cannot be read, NUL bytes. */
static void test_load_growth_and_odd_files(void **state)
{
    (void)state;
    char err[512];
    struct handle__sb t = {0};
    for (int i = 0; i < 100; i++)
        handle__sb_printf(&t, "leak:pattern_number_%d\n", i);
    struct handle__supp *sp = handle__supp_parse(handle__sb_str(&t), NULL, err, sizeof err);
    assert_non_null(sp);
    assert_int_equal(handle__supp_count(sp), 100);
    assert_string_equal(handle__supp_pattern(sp, 99), "pattern_number_99");
    handle__supp_free(sp);

    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], t.p, t.len), (ssize_t)t.len); /* < a pipe's buffer */
    close(p[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", p[0]);
    sp = handle__supp_load(path, err, sizeof err);
    close(p[0]);
    assert_non_null(sp);
    assert_int_equal(handle__supp_count(sp), 100);
    assert_int_equal(handle__supp_line(sp, 99), 100);
    handle__supp_free(sp);
    handle__sb_free(&t);

    /* Opens, and every read fails (nothing is mapped at address 0). */
    assert_null(handle__supp_load("/proc/self/mem", err, sizeof err));
    assert_string_equal(err, "/proc/self/mem: Input/output error");

    char tmp[] = "/tmp/handle-supp-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "leak:a\n\0leak:b\n", 15), 15);
    close(fd);
    assert_null(handle__supp_load(tmp, err, sizeof err));
    char want[600];
    snprintf(want, sizeof want, "%s: not a text file (contains NUL bytes)", tmp);
    assert_string_equal(err, want);
    unlink(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_matches_anywhere_unless_anchored),
        cmocka_unit_test(test_null_and_out_of_range),
        cmocka_unit_test(test_module_once_per_pc),
        cmocka_unit_test(test_long_lines_quoted_in_part),
        cmocka_unit_test(test_load_growth_and_odd_files),
        cmocka_unit_test(test_load_at_most_1_mib),
        cmocka_unit_test(test_glob_star_matches_any_run),
        cmocka_unit_test(test_glob_empty_strings),
        cmocka_unit_test(test_parse_comments_blank_lines_and_white_space),
        cmocka_unit_test(test_parse_errors_name_the_line),
        cmocka_unit_test(test_match_function_file_or_module_of_any_frame),
        cmocka_unit_test(test_match_order_is_lsans),
        cmocka_unit_test(test_hits_and_suppressions_used),
        cmocka_unit_test(test_leak_report_places_the_table),
        cmocka_unit_test(test_load_from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
