/*
 * test_out_json.c - the JSON writer of lib/report/json_out.h byte for byte
 * (layout, escaping, the repair of invalid UTF-8, the error state) and the
 * limits of the string buffer and handle__grow under it (text.h): sizes
 * that overflow or that no allocator can give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "report/json_out.h"
#include "report/text.h"

/* Requests of exabytes must fail with NULL, not stop the sanitizers (whose
 * runtime finds these through the dynamic symbol table). */
#define SANITIZER_HOOK __attribute__((visibility("default")))
SANITIZER_HOOK const char *__asan_default_options(void);
SANITIZER_HOOK const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
SANITIZER_HOOK const char *__tsan_default_options(void);
SANITIZER_HOOK const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* The string value s as the writer writes it, top level, compact. */
static char *quote(const char *s)
{
    struct handle__sb b = {0};
    struct handle__json j;
    assert_true(handle__json_init(&j, &b, 0));
    handle__json_str(&j, s);
    assert_true(handle__json_finish(&j));
    handle__json_fini(&j);
    char *r = strdup(handle__sb_str(&b));
    handle__sb_free(&b);
    return r;
}

/* What SQLite's JSON parser reads back from json (a string value). */
static char *parse_back(const char *json)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT json_valid(?1), json_extract(?1, '$')", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    char *r = strdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

static void test_layout_indented(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    struct handle__json j;
    assert_true(handle__json_init(&j, &b, 2));
    handle__json_obj(&j);
    handle__json_kstr(&j, "s", "x");
    handle__json_kint(&j, "i", -7);
    handle__json_kuint(&j, "u", UINT64_MAX);
    handle__json_key(&j, "a");
    handle__json_arr(&j);
    handle__json_bool(&j, true);
    handle__json_bool(&j, false);
    handle__json_null(&j);
    handle__json_str(&j, NULL);
    handle__json_hex(&j, 0xdeadbeef);
    handle__json_arr(&j);
    handle__json_arr_end(&j);
    handle__json_obj(&j);
    handle__json_obj_end(&j);
    handle__json_arr_end(&j);
    handle__json_obj_end(&j);
    assert_true(handle__json_finish(&j));
    handle__json_fini(&j);
    assert_string_equal(handle__sb_str(&b),
                        "{\n"
                        "  \"s\": \"x\",\n"
                        "  \"i\": -7,\n"
                        "  \"u\": 18446744073709551615,\n"
                        "  \"a\": [\n"
                        "    true,\n"
                        "    false,\n"
                        "    null,\n"
                        "    null,\n"
                        "    \"0xdeadbeef\",\n"
                        "    [],\n"
                        "    {}\n"
                        "  ]\n"
                        "}\n");
    handle__sb_free(&b);
}

/* indent is clamped to 0..8. */
static void test_indent_clamped(void **state)
{
    (void)state;
    int in[] = {-5, 20};
    const char *want[] = {"{\"k\":[1]}\n", "{\n        \"k\": [\n                1\n        ]\n}\n"};
    for (int t = 0; t < 2; t++) {
        struct handle__sb b = {0};
        struct handle__json j;
        assert_true(handle__json_init(&j, &b, in[t]));
        handle__json_obj(&j);
        handle__json_key(&j, "k");
        handle__json_arr(&j);
        handle__json_int(&j, 1);
        handle__json_arr_end(&j);
        handle__json_obj_end(&j);
        assert_true(handle__json_finish(&j));
        handle__json_fini(&j);
        assert_string_equal(handle__sb_str(&b), want[t]);
        handle__sb_free(&b);
    }
}

/* Every control character, quote and backslash is escaped; the parser
 * reads back the same bytes. */
static void test_escapes_round_trip(void **state)
{
    (void)state;
    char s[64];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        s[n++] = (char)c;
    s[n++] = '"';
    s[n++] = '\\';
    s[n++] = '/';
    s[n++] = 0x7f;
    s[n] = '\0';
    char *q = quote(s);
    for (const char *p = q; *p; p++)
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    assert_non_null(strstr(q, "\\\"\\\\"));
    assert_non_null(strstr(q, "\\n"));
    assert_non_null(strstr(q, "\\t"));
    q[strlen(q) - 1] = '\0'; /* the final newline */
    char *back = parse_back(q);
    assert_string_equal(back, s);
    free(back);
    free(q);
}

/* Valid UTF-8 of every length is kept as it is; each byte that does not
 * start a valid sequence becomes U+FFFD: overlong forms, surrogates, code
 * points above U+10FFFF, bad leading and continuation bytes, a sequence
 * cut by the end of the string. */
static void test_utf8_repair(void **state)
{
    (void)state;
#define R "\xef\xbf\xbd"
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"},
        {"\xc0\x80", R R},                  /* overlong 2 bytes (bad lead) */
        {"\xc1\xbf", R R},
        {"\xe0\x80\x80", R R R},             /* overlong 3 bytes */
        {"\xe0\x9f\xbf", R R R},
        {"\xed\xa0\x80", R R R},             /* a surrogate */
        {"\xed\xbf\xbf", R R R},
        {"\xed\x9f\xbf", "\xed\x9f\xbf"},    /* just below the surrogates */
        {"\xf0\x80\x80\x80", R R R R},       /* overlong 4 bytes */
        {"\xf4\x90\x80\x80", R R R R},       /* above U+10FFFF */
        {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"}, /* U+10FFFF */
        {"\xf5\x80", R R},                  /* no such leading byte */
        {"\xff", R},
        {"\x80x", R "x"},                   /* a lone continuation byte */
        {"\xe2\x28\xa1", R "(" R},          /* a bad continuation byte */
        {"ok\xe2\x82", "ok" R R},           /* cut by the end */
        {"\xf0\x9f\x98", R R R},
    };
#undef R
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = quote(cases[i].in);
        q[strlen(q) - 1] = '\0';
        char *back = parse_back(q);
        if (strcmp(back, cases[i].want) != 0)
            fail_msg("case %zu: got %s", i, q);
        free(back);
        free(q);
    }
}

/* A document not finished is an error, and so is a buffer that ran out
 * of memory; after an error nothing more is written. */
static void test_errors(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    struct handle__json j;
    assert_true(handle__json_init(&j, &b, 0));
    handle__json_arr(&j);
    handle__json_int(&j, 1);
    assert_false(handle__json_finish(&j));
    assert_string_equal(j.errmsg, "incomplete document");
    size_t len = b.len;
    handle__json_int(&j, 2);
    handle__json_obj(&j);
    handle__json_key(&j, "k");
    handle__json_arr_end(&j);
    assert_int_equal(b.len, len);
    assert_false(handle__json_finish(&j));
    assert_string_equal(j.errmsg, "incomplete document"); /* the first error stays */
    handle__json_fini(&j);
    handle__sb_free(&b);

    assert_true(handle__json_init(&j, &b, 0));
    handle__json_obj(&j);
    handle__json_obj_end(&j);
    b.oom = true;
    assert_false(handle__json_finish(&j));
    assert_string_equal(j.errmsg, "out of memory");
    handle__json_fini(&j);
    handle__sb_free(&b);
}

/* The string buffer: a size that overflows, one no allocator gives, an
 * encoding error in a format; none of them leave a cut piece behind. */
static void test_sb_limits(void **state)
{
    (void)state;
    struct handle__sb b = {0};
    handle__sb_puts(&b, "keep");
    handle__sb_mem(&b, "x", SIZE_MAX - 2); /* len + extra + NUL overflows */
    assert_true(b.oom);
    assert_string_equal(handle__sb_str(&b), "keep");
    handle__sb_puts(&b, "more");
    handle__sb_printf(&b, "%d", 5);
    assert_string_equal(handle__sb_str(&b), "keep");
    assert_int_equal(b.len, 4);
    handle__sb_reset(&b);
    assert_false(b.oom);
    assert_string_equal(handle__sb_str(&b), "");

    handle__sb_mem(&b, "x", SIZE_MAX / 4); /* realloc cannot */
    assert_true(b.oom);
    assert_int_equal(b.len, 0);
    handle__sb_free(&b);

    /* %ls with a wide character the C locale cannot encode: vsnprintf
     * fails; the buffer keeps what it had, empty or not. */
    static const wchar_t bad[] = {0x1f600, 0};
    handle__sb_printf(&b, "%ls", bad);
    assert_false(b.oom);
    assert_int_equal(b.len, 0);
    assert_string_equal(handle__sb_str(&b), "");
    handle__sb_puts(&b, "ab");
    handle__sb_printf(&b, "c%lsd", bad);
    assert_string_equal(handle__sb_str(&b), "ab");
    assert_int_equal(b.len, 2);
    handle__sb_free(&b);
}

static void test_grow_limits(void **state)
{
    (void)state;
    char *p = NULL;
    size_t cap = 0;
    assert_false(handle__grow(&p, &cap, SIZE_MAX / 8, 16)); /* size overflows */
    assert_null(p);
    assert_int_equal(cap, 0);
    assert_false(handle__grow(&p, &cap, SIZE_MAX / 64, 16)); /* realloc cannot */
    assert_null(p);
    assert_int_equal(cap, 0);
    assert_true(handle__grow(&p, &cap, 17, 1));
    assert_int_equal(cap, 32);
    assert_true(handle__grow(&p, &cap, 32, 1)); /* already room */
    assert_int_equal(cap, 32);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_indented), cmocka_unit_test(test_indent_clamped),
        cmocka_unit_test(test_escapes_round_trip), cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_sb_limits),
        cmocka_unit_test(test_grow_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
