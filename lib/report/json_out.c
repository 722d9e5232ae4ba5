/*
 * json_out.c - the streaming JSON writer of json_out.h. Structure (commas,
 * colons, indentation, matching brackets) is tracked here; escaping is
 * SQLite's json_quote(), so the one part that is easy to get subtly wrong
 * (control characters, quotes, backslashes) is done by a well-tested
 * implementation. Only UTF-8 validity is checked here, because json_quote
 * copies bytes as they are.
 */
#include "json_out.h"

#include <assert.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(struct handle__json *j, const char *why)
{
    if (!j->error)
        snprintf(j->errmsg, sizeof j->errmsg, "%s", why);
    j->error = true;
}

bool handle__json_init(struct handle__json *j, struct handle__sb *out, int indent)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    j->indent = indent < 0 ? 0 : indent > 8 ? 8 : indent;
    if (sqlite3_open_v2(":memory:", &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(j->db, "SELECT json_quote(?1)", -1, &j->quote, NULL) != SQLITE_OK) {
        fail(j, j->db ? sqlite3_errmsg(j->db) : "cannot open an in-memory database");
        return false;
    }
    return true;
}

void handle__json_fini(struct handle__json *j)
{
    sqlite3_finalize(j->quote);
    sqlite3_close(j->db);
    j->quote = NULL;
    j->db = NULL;
}

static void newline(struct handle__json *j)
{
    if (j->indent == 0)
        return;
    handle__sb_putc(j->out, '\n');
    for (int i = 0; i < j->depth * j->indent; i++)
        handle__sb_putc(j->out, ' ');
}

/* Everything due before a value: the comma, the indentation; checks that a
 * value may come here. */
static bool before_value(struct handle__json *j)
{
    if (j->error)
        return false;
    if (j->done) {
        assert(!"a second top-level value");
        fail(j, "a second top-level value");
        return false;
    }
    if (j->depth == 0)
        return true;
    if (j->kind[j->depth - 1] == '{') {
        if (!j->want_value) {
            assert(!"a value without a key in an object");
            fail(j, "a value without a key in an object");
            return false;
        }
        j->want_value = false;
        return true;
    }
    if (!j->empty[j->depth - 1])
        handle__sb_putc(j->out, ',');
    j->empty[j->depth - 1] = false;
    newline(j);
    return true;
}

static void after_value(struct handle__json *j)
{
    if (j->depth == 0)
        j->done = true;
}

static void open_level(struct handle__json *j, char kind)
{
    if (!before_value(j))
        return;
    if (j->depth == HANDLE__JSON_MAX_DEPTH) {
        assert(!"JSON nesting too deep");
        fail(j, "nesting too deep");
        return;
    }
    handle__sb_putc(j->out, kind);
    j->kind[j->depth] = kind;
    j->empty[j->depth] = true;
    j->depth++;
}

static void close_level(struct handle__json *j, char kind)
{
    if (j->error)
        return;
    if (j->depth == 0 || j->kind[j->depth - 1] != kind || j->want_value) {
        assert(!"mismatched close");
        fail(j, "mismatched close");
        return;
    }
    j->depth--;
    if (!j->empty[j->depth])
        newline(j);
    handle__sb_putc(j->out, kind == '{' ? '}' : ']');
    after_value(j);
}

void handle__json_obj(struct handle__json *j)
{
    open_level(j, '{');
}

void handle__json_obj_end(struct handle__json *j)
{
    close_level(j, '{');
}

void handle__json_arr(struct handle__json *j)
{
    open_level(j, '[');
}

void handle__json_arr_end(struct handle__json *j)
{
    close_level(j, '[');
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if it is
 * not one (overlong forms, surrogates and code points above U+10FFFF are
 * invalid, as RFC 3629 says). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* s with every invalid UTF-8 byte replaced by U+FFFD, in *tmp (malloc'ed)
 * if anything had to change; s itself otherwise. NULL when out of memory. */
static const char *valid_utf8(const char *s, char **tmp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    *tmp = NULL;
    if (i == n)
        return s;
    char *o = malloc(n * 3 + 1);
    if (o == NULL)
        return NULL;
    size_t w = 0;
    for (i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            memcpy(o + w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        } else {
            memcpy(o + w, p + i, k);
            w += k;
            i += k;
        }
    }
    o[w] = '\0';
    *tmp = o;
    return o;
}

/* Appends s as a JSON string literal. */
static void quoted(struct handle__json *j, const char *s)
{
    char *tmp;
    const char *v = valid_utf8(s, &tmp);
    if (v == NULL) {
        fail(j, "out of memory");
        return;
    }
    sqlite3_bind_text(j->quote, 1, v, -1, SQLITE_STATIC);
    if (sqlite3_step(j->quote) == SQLITE_ROW) {
        const char *q = (const char *)sqlite3_column_text(j->quote, 0);
        if (q)
            handle__sb_mem(j->out, q, (size_t)sqlite3_column_bytes(j->quote, 0));
        else
            fail(j, "out of memory");
    } else {
        fail(j, sqlite3_errmsg(j->db));
    }
    sqlite3_reset(j->quote);
    sqlite3_clear_bindings(j->quote);
    free(tmp);
}

void handle__json_key(struct handle__json *j, const char *k)
{
    if (j->error)
        return;
    if (j->depth == 0 || j->kind[j->depth - 1] != '{' || j->want_value) {
        assert(!"a key outside an object or where a value is due");
        fail(j, "misplaced key");
        return;
    }
    if (!j->empty[j->depth - 1])
        handle__sb_putc(j->out, ',');
    j->empty[j->depth - 1] = false;
    newline(j);
    quoted(j, k);
    handle__sb_puts(j->out, j->indent ? ": " : ":");
    j->want_value = true;
}

void handle__json_str(struct handle__json *j, const char *s)
{
    if (s == NULL) {
        handle__json_null(j);
        return;
    }
    if (!before_value(j))
        return;
    quoted(j, s);
    after_value(j);
}

static void raw(struct handle__json *j, const char *text)
{
    if (!before_value(j))
        return;
    handle__sb_puts(j->out, text);
    after_value(j);
}

void handle__json_int(struct handle__json *j, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    raw(j, b);
}

void handle__json_uint(struct handle__json *j, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, v);
    raw(j, b);
}

void handle__json_bool(struct handle__json *j, bool v)
{
    raw(j, v ? "true" : "false");
}

void handle__json_null(struct handle__json *j)
{
    raw(j, "null");
}

void handle__json_hex(struct handle__json *j, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "0x%" PRIx64, v);
    handle__json_str(j, b);
}

void handle__json_kstr(struct handle__json *j, const char *k, const char *s)
{
    handle__json_key(j, k);
    handle__json_str(j, s);
}

void handle__json_kint(struct handle__json *j, const char *k, int64_t v)
{
    handle__json_key(j, k);
    handle__json_int(j, v);
}

void handle__json_kint_or_null(struct handle__json *j, const char *k, bool has, int64_t v)
{
    handle__json_key(j, k);
    if (has)
        handle__json_int(j, v);
    else
        handle__json_null(j);
}

void handle__json_kuint(struct handle__json *j, const char *k, uint64_t v)
{
    handle__json_key(j, k);
    handle__json_uint(j, v);
}

bool handle__json_finish(struct handle__json *j)
{
    if (!j->error && !j->done)
        fail(j, "incomplete document");
    if (j->out->oom)
        fail(j, "out of memory");
    if (!j->error)
        handle__sb_putc(j->out, '\n');
    return !j->error && !j->out->oom;
}
