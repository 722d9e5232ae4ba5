/*
 * test_options.c - unit tests of lib/debug/options.c: the defaults of SPEC
 * section 3, every key, both separators, quoting, one warning per bad pair
 * (unknown keys, malformed and out-of-range values) with the previous value
 * kept, the reading order (defaults, __handle_default_options(), then
 * HANDLE_OPTIONS through secure_getenv), the help=1 listing, and a
 * randomized loop proving that no input crashes the parser or breaks the
 * struct's invariants.
 *
 * This file defines __handle_default_options() (what a program would) and
 * secure_getenv() (which the options code then calls instead of glibc's, so
 * the test can count the calls and play a setuid process whose environment
 * must be ignored).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "debug/options.h"

/* ---- What the program and libc would provide ---- */

static const char *program_default_options; /* what __handle_default_options returns */

const char *__handle_default_options(void);
const char *__handle_default_options(void)
{
    return program_default_options;
}

static int secure_getenv_calls; /* calls asking for HANDLE_OPTIONS */
static int simulate_setuid;     /* 1: behave as glibc does in a setuid process */

char *secure_getenv(const char *name)
{
    if (strcmp(name, "HANDLE_OPTIONS") == 0)
        secure_getenv_calls++;
    if (simulate_setuid)
        return NULL;
    return getenv(name);
}

/* ---- Helpers ---- */

/* Collects the warning lines. */
struct warnings {
    int count;
    char all[8192]; /* every line, concatenated */
    size_t len;
    char last[1024];
};

static void collect(const char *line, size_t len, void *ctx)
{
    struct warnings *w = ctx;
    /* One line: ends with the only newline, and is not empty. */
    assert_true(len >= 2);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    for (size_t i = 0; i < len - 1; i++)
        assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
    assert_true(len < sizeof w->last);
    assert_true(len <= 512);
    memcpy(w->last, line, len);
    w->last[len] = '\0';
    if (w->len + len < sizeof w->all) {
        memcpy(w->all + w->len, line, len);
        w->len += len;
        w->all[w->len] = '\0';
    }
    w->count++;
}

static struct handle__options opts, defaults;

static void parse(const char *text, struct warnings *w)
{
    memset(w, 0, sizeof *w);
    handle__options_parse(&opts, text, "HANDLE_OPTIONS", collect, w);
}

static int reset(void **state)
{
    (void)state;
    handle__options_defaults(&opts);
    handle__options_defaults(&defaults);
    program_default_options = NULL;
    simulate_setuid = 0;
    secure_getenv_calls = 0;
    unsetenv("HANDLE_OPTIONS");
    return 0;
}

static void assert_unchanged(void)
{
    assert_memory_equal(&opts, &defaults, sizeof opts);
}

/* Range checks as functions: inline, gcc's -Wtype-limits rejects "x >= 0". */
static void assert_in_i64(int64_t v, int64_t min, int64_t max)
{
    assert_true(v >= min && v <= max);
}

static void assert_in_u64(uint64_t v, uint64_t min, uint64_t max)
{
    assert_true(v >= min && v <= max);
}

/* How many '|'-separated words an ENUM option's list has. */
static int64_t enum_words(const char *list)
{
    int64_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == '|';
    return n;
}

/* Every field is within its range and every string is terminated. */
static void assert_invariants(const struct handle__options *o)
{
    unsigned char b;
#define HANDLE__CHECK_BOOL(name, min, max)                                                     \
    memcpy(&b, &o->name, 1);                                                                   \
    assert_true(b <= 1);
#define HANDLE__CHECK_INT(name, min, max) assert_in_i64(o->name, (min), (max));
#define HANDLE__CHECK_U64(name, min, max) assert_in_u64(o->name, (min), (max));
#define HANDLE__CHECK_STR(name, min, max) assert_non_null(memchr(o->name, '\0', sizeof o->name));
#define HANDLE__CHECK_ENUM(name, min, max) assert_in_i64(o->name, 0, enum_words(min) - 1);
#define HANDLE_OPTION(type, name, def, min, max, help) HANDLE__CHECK_##type(name, min, max)
#include "debug/options.inc"
#undef HANDLE_OPTION
}

/* ---- The defaults ---- */

static void defaults_are_those_of_the_spec(void **state)
{
    (void)state;
    assert_string_equal(opts.trace, "handle-trace.%p.db");
    assert_true(opts.detect_leaks);
    assert_int_equal(opts.exitcode, 23);
    assert_int_equal(opts.max_frames, 32);
    assert_int_equal(opts.quarantine, 65536);
    assert_int_equal(opts.flush_ms, 100);
    assert_int_equal(opts.max_history, 0);
    assert_false(opts.fast_unwind);
    assert_string_equal(opts.suppressions, "");
    assert_string_equal(opts.log_path, "");
    assert_true(opts.print_suppressions);
    assert_int_equal(opts.color, HANDLE__COLOR_AUTO);
    assert_false(opts.abort_on_error);
    assert_int_equal(opts.max_leaks, 0);
    assert_int_equal(opts.verbosity, 0);
    assert_false(opts.help);
    assert_invariants(&opts);
}

static void options_inc_declares_exactly_the_spec_keys(void **state)
{
    static const char *const spec[] = {
        "trace",        "detect_leaks", "exitcode",       "max_frames", "quarantine",
        "flush_ms",     "max_history",  "fast_unwind",    "suppressions", "print_suppressions",
        "log_path",     "color",        "abort_on_error", "max_leaks",  "verbosity",
        "help",
    };
    static const char *const declared[] = {
#define HANDLE_OPTION(type, name, def, min, max, help) #name,
#include "debug/options.inc"
#undef HANDLE_OPTION
    };
    (void)state;
    assert_int_equal(sizeof declared / sizeof declared[0], sizeof spec / sizeof spec[0]);
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++)
        assert_string_equal(declared[i], spec[i]);
}

/* ---- Good input ---- */

static void every_key_is_parsed(void **state)
{
    struct warnings w;
    (void)state;
    parse("trace=/tmp/t.%p.db:detect_leaks=0:exitcode=7:max_frames=64:quarantine=1024:"
          "flush_ms=250:max_history=1000:fast_unwind=1:suppressions=/tmp/supp.txt:"
          "log_path=/tmp/log:abort_on_error=yes:max_leaks=5:verbosity=2:help=true",
          &w);
    assert_int_equal(w.count, 0);
    assert_string_equal(opts.trace, "/tmp/t.%p.db");
    assert_false(opts.detect_leaks);
    assert_int_equal(opts.exitcode, 7);
    assert_int_equal(opts.max_frames, 64);
    assert_int_equal(opts.quarantine, 1024);
    assert_int_equal(opts.flush_ms, 250);
    assert_int_equal(opts.max_history, 1000);
    assert_true(opts.fast_unwind);
    assert_string_equal(opts.suppressions, "/tmp/supp.txt");
    assert_string_equal(opts.log_path, "/tmp/log");
    assert_true(opts.abort_on_error);
    assert_int_equal(opts.max_leaks, 5);
    assert_int_equal(opts.verbosity, 2);
    assert_true(opts.help);
    assert_invariants(&opts);
}

static void range_limits_are_accepted(void **state)
{
    struct warnings w;
    (void)state;
    parse("exitcode=0,max_frames=1,flush_ms=1,quarantine=0,verbosity=0", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.exitcode, 0);
    assert_int_equal(opts.max_frames, 1);
    assert_int_equal(opts.flush_ms, 1);
    assert_int_equal(opts.quarantine, 0);
    parse("exitcode=255,max_frames=256,flush_ms=60000,quarantine=67108864,verbosity=2,"
          "max_leaks=2147483647,max_history=18446744073709551615",
          &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.exitcode, 255);
    assert_int_equal(opts.max_frames, 256);
    assert_int_equal(opts.flush_ms, 60000);
    assert_int_equal(opts.quarantine, 67108864);
    assert_int_equal(opts.verbosity, 2);
    assert_int_equal(opts.max_leaks, 2147483647);
    assert_true(opts.max_history == UINT64_MAX);
    parse("max_frames=0007", &w); /* leading zeros are still decimal */
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 7);
}

static void every_bool_spelling_is_accepted(void **state)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"1", true},  {"true", true},   {"yes", true}, {"TRUE", true},
        {"Yes", true}, {"0", false},    {"false", false}, {"no", false},
        {"FALSE", false}, {"No", false},
    };
    char text[64];
    struct warnings w;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        opts.fast_unwind = !cases[i].value;
        snprintf(text, sizeof text, "fast_unwind=%s", cases[i].text);
        parse(text, &w);
        assert_int_equal(w.count, 0);
        assert_int_equal(opts.fast_unwind, cases[i].value);
    }
}

static void colons_commas_and_whitespace_separate_pairs(void **state)
{
    struct warnings w;
    (void)state;
    parse("max_frames=8,exitcode=9:verbosity=1", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 8);
    assert_int_equal(opts.exitcode, 9);
    assert_int_equal(opts.verbosity, 1);

    parse("  \n\tmax_frames=10 \n exitcode=11\t,\r\n verbosity=2 : \n", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 10);
    assert_int_equal(opts.exitcode, 11);
    assert_int_equal(opts.verbosity, 2);

    /* Empty pairs and empty text are no pairs at all, not errors. */
    parse("::,,max_frames=12::,", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 12);
    parse("", &w);
    parse(NULL, &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 12);
}

static void later_pairs_win(void **state)
{
    struct warnings w;
    (void)state;
    parse("max_frames=8:max_frames=9", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 9);
}

/* SPEC 3: inside quotes '\' takes the next character as it is, so any
 * path can be written (issue 12 item 1); outside quotes it is a byte. */
static void backslash_escapes_inside_quotes(void **state)
{
    struct warnings w;
    (void)state;
    parse("trace=\"a\\\"b'c\\\\d\":exitcode=4", &w);
    assert_int_equal(w.count, 0);
    assert_string_equal(opts.trace, "a\"b'c\\d");
    assert_int_equal(opts.exitcode, 4);

    parse("trace='it\\'s \\x'", &w); /* \x is x */
    assert_int_equal(w.count, 0);
    assert_string_equal(opts.trace, "it's x");

    parse("log_path=a\\b", &w); /* no quotes: backslashes stay */
    assert_int_equal(w.count, 0);
    assert_string_equal(opts.log_path, "a\\b");

    /* An escaped quote does not end the value; a lone trailing '\' leaves
     * the quote open. */
    handle__options_defaults(&opts);
    parse("trace='a\\'", &w);
    assert_int_equal(w.count, 1);
    assert_non_null(strstr(w.last, "(unterminated quote)"));
    assert_string_equal(opts.trace, ""); /* no trace file (SPEC 3) */
}

/* What handle-run writes for each awkward path (issue 12 item 1): the
 * value in double quotes, '"' and '\' escaped, appended to existing
 * options; the path comes back byte for byte. */
static void every_path_survives_handle_run_quoting(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/tmp/x/my dir/t.db", "/tmp/x/a,b.db",   "/tmp/x/a:b.db",   "/tmp/x/it's.db",
        "/tmp/x/say \"hi\".db", "/tmp/x/'both\".db", "/tmp/x/back\\slash.db",
        "/tmp/x/new\nline.db", "/tmp/x/tab\there.db", "/tmp/x/100%.db", "/tmp/x/t.%p.db",
        " lead and trail ", "\\", "\"", "'",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char text[512];
        size_t n = (size_t)snprintf(text, sizeof text, "exitcode=5:trace=\"");
        for (const char *c = paths[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                text[n++] = '\\';
            text[n++] = *c;
        }
        snprintf(text + n, sizeof text - n, "\",max_frames=7");
        struct warnings w;
        handle__options_defaults(&opts);
        parse(text, &w);
        assert_int_equal(w.count, 0);
        assert_string_equal(opts.trace, paths[i]);
        assert_int_equal(opts.exitcode, 5);
        assert_int_equal(opts.max_frames, 7);
    }
}

static void quoted_values_may_hold_separators(void **state)
{
    struct warnings w;
    (void)state;
    parse("trace='/tmp/a:b,c d.db':log_path=\"/var/log/x'y:z\",suppressions='':exitcode=3", &w);
    assert_int_equal(w.count, 0);
    assert_string_equal(opts.trace, "/tmp/a:b,c d.db");
    assert_string_equal(opts.log_path, "/var/log/x'y:z");
    assert_string_equal(opts.suppressions, "");
    assert_int_equal(opts.exitcode, 3);

    parse("max_frames=\"40\" verbosity='1'", &w); /* quotes work for numbers too */
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.max_frames, 40);
    assert_int_equal(opts.verbosity, 1);

    parse("trace=", &w); /* empty: no trace file */
    assert_int_equal(w.count, 0);
    assert_string_equal(opts.trace, "");
}

static void longest_string_fits(void **state)
{
    static char text[16 + HANDLE__OPTION_STR_MAX];
    struct warnings w;
    (void)state;
    strcpy(text, "trace=");
    memset(text + 6, 'a', HANDLE__OPTION_STR_MAX - 1);
    text[6 + HANDLE__OPTION_STR_MAX - 1] = '\0';
    parse(text, &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(strlen(opts.trace), HANDLE__OPTION_STR_MAX - 1);
}

/* ---- Bad input ---- */

static void bad_values_keep_the_default_and_warn_once(void **state)
{
    static const struct {
        const char *text, *name, *expect;
    } cases[] = {
        {"max_frames=0", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=257", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=abc", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=-1", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=+5", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=5x", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=99999999999999999999999", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=-9223372036854775808", "max_frames", "(expected an integer in 1..256)"},
        {"max_frames=-99999999999999999999", "max_frames", "(expected an integer in 1..256)"},
        {"exitcode=256", "exitcode", "(expected an integer in 0..255)"},
        {"exitcode=-1", "exitcode", "(expected an integer in 0..255)"},
        {"flush_ms=0", "flush_ms", "(expected an integer in 1..60000)"},
        {"flush_ms=60001", "flush_ms", "(expected an integer in 1..60000)"},
        {"quarantine=67108865", "quarantine", "(expected an integer in 0..67108864)"},
        {"quarantine=-1", "quarantine", "(expected an integer in 0..67108864)"},
        {"max_history=18446744073709551616", "max_history",
         "(expected a non-negative integer)"},
        {"max_history=-1", "max_history", "(expected a non-negative integer)"},
        {"max_history=1.5", "max_history", "(expected a non-negative integer)"},
        {"max_leaks=2147483648", "max_leaks", "(expected an integer in 0..2147483647)"},
        {"verbosity=3", "verbosity", "(expected an integer in 0..2)"},
        {"detect_leaks=2", "detect_leaks", "(expected 0, 1, true, false, yes or no)"},
        {"detect_leaks=maybe", "detect_leaks", "(expected 0, 1, true, false, yes or no)"},
        {"detect_leaks=", "detect_leaks", "(expected 0, 1, true, false, yes or no)"},
        {"help=truest", "help", "(expected 0, 1, true, false, yes or no)"},
        {"max_frames=\"3", "max_frames", "(unterminated quote)"},
    };
    char needle[64];
    struct warnings w;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        handle__options_defaults(&opts);
        parse(cases[i].text, &w);
        if (w.count != 1)
            fail_msg("'%s': %d warnings", cases[i].text, w.count);
        assert_unchanged();
        snprintf(needle, sizeof needle, "' for option '%s' ", cases[i].name);
        assert_non_null(strstr(w.last, "WARNING: HandleSanitizer: invalid value '"));
        assert_non_null(strstr(w.last, needle));
        assert_non_null(strstr(w.last, cases[i].expect));
        assert_non_null(strstr(w.last, " in HANDLE_OPTIONS; ignored\n"));
    }
}

static void a_bad_value_keeps_the_previous_value(void **state)
{
    struct warnings w;
    (void)state;
    parse("max_frames=8:max_frames=0:log_path=a.log:log_path='b.log", &w);
    assert_int_equal(w.count, 2);
    assert_int_equal(opts.max_frames, 8);
    assert_string_equal(opts.log_path, "a.log");
}

/* SPEC 3: a trace value that cannot be used means no trace file, with one
 * warning, never another path (issue 12 item 1: a path that handle-run
 * could not quote fell back to the default trace). */
static void bad_trace_value_means_no_trace_file(void **state)
{
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"trace='unterminated:max_frames=1", "(unterminated quote)"},
        {"trace=\"a\"b:", "(expected a separator after the closing quote)"},
        {"trace=a.db:trace='b.db", "(unterminated quote)"},
        {"trace=a.db:trace=\"b\\\"", "(unterminated quote)"},
    };
    struct warnings w;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        handle__options_defaults(&opts);
        parse(cases[i].text, &w);
        if (w.count != 1)
            fail_msg("'%s': %d warnings", cases[i].text, w.count);
        assert_string_equal(opts.trace, "");
        assert_non_null(strstr(w.last, "' for option 'trace' "));
        assert_non_null(strstr(w.last, cases[i].expect));
        assert_non_null(strstr(w.last, " in HANDLE_OPTIONS; no trace file\n"));
    }
    /* Too long, quoted or not. */
    static char text[32 + 2 * HANDLE__OPTION_STR_MAX];
    for (int quoted = 0; quoted < 2; quoted++) {
        size_t n = (size_t)snprintf(text, sizeof text, "trace=%s", quoted ? "'" : "");
        memset(text + n, 't', HANDLE__OPTION_STR_MAX);
        n += HANDLE__OPTION_STR_MAX;
        snprintf(text + n, sizeof text - n, "%s", quoted ? "'" : "");
        handle__options_defaults(&opts);
        parse(text, &w);
        assert_int_equal(w.count, 1);
        assert_string_equal(opts.trace, "");
        assert_non_null(strstr(w.last, "; no trace file\n"));
    }
    /* A good one after a bad one is used. */
    parse("trace=\"x\"y,trace=c.db", &w);
    assert_int_equal(w.count, 1);
    assert_string_equal(opts.trace, "c.db");
}

static void too_long_string_is_rejected(void **state)
{
    static char text[16 + HANDLE__OPTION_STR_MAX];
    struct warnings w;
    (void)state;
    strcpy(text, "log_path=");
    memset(text + 9, 'p', HANDLE__OPTION_STR_MAX);
    text[9 + HANDLE__OPTION_STR_MAX] = '\0';
    parse(text, &w);
    assert_int_equal(w.count, 1);
    assert_unchanged();
    assert_non_null(strstr(w.last, "...' for option 'log_path' (expected at most 4095 bytes)"));
}

static void warning_lines_have_the_sanitizer_format(void **state)
{
    char expect[512];
    struct warnings w;
    int pid = (int)getpid();
    (void)state;

    parse("max_frames=x", &w);
    snprintf(expect, sizeof expect,
             "==%d==WARNING: HandleSanitizer: invalid value 'x' for option 'max_frames' "
             "(expected an integer in 1..256) in HANDLE_OPTIONS; ignored\n",
             pid);
    assert_string_equal(w.last, expect);

    parse("foo=1", &w);
    snprintf(expect, sizeof expect,
             "==%d==WARNING: HandleSanitizer: unknown option 'foo' in HANDLE_OPTIONS; ignored\n",
             pid);
    assert_string_equal(w.last, expect);

    parse("justakey", &w);
    snprintf(expect, sizeof expect,
             "==%d==WARNING: HandleSanitizer: malformed option 'justakey' (expected key=value) "
             "in HANDLE_OPTIONS; ignored\n",
             pid);
    assert_string_equal(w.last, expect);

    memset(&w, 0, sizeof w);
    handle__options_parse(&opts, "verbosity=9", "__handle_default_options()", collect, &w);
    snprintf(expect, sizeof expect,
             "==%d==WARNING: HandleSanitizer: invalid value '9' for option 'verbosity' "
             "(expected an integer in 0..2) in __handle_default_options(); ignored\n",
             pid);
    assert_string_equal(w.last, expect);
    assert_unchanged();
}

static void unknown_keys_warn_and_parsing_goes_on(void **state)
{
    struct warnings w;
    (void)state;
    parse("foo=1:max_frames=8,Max_Frames=9:bar='x:y':detect_leaks=no", &w);
    assert_int_equal(w.count, 3);
    assert_non_null(strstr(w.all, "unknown option 'foo' in"));
    assert_non_null(strstr(w.all, "unknown option 'Max_Frames' in")); /* keys are exact */
    assert_non_null(strstr(w.all, "unknown option 'bar' in"));
    assert_int_equal(opts.max_frames, 8);
    assert_false(opts.detect_leaks);
}

static void pairs_without_key_or_equals_sign_warn(void **state)
{
    struct warnings w;
    (void)state;
    parse("=5:max_frames=8:=:detect_leaks:exitcode=4", &w);
    assert_int_equal(w.count, 3);
    assert_non_null(strstr(w.all, "malformed option '=5' (expected key=value)"));
    assert_non_null(strstr(w.all, "malformed option '=' (expected key=value)"));
    assert_non_null(strstr(w.all, "malformed option 'detect_leaks' (expected key=value)"));
    assert_int_equal(opts.max_frames, 8);
    assert_int_equal(opts.exitcode, 4);
    assert_true(opts.detect_leaks);
}

static void echoes_are_cut_and_escaped(void **state)
{
    static char text[3000];
    struct warnings w;
    (void)state;
    memset(text, 'k', 2000);
    strcpy(text + 2000, "=1");
    parse(text, &w);
    assert_int_equal(w.count, 1);
    assert_non_null(strstr(w.last, "unknown option 'kkkk"));
    assert_non_null(strstr(w.last, "kkk...' in HANDLE_OPTIONS; ignored\n"));

    parse("max_frames='1\n2\x01'", &w);
    assert_int_equal(w.count, 1);
    assert_non_null(strstr(w.last, "invalid value '1\\x0a2\\x01' for option 'max_frames'"));

    parse("\x7f\x1b[31m=1", &w);
    assert_int_equal(w.count, 1);
    assert_non_null(strstr(w.last, "unknown option '\\x7f\\x1b[31m'"));
    assert_unchanged();
}

static void no_writer_means_silence(void **state)
{
    (void)state;
    handle__options_parse(&opts, "foo=1:max_frames=0:=:x:max_frames=9", NULL, NULL, NULL);
    assert_int_equal(opts.max_frames, 9);
}

/* ---- Reading order ---- */

static void init_reads_defaults_then_program_then_environment(void **state)
{
    struct warnings w;
    (void)state;

    /* Neither: the defaults. */
    memset(&opts, 0x5a, sizeof opts);
    memset(&w, 0, sizeof w);
    handle__options_init(&opts, collect, &w);
    assert_int_equal(w.count, 0);
    assert_unchanged();
    assert_int_equal(secure_getenv_calls, 1);

    /* The program's defaults alone. */
    program_default_options = "max_frames=10:exitcode=5";
    handle__options_init(&opts, collect, &w);
    assert_int_equal(opts.max_frames, 10);
    assert_int_equal(opts.exitcode, 5);

    /* The environment overrides the program, key by key. */
    setenv("HANDLE_OPTIONS", "max_frames=20:verbosity=1", 1);
    handle__options_init(&opts, collect, &w);
    assert_int_equal(opts.max_frames, 20);
    assert_int_equal(opts.exitcode, 5);
    assert_int_equal(opts.verbosity, 1);
    assert_int_equal(w.count, 0);
    assert_int_equal(secure_getenv_calls, 3);

    /* A program returning NULL has no defaults. */
    program_default_options = NULL;
    handle__options_init(&opts, collect, &w);
    assert_int_equal(opts.max_frames, 20);
    assert_int_equal(opts.exitcode, 23);
}

static void init_warnings_name_their_source(void **state)
{
    struct warnings w;
    (void)state;
    program_default_options = "max_frames=0:bogus=1";
    setenv("HANDLE_OPTIONS", "exitcode=300", 1);
    memset(&w, 0, sizeof w);
    handle__options_init(&opts, collect, &w);
    assert_int_equal(w.count, 3);
    assert_non_null(strstr(w.all, "option 'max_frames' (expected an integer in 1..256) in "
                                  "__handle_default_options(); ignored\n"));
    assert_non_null(strstr(w.all, "unknown option 'bogus' in __handle_default_options(); "
                                  "ignored\n"));
    assert_non_null(strstr(w.all, "option 'exitcode' (expected an integer in 0..255) in "
                                  "HANDLE_OPTIONS; ignored\n"));
    assert_unchanged();
}

static void init_reads_the_environment_through_secure_getenv(void **state)
{
    struct warnings w;
    (void)state;
    setenv("HANDLE_OPTIONS", "max_frames=20", 1);
    program_default_options = "exitcode=5";
    simulate_setuid = 1; /* glibc's secure_getenv returns NULL in a setuid process */
    memset(&w, 0, sizeof w);
    handle__options_init(&opts, collect, &w);
    assert_int_equal(secure_getenv_calls, 1);
    assert_int_equal(opts.max_frames, 32);
    assert_int_equal(opts.exitcode, 5); /* the program's own defaults still apply */
    assert_int_equal(w.count, 0);
}

/* ---- help=1 ---- */

static void help_lists_every_option_with_default_and_meaning(void **state)
{
    static char buf[16384];
    static const char *const names[] = {
#define HANDLE_OPTION(type, name, def, min, max, help) #name,
#include "debug/options.inc"
#undef HANDLE_OPTION
    };
    static const char *const helps[] = {
#define HANDLE_OPTION(type, name, def, min, max, help) help,
#include "debug/options.inc"
#undef HANDLE_OPTION
    };
    char needle[1024];
    (void)state;
    size_t n = handle__options_help(buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_int_equal(strlen(buf), n);
    assert_true(strncmp(buf, "Available flags for HandleSanitizer:\n", 37) == 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(needle, sizeof needle, "\n\t%s\n\t\t- %s (Default: ", names[i], helps[i]);
        if (!strstr(buf, needle))
            fail_msg("help does not list %s", names[i]);
    }
    assert_non_null(strstr(buf, "\ttrace\n\t\t- Path of the SQLite trace file; %p is replaced"));
    assert_non_null(strstr(buf, "(Default: \"handle-trace.%p.db\")\n"));
    assert_non_null(strstr(buf, "\tmax_frames\n\t\t- Frames kept per recorded stack "
                                "(LeakSanitizer's name malloc_context_size is accepted too). "
                                "(Default: 32)\n"));
    assert_non_null(strstr(buf, "(Default: 65536)\n"));
    assert_non_null(strstr(buf, "\tsuppressions\n"));
    assert_non_null(strstr(buf, "Empty: stderr. (Default: \"\")\n"));
    assert_null(strstr(buf, "Current Value"));
    /* One "\t\t- " line per option. */
    size_t lines = 0;
    for (const char *p = buf; (p = strstr(p, "\t\t- ")) != NULL; p++)
        lines++;
    assert_int_equal(lines, sizeof names / sizeof names[0]);
}

static void help_is_cut_like_snprintf(void **state)
{
    char small[40];
    static char full[16384];
    (void)state;
    size_t n = handle__options_help(full, sizeof full);
    assert_int_equal(handle__options_help(NULL, 0), n);
    memset(small, 'z', sizeof small);
    assert_int_equal(handle__options_help(small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);
    assert_int_equal(handle__options_help(small, 1), n);
    assert_int_equal(small[0], '\0');
}

static void help_values_shows_current_values(void **state)
{
    static char buf[16384];
    struct warnings w;
    (void)state;
    parse("max_frames=8:log_path='/tmp/l\tx'", &w);
    size_t n = handle__options_help_values(&opts, buf, sizeof buf);
    assert_int_equal(strlen(buf), n);
    assert_non_null(strstr(buf, "(Default: 32, Current Value: 8)\n"));
    assert_non_null(strstr(buf, "(Default: \"\", Current Value: \"/tmp/l\\x09x\")\n"));
    assert_non_null(strstr(buf, "(Default: 1, Current Value: 1)\n"));
    assert_int_equal(handle__options_help_values(NULL, NULL, 0), handle__options_help(NULL, 0));
}

/* ---- No input crashes ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_input_never_crashes(void **state)
{
    /* Pieces that reach the interesting paths, mixed with raw bytes. */
    static const char *const pieces[] = {
        "=", ":", ",", "'", "\"", " ", "\n", "trace", "max_frames", "quarantine",
        "max_history", "detect_leaks", "help", "log_path", "verbosity", "exitcode", "1", "0",
        "-", "99999999999999999999999", "18446744073709551615", "yes", "%p", "\\",
    };
    static char text[6000];
    static struct warnings w;
    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0, target = (size_t)(rng() % (iter % 100 == 0 ? 5000 : 200));
        while (len < target) {
            uint64_t r = rng();
            if (r % 3 == 0) {
                const char *piece = pieces[(r >> 8) % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(piece);
                if (len + pl >= sizeof text - 1)
                    break;
                memcpy(text + len, piece, pl);
                len += pl;
            } else {
                char c = (char)(r >> 16);
                text[len++] = c ? c : 'x'; /* the text is a C string */
            }
        }
        text[len] = '\0';
        if (iter % 2 == 0)
            handle__options_defaults(&opts);
        memset(&w, 0, sizeof w);
        handle__options_parse(&opts, text, "HANDLE_OPTIONS", collect, &w);
        assert_invariants(&opts);
    }
    /* A long run of pure structure, no bytes of values. */
    memset(text, '=', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    parse(text, &w);
    memset(text, '\'', sizeof text - 1);
    parse(text, &w);
    assert_invariants(&opts);
}

/* ---- color, print_suppressions, LeakSanitizer's names (issue 13, items 10, 11) ---- */

/* Every ENUM default is a word of its own list (options.c cannot check it
 * at compile time). */
static void enum_defaults_are_words_of_their_list(void **state)
{
    char list[256], word[64];
    (void)state;
#define HANDLE__ENUM_IN_LIST(name, def, min)                                                   \
    snprintf(list, sizeof list, "|%s|", min);                                                  \
    snprintf(word, sizeof word, "|%s|", def);                                                  \
    if (!strstr(list, word))                                                                   \
        fail_msg("default %s of %s is not in %s", def, #name, min);
#define HANDLE__ENUM_CHECK_BOOL(name, def, min)
#define HANDLE__ENUM_CHECK_INT(name, def, min)
#define HANDLE__ENUM_CHECK_U64(name, def, min)
#define HANDLE__ENUM_CHECK_STR(name, def, min)
#define HANDLE__ENUM_CHECK_ENUM(name, def, min) HANDLE__ENUM_IN_LIST(name, def, min)
#define HANDLE_OPTION(type, name, def, min, max, help) HANDLE__ENUM_CHECK_##type(name, def, min)
#include "debug/options.inc"
#undef HANDLE_OPTION
    /* options.h names color's words by their index. */
    assert_string_equal(defaults.color == HANDLE__COLOR_AUTO ? "auto" : "?", "auto");
}

static void color_takes_auto_always_never(void **state)
{
    struct warnings w;
    (void)state;
    parse("color=always", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.color, HANDLE__COLOR_ALWAYS);
    parse("color=never", &w);
    assert_int_equal(opts.color, HANDLE__COLOR_NEVER);
    parse("color=Auto", &w);
    assert_int_equal(w.count, 0);
    assert_int_equal(opts.color, HANDLE__COLOR_AUTO);
    parse("color=never:color=blue,color=,color=auto2,color=al", &w);
    assert_int_equal(w.count, 4);
    assert_int_equal(opts.color, HANDLE__COLOR_NEVER); /* the value before stays */
    assert_non_null(strstr(w.all, "invalid value 'blue' for option 'color' (expected one of "
                                  "auto|always|never) in HANDLE_OPTIONS; ignored\n"));
    assert_invariants(&opts);
}

static void print_suppressions_is_a_bool(void **state)
{
    struct warnings w;
    (void)state;
    parse("print_suppressions=0", &w);
    assert_int_equal(w.count, 0);
    assert_false(opts.print_suppressions);
    parse("print_suppressions=true", &w);
    assert_true(opts.print_suppressions);
}

static void lsan_names_stand_for_ours(void **state)
{
    struct warnings w;
    (void)state;
    parse("fast_unwind_on_malloc=1:malloc_context_size=8", &w);
    assert_int_equal(w.count, 0);
    assert_true(opts.fast_unwind);
    assert_int_equal(opts.max_frames, 8);
    /* Our range: LSan's malloc_context_size=0 keeps the value before. */
    parse("malloc_context_size=0", &w);
    assert_int_equal(w.count, 1);
    assert_int_equal(opts.max_frames, 8);
    assert_non_null(strstr(w.last, "invalid value '0' for option 'max_frames'"));
    parse("fast_unwind_on_malloc=0,max_frames=300", &w);
    assert_false(opts.fast_unwind);
    assert_int_equal(opts.max_frames, 8);
    /* Names only: a prefix or a longer word is unknown. */
    parse("malloc_context=4:fast_unwind_on_malloc_x=1", &w);
    assert_int_equal(w.count, 2);
    assert_non_null(strstr(w.all, "unknown option 'malloc_context'"));
    assert_invariants(&opts);
}

static void help_shows_color_words(void **state)
{
    static char buf[16384];
    struct warnings w;
    (void)state;
    parse("color=never", &w);
    size_t n = handle__options_help_values(&opts, buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_non_null(strstr(buf, "\tcolor\n\t\t- Colour diagnostics as AddressSanitizer does"));
    assert_non_null(strstr(buf, "(Default: auto, Current Value: never)\n"));
    assert_non_null(strstr(buf, "\tprint_suppressions\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults_are_those_of_the_spec, reset),
        cmocka_unit_test_setup(options_inc_declares_exactly_the_spec_keys, reset),
        cmocka_unit_test_setup(every_key_is_parsed, reset),
        cmocka_unit_test_setup(range_limits_are_accepted, reset),
        cmocka_unit_test_setup(every_bool_spelling_is_accepted, reset),
        cmocka_unit_test_setup(colons_commas_and_whitespace_separate_pairs, reset),
        cmocka_unit_test_setup(later_pairs_win, reset),
        cmocka_unit_test_setup(quoted_values_may_hold_separators, reset),
        cmocka_unit_test_setup(backslash_escapes_inside_quotes, reset),
        cmocka_unit_test_setup(every_path_survives_handle_run_quoting, reset),
        cmocka_unit_test_setup(longest_string_fits, reset),
        cmocka_unit_test_setup(bad_values_keep_the_default_and_warn_once, reset),
        cmocka_unit_test_setup(a_bad_value_keeps_the_previous_value, reset),
        cmocka_unit_test_setup(too_long_string_is_rejected, reset),
        cmocka_unit_test_setup(bad_trace_value_means_no_trace_file, reset),
        cmocka_unit_test_setup(warning_lines_have_the_sanitizer_format, reset),
        cmocka_unit_test_setup(unknown_keys_warn_and_parsing_goes_on, reset),
        cmocka_unit_test_setup(pairs_without_key_or_equals_sign_warn, reset),
        cmocka_unit_test_setup(echoes_are_cut_and_escaped, reset),
        cmocka_unit_test_setup(no_writer_means_silence, reset),
        cmocka_unit_test_setup(init_reads_defaults_then_program_then_environment, reset),
        cmocka_unit_test_setup(init_warnings_name_their_source, reset),
        cmocka_unit_test_setup(init_reads_the_environment_through_secure_getenv, reset),
        cmocka_unit_test_setup(help_lists_every_option_with_default_and_meaning, reset),
        cmocka_unit_test_setup(help_is_cut_like_snprintf, reset),
        cmocka_unit_test_setup(help_values_shows_current_values, reset),
        cmocka_unit_test_setup(random_input_never_crashes, reset),
        cmocka_unit_test_setup(enum_defaults_are_words_of_their_list, reset),
        cmocka_unit_test_setup(color_takes_auto_always_never, reset),
        cmocka_unit_test_setup(print_suppressions_is_a_bool, reset),
        cmocka_unit_test_setup(lsan_names_stand_for_ours, reset),
        cmocka_unit_test_setup(help_shows_color_words, reset),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
