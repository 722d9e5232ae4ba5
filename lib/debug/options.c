/*
 * options.c - defaults, parser and help=1 listing of the debug build's
 * options; see options.h for the syntax and the reading order.
 *
 * Everything is driven by one table generated from options.inc (name,
 * type, offset in struct handle__options, default, range, help), so the
 * struct, the defaults, the parser and the listing cannot disagree. Text is
 * assembled with the small bounded writer below instead of stdio: this code
 * runs inside other people's processes, so it neither allocates nor touches
 * a FILE, and output that does not fit is cut, never overflowed. It does
 * not write to any file descriptor: warnings go to the caller's writer.
 */
#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The program's optional default options (SPEC 3). Weak and of default
 * visibility, so that the reference stays undefined in libhandle-debug.so
 * and binds at run time to the program's definition; NULL when the program
 * has none.
 */
extern const char *__handle_default_options(void)
    __attribute__((weak, visibility("default")));

enum opt_type { OPT_BOOL, OPT_INT, OPT_U64, OPT_STR, OPT_ENUM };

struct opt_desc {
    const char *name;
    const char *help;
    enum opt_type type;
    size_t offset;
    /* Default and range: i* for BOOL and INT, u* for U64, sdef for STR;
     * ENUM: sdef the default word, words the list ("auto|always|never"). */
    int64_t idef, imin, imax;
    uint64_t udef, umin, umax;
    const char *sdef;
    const char *words;
};

/* Defaults must lie in their own range, INT ranges must fit an int and
 * string defaults must fit their array: checked at compile time. gcc's
 * -Wtype-limits flags "0 <= def" even between two constants, so it is off
 * for these assertions only. */
#define CHECK_BOOL(name, def, min, max)                                                        \
    _Static_assert((min) == 0 && (max) == 1 && ((def) == 0 || (def) == 1),                     \
                   "bool option " #name " needs range 0..1 and a 0/1 default");
#define CHECK_INT(name, def, min, max)                                                         \
    _Static_assert((min) >= INT_MIN && (max) <= INT_MAX && (min) <= (def) && (def) <= (max),   \
                   "int option " #name ": default out of range or range wider than int");
#define CHECK_U64(name, def, min, max)                                                         \
    _Static_assert((uint64_t)(min) <= (uint64_t)(def) && (uint64_t)(def) <= (uint64_t)(max),   \
                   "u64 option " #name ": default out of range");
#define CHECK_STR(name, def, min, max)                                                         \
    _Static_assert(sizeof(def) <= HANDLE__OPTION_STR_MAX,                                       \
                   "string option " #name ": default too long");
#define CHECK_ENUM(name, def, min, max)                                                        \
    _Static_assert(sizeof(def) > 1 && sizeof(min) > sizeof(def),                                \
                   "enum option " #name ": needs a default word and a list of words");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#define HANDLE_OPTION(type, name, def, min, max, help) CHECK_##type(name, def, min, max)
#include "options.inc"
#undef HANDLE_OPTION
#pragma GCC diagnostic pop

#define OFF(name) offsetof(struct handle__options, name)
#define DESC_BOOL(name, def, min, max, help)                                                   \
    {#name, help, OPT_BOOL, OFF(name), (def), (min), (max), 0, 0, 0, NULL, NULL},
#define DESC_INT(name, def, min, max, help)                                                    \
    {#name, help, OPT_INT, OFF(name), (def), (min), (max), 0, 0, 0, NULL, NULL},
#define DESC_U64(name, def, min, max, help)                                                    \
    {#name, help, OPT_U64, OFF(name), 0, 0, 0, (def), (min), (max), NULL, NULL},
#define DESC_STR(name, def, min, max, help)                                                    \
    {#name, help, OPT_STR, OFF(name), 0, 0, 0, 0, 0, 0, def, NULL},
#define DESC_ENUM(name, def, min, max, help)                                                   \
    {#name, help, OPT_ENUM, OFF(name), 0, 0, 0, 0, 0, 0, def, min},

static const struct opt_desc opt_table[] = {
#define HANDLE_OPTION(type, name, def, min, max, help) DESC_##type(name, def, min, max, help)
#include "options.inc"
#undef HANDLE_OPTION
};
#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])

/* LeakSanitizer's names for ours (SPEC section 3): the same option, with
 * our range and default. */
static const struct {
    const char *alias, *name;
} opt_aliases[] = {
    {"fast_unwind_on_malloc", "fast_unwind"},
    {"malloc_context_size", "max_frames"},
};

/* The index of s[0..n) in the '|'-separated words (case-insensitive, as
 * the booleans), or -1. */
static int enum_index(const char *words, const char *s, size_t n)
{
    int i = 0;
    for (const char *w = words;; i++) {
        size_t wl = strcspn(w, "|");
        size_t k = 0;
        while (k < n && k < wl) {
            char c = s[k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != w[k])
                break;
            k++;
        }
        if (k == n && k == wl)
            return i;
        if (w[wl] == '\0')
            return -1;
        w += wl + 1;
    }
}

/* ---- A bounded text writer: counts everything, stores what fits. ---- */

struct out {
    char *buf;
    size_t cap;   /* bytes of buf usable for text (one less than its size) */
    size_t len;   /* bytes that would have been written */
};

/* Appends s[0..n): stores what fits below cap, counts all of it. */
static void out_mem(struct out *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

/* Appends the NUL-terminated s. */
static void out_str(struct out *w, const char *s)
{
    out_mem(w, s, strlen(s));
}

/* Appends v in decimal. */
static void out_u64(struct out *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_mem(w, tmp + i, sizeof tmp - i);
}

/* Appends v in decimal, with a '-' if negative (INT64_MIN included). */
static void out_i64(struct out *w, int64_t v)
{
    if (v < 0) {
        out_mem(w, "-", 1);
        out_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        out_u64(w, (uint64_t)v);
    }
}

/* Writes s[0..n), control bytes (and DEL) as \xNN so the text stays on one
 * line; when limit is not 0 and n exceeds it, the first limit bytes and
 * "...". */
static void out_escaped(struct out *w, const char *s, size_t n, size_t limit)
{
    static const char hex[] = "0123456789abcdef";
    size_t shown = (limit && n > limit) ? limit : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            out_mem(w, e, sizeof e);
        } else {
            out_mem(w, (const char *)&c, 1);
        }
    }
    if (shown < n)
        out_str(w, "...");
}

/* Appends word number i of the '|'-separated words ("?" if there is none). */
static void out_enum_word(struct out *w, const char *words, int i)
{
    for (const char *p = words; i >= 0; i--) {
        size_t wl = strcspn(p, "|");
        if (i == 0) {
            out_mem(w, p, wl);
            return;
        }
        if (p[wl] == '\0')
            break;
        p += wl + 1;
    }
    out_str(w, "?");
}

/* ---- Warnings ---- */

/* Longest key or value echoed in a warning; the line then always fits. */
#define ECHO_MAX 64
#define WARN_LINE_MAX 512

struct warner {
    const char *source;
    handle__options_warn_fn *fn;
    void *ctx;
};

/* Starts a warning line: "==PID==WARNING: HandleSanitizer: ". */
static void warn_begin(struct out *w, char *buf, size_t size)
{
    w->buf = buf;
    w->cap = size - 1; /* keep one byte for the newline */
    w->len = 0;
    out_str(w, "==");
    out_i64(w, (int64_t)getpid());
    out_str(w, "==WARNING: HandleSanitizer: ");
}

/* Ends the line with " in SOURCE; OUTCOME\n" (NULL: "ignored") and hands
 * it to the writer. */
static void warn_end_as(const struct warner *wr, struct out *w, const char *outcome)
{
    out_str(w, " in ");
    out_str(w, wr->source);
    out_str(w, "; ");
    out_str(w, outcome ? outcome : "ignored");
    size_t n = w->len < w->cap ? w->len : w->cap;
    w->buf[n++] = '\n';
    wr->fn(w->buf, n, wr->ctx);
}

static void warn_end(const struct warner *wr, struct out *w)
{
    warn_end_as(wr, w, NULL);
}

/* "unknown option 'KEY'" */
static void warn_unknown(const struct warner *wr, const char *key, size_t klen)
{
    char line[WARN_LINE_MAX];
    struct out w;
    if (!wr->fn)
        return;
    warn_begin(&w, line, sizeof line);
    out_str(&w, "unknown option '");
    out_escaped(&w, key, klen, ECHO_MAX);
    out_str(&w, "'");
    warn_end(wr, &w);
}

/* "malformed option 'TEXT' (expected key=value)" */
static void warn_malformed(const struct warner *wr, const char *text, size_t n)
{
    char line[WARN_LINE_MAX];
    struct out w;
    if (!wr->fn)
        return;
    warn_begin(&w, line, sizeof line);
    out_str(&w, "malformed option '");
    out_escaped(&w, text, n, ECHO_MAX);
    out_str(&w, "' (expected key=value)");
    warn_end(wr, &w);
}

/* "invalid value 'VALUE' for option 'NAME' (WHY)"; WHY is the option's
 * expectation when why is NULL. */
static void warn_invalid(const struct warner *wr, const struct opt_desc *d, const char *val,
                         size_t vlen, const char *why)
{
    char line[WARN_LINE_MAX];
    struct out w;
    if (!wr->fn)
        return;
    warn_begin(&w, line, sizeof line);
    out_str(&w, "invalid value '");
    out_escaped(&w, val, vlen, ECHO_MAX);
    out_str(&w, "' for option '");
    out_str(&w, d->name);
    out_str(&w, "' (");
    if (why) {
        out_str(&w, why);
    } else {
        switch (d->type) {
        case OPT_BOOL:
            out_str(&w, "expected 0, 1, true, false, yes or no");
            break;
        case OPT_INT:
            out_str(&w, "expected an integer in ");
            out_i64(&w, d->imin);
            out_str(&w, "..");
            out_i64(&w, d->imax);
            break;
        case OPT_U64:
            if (d->umin == 0 && d->umax == UINT64_MAX) {
                out_str(&w, "expected a non-negative integer");
            } else {
                out_str(&w, "expected an integer in ");
                out_u64(&w, d->umin);
                out_str(&w, "..");
                out_u64(&w, d->umax);
            }
            break;
        case OPT_STR:
            out_str(&w, "expected at most ");
            out_u64(&w, HANDLE__OPTION_STR_MAX - 1);
            out_str(&w, " bytes");
            break;
        case OPT_ENUM:
            out_str(&w, "expected one of ");
            out_str(&w, d->words);
            break;
        }
    }
    out_str(&w, ")");
    /* A trace value that cannot be used means no trace file, never
     * another path (SPEC 3): the caller empties it. */
    warn_end_as(wr, &w, d->offset == OFF(trace) ? "no trace file" : NULL);
}

/* ---- Values ---- */

/* Case-insensitive comparison of s[0..n) with the lowercase word. */
static bool word_is(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return false;
    }
    return i == n && word[i] == '\0';
}

/* Parses 0/1/true/false/yes/no; false if it is none of them. */
static bool parse_bool(const char *s, size_t n, bool *out)
{
    if (word_is(s, n, "1") || word_is(s, n, "true") || word_is(s, n, "yes")) {
        *out = true;
        return true;
    }
    if (word_is(s, n, "0") || word_is(s, n, "false") || word_is(s, n, "no")) {
        *out = false;
        return true;
    }
    return false;
}

/* Parses decimal digits (at least one, nothing else) into *out; false on
 * anything else or on overflow of uint64_t. */
static bool parse_digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Parses an optionally negative decimal integer into *out; false if it is
 * not one or does not fit int64_t. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    uint64_t mag;
    if (n > 0 && s[0] == '-') {
        if (!parse_digits(s + 1, n - 1, &mag) || mag > (uint64_t)INT64_MAX + 1)
            return false;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        return true;
    }
    if (!parse_digits(s, n, &mag) || mag > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)mag;
    return true;
}

/* After a bad value for trace: no trace file (SPEC 3), whatever was set
 * before; other options keep their previous value. */
static void no_trace_file(struct handle__options *o, const struct opt_desc *d)
{
    if (d->offset == OFF(trace))
        o->trace[0] = '\0';
}

/* Stores val into option d of o if it is valid; otherwise warns once and
 * leaves o unchanged. */
static void set_option(struct handle__options *o, const struct opt_desc *d, const char *val,
                       size_t vlen, const struct warner *wr)
{
    char *field = (char *)o + d->offset;
    switch (d->type) {
    case OPT_BOOL: {
        bool b;
        if (!parse_bool(val, vlen, &b))
            break;
        *(bool *)(void *)field = b;
        return;
    }
    case OPT_INT: {
        int64_t v;
        if (!parse_i64(val, vlen, &v) || v < d->imin || v > d->imax)
            break;
        *(int *)(void *)field = (int)v;
        return;
    }
    case OPT_U64: {
        uint64_t v;
        if (!parse_digits(val, vlen, &v) || v < d->umin || v > d->umax)
            break;
        *(uint64_t *)(void *)field = v;
        return;
    }
    case OPT_STR:
        if (vlen >= HANDLE__OPTION_STR_MAX)
            break;
        memcpy(field, val, vlen);
        field[vlen] = '\0';
        return;
    case OPT_ENUM: {
        int i = enum_index(d->words, val, vlen);
        if (i < 0)
            break;
        *(int *)(void *)field = i;
        return;
    }
    }
    warn_invalid(wr, d, val, vlen, NULL);
    no_trace_file(o, d);
}

/* ---- Parser ---- */

/* The C locale's isspace(), without the locale. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Ends a pair or a key: ':' or ',' or whitespace. */
static bool is_sep(char c)
{
    return c == ':' || c == ',' || is_space(c);
}

/* Copies the quoted text q[0..n) (without its quotes) into dst, each
 * "\\c" as c; the length, or SIZE_MAX when it does not fit below cap (a
 * NUL is not written: callers use the length). */
static size_t unescape(char *dst, size_t cap, const char *q, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '\\' && i + 1 < n)
            i++;
        if (len + 1 >= cap)
            return SIZE_MAX;
        dst[len++] = q[i];
    }
    return len;
}

/* The option named exactly key[0..klen) (case-sensitive), or NULL;
 * LeakSanitizer's names (opt_aliases) stand for ours. */
static const struct opt_desc *find_option(const char *key, size_t klen)
{
    for (size_t i = 0; i < sizeof opt_aliases / sizeof opt_aliases[0]; i++) {
        const char *alias = opt_aliases[i].alias;
        if (strncmp(alias, key, klen) == 0 && alias[klen] == '\0') {
            key = opt_aliases[i].name;
            klen = strlen(key);
            break;
        }
    }
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const char *name = opt_table[i].name;
        if (strncmp(name, key, klen) == 0 && name[klen] == '\0')
            return &opt_table[i];
    }
    return NULL;
}

/* See options.h. Zeroes the padding too, so two option sets compare with
 * memcmp. */
void handle__options_defaults(struct handle__options *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt_desc *d = &opt_table[i];
        char *field = (char *)o + d->offset;
        switch (d->type) {
        case OPT_BOOL:
            *(bool *)(void *)field = d->idef != 0;
            break;
        case OPT_INT:
            *(int *)(void *)field = (int)d->idef;
            break;
        case OPT_U64:
            *(uint64_t *)(void *)field = d->udef;
            break;
        case OPT_STR:
            memcpy(field, d->sdef, strlen(d->sdef) + 1); /* fits: checked at compile time */
            break;
        case OPT_ENUM: {
            int k = enum_index(d->words, d->sdef, strlen(d->sdef));
            *(int *)(void *)field = k < 0 ? 0 : k; /* always found: a unit test */
            break;
        }
        }
    }
}

/* See options.h. One pass, left to right, never reading past the NUL: each
 * inner loop stops at '\0', and p only moves past a byte it has seen. */
void handle__options_parse(struct handle__options *o, const char *text, const char *source,
                           handle__options_warn_fn *warn, void *ctx)
{
    const struct warner wr = {source ? source : "HANDLE_OPTIONS", warn, ctx};
    const char *p = text ? text : "";
    char unq[HANDLE__OPTION_STR_MAX]; /* a quoted value without its escapes */

    for (;;) {
        /* Separators and whitespace between pairs; empty pairs vanish. */
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            return;

        const char *key = p;
        while (*p && *p != '=' && !is_sep(*p))
            p++;
        size_t klen = (size_t)(p - key);
        if (*p != '=') {
            /* "foo" alone: klen > 0 here, p is at a separator or the end. */
            warn_malformed(&wr, key, klen);
            continue;
        }
        p++; /* '=' */

        /* The value: quoted (may hold separators) or up to a separator. */
        const char *val = p, *problem = NULL, *bad = NULL;
        size_t vlen, badlen = 0;
        bool quoted = false;
        if (*p == '\'' || *p == '"') {
            const char quote = *p++;
            quoted = true;
            val = p;
            /* Inside quotes '\' takes the next byte as it is (SPEC 3). */
            while (*p && *p != quote)
                p += (p[0] == '\\' && p[1]) ? 2 : 1;
            vlen = (size_t)(p - val);
            if (!*p) {
                problem = "unterminated quote";
                bad = val - 1;
            } else {
                p++; /* closing quote */
                if (*p && !is_sep(*p)) {
                    while (*p && !is_sep(*p))
                        p++;
                    problem = "expected a separator after the closing quote";
                    bad = val - 1;
                }
            }
            if (bad)
                badlen = (size_t)(p - bad);
        } else {
            while (*p && !is_sep(*p))
                p++;
            vlen = (size_t)(p - val);
        }

        if (klen == 0) {
            /* "=value": the key is missing; echo what was there. */
            warn_malformed(&wr, key, (size_t)(p - key));
            continue;
        }
        const struct opt_desc *d = find_option(key, klen);
        if (!d) {
            warn_unknown(&wr, key, klen);
            continue;
        }
        if (problem) {
            warn_invalid(&wr, d, bad, badlen, problem);
            no_trace_file(o, d);
            continue;
        }
        if (quoted) {
            size_t n = unescape(unq, sizeof unq, val, vlen);
            if (n == SIZE_MAX) {
                warn_invalid(&wr, d, val, vlen, NULL); /* longer than any value */
                no_trace_file(o, d);
                continue;
            }
            set_option(o, d, unq, n, &wr);
            continue;
        }
        set_option(o, d, val, vlen, &wr);
    }
}

/* See options.h. */
void handle__options_init(struct handle__options *o, handle__options_warn_fn *warn, void *ctx)
{
    handle__options_defaults(o);
    if (__handle_default_options) {
        const char *text = __handle_default_options();
        if (text)
            handle__options_parse(o, text, "__handle_default_options()", warn, ctx);
    }
    /* secure_getenv, not getenv: a setuid or setgid program must not be
     * steered (trace and log paths) by its caller's environment. */
    const char *env = secure_getenv("HANDLE_OPTIONS");
    if (env)
        handle__options_parse(o, env, "HANDLE_OPTIONS", warn, ctx);
}

/* ---- help=1 ---- */

/* Writes the value of option d held by o: numbers in decimal, strings
 * quoted with control bytes escaped. */
static void out_value(struct out *w, const struct opt_desc *d, const struct handle__options *o)
{
    const char *field = (const char *)o + d->offset;
    switch (d->type) {
    case OPT_BOOL:
        out_u64(w, *(const bool *)(const void *)field ? 1 : 0);
        break;
    case OPT_INT:
        out_i64(w, *(const int *)(const void *)field);
        break;
    case OPT_U64:
        out_u64(w, *(const uint64_t *)(const void *)field);
        break;
    case OPT_STR: {
        size_t n = strnlen(field, HANDLE__OPTION_STR_MAX);
        out_str(w, "\"");
        out_escaped(w, field, n, 0);
        out_str(w, "\"");
        break;
    }
    case OPT_ENUM:
        out_enum_word(w, d->words, *(const int *)(const void *)field);
        break;
    }
}

/* Writes the default of option d, as out_value would. */
static void out_default(struct out *w, const struct opt_desc *d)
{
    switch (d->type) {
    case OPT_BOOL:
    case OPT_INT:
        out_i64(w, d->idef);
        break;
    case OPT_U64:
        out_u64(w, d->udef);
        break;
    case OPT_STR:
        out_str(w, "\"");
        out_escaped(w, d->sdef, strlen(d->sdef), 0);
        out_str(w, "\"");
        break;
    case OPT_ENUM:
        out_str(w, d->sdef);
        break;
    }
}

/* See options.h. */
size_t handle__options_help_values(const struct handle__options *o, char *buf, size_t cap)
{
    struct out w = {buf, cap ? cap - 1 : 0, 0};
    out_str(&w, "Available flags for HandleSanitizer:\n");
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt_desc *d = &opt_table[i];
        out_str(&w, "\t");
        out_str(&w, d->name);
        out_str(&w, "\n\t\t- ");
        out_str(&w, d->help);
        out_str(&w, " (Default: ");
        out_default(&w, d);
        if (o) {
            out_str(&w, ", Current Value: ");
            out_value(&w, d, o);
        }
        out_str(&w, ")\n");
    }
    if (cap)
        buf[w.len < w.cap ? w.len : w.cap] = '\0';
    return w.len;
}

/* See options.h. */
size_t handle__options_help(char *buf, size_t cap)
{
    return handle__options_help_values(NULL, buf, cap);
}
