/*
 * text.c - the growable string buffer and the frame formats of text.h.
 * Formats only: which stacks to print and in what order is the report's
 * business.
 */
#include "text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for len + extra + NUL; false (and oom set) if there is none. */
static bool sb_reserve(struct handle__sb *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *np = b->borrowed ? malloc(ncap) : realloc(b->p, ncap);
    if (!np) {
        b->oom = true;
        return false;
    }
    if (b->borrowed)
        memcpy(np, b->p, b->len + 1);
    b->borrowed = false;
    b->p = np;
    b->cap = ncap;
    return true;
}

void handle__sb_init_in(struct handle__sb *b, char *buf, size_t cap)
{
    *b = (struct handle__sb){.p = buf, .cap = cap, .borrowed = true};
    buf[0] = '\0';
}

void handle__sb_printf(struct handle__sb *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    size_t avail = b->cap - b->len; /* 0 when p is NULL */
    int n = vsnprintf(b->p ? b->p + b->len : NULL, avail, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= avail && sb_reserve(b, (size_t)n))
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap2);
    va_end(ap2);
    if (n < 0 || b->oom) {
        /* An encoding error, or no room for the rest: drop this piece
         * (the first try may have left a cut copy of it after len). */
        if (b->p)
            b->p[b->len] = '\0';
        return;
    }
    b->len += (size_t)n;
}

void handle__sb_mem(struct handle__sb *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void handle__sb_puts(struct handle__sb *b, const char *s)
{
    handle__sb_mem(b, s, strlen(s));
}

void handle__sb_putc(struct handle__sb *b, char c)
{
    handle__sb_mem(b, &c, 1);
}

const char *handle__sb_str(const struct handle__sb *b)
{
    return b->p ? b->p : "";
}

void handle__sb_reset(struct handle__sb *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

void handle__sb_free(struct handle__sb *b)
{
    if (!b->borrowed)
        free(b->p);
    *b = (struct handle__sb){0};
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* One control byte c as a C escape. */
static void sb_escape_byte(struct handle__sb *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
    if (c == '\n' || c == '\r' || c == '\t') {
        e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        handle__sb_mem(b, e, 2);
    } else {
        handle__sb_mem(b, e, 4);
    }
}

static void sb_escaped(struct handle__sb *b, const char *s, bool keep_newlines)
{
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!is_control(c) || (keep_newlines && c == '\n'))
            continue;
        handle__sb_mem(b, run, (size_t)(s - run));
        sb_escape_byte(b, c);
        run = s + 1;
    }
    handle__sb_mem(b, run, (size_t)(s - run));
}

void handle__sb_escaped(struct handle__sb *b, const char *s)
{
    sb_escaped(b, s, false);
}

void handle__sb_escaped_lines(struct handle__sb *b, const char *s)
{
    sb_escaped(b, s, true);
}

void handle__sb_shell_quoted(struct handle__sb *b, const char *s)
{
    /* Not plain: empty, or a leading '=' (zsh expands "=cmd"). */
    bool plain = *s != '\0' && *s != '=', control = false;
    for (const char *c = s; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (is_control(u))
            control = true;
        if (!((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
              strchr("_./+,:=@%-", u)))
            plain = false;
    }
    if (plain) {
        handle__sb_puts(b, s);
    } else if (!control) {
        handle__sb_putc(b, '\'');
        for (const char *c = s; *c; c++) {
            if (*c == '\'')
                handle__sb_puts(b, "'\\''");
            else
                handle__sb_putc(b, *c);
        }
        handle__sb_putc(b, '\'');
    } else {
        handle__sb_puts(b, "$'");
        for (const char *c = s; *c; c++) {
            unsigned char u = (unsigned char)*c;
            if (is_control(u))
                sb_escape_byte(b, u);
            else if (u == '\\' || u == '\'') {
                handle__sb_putc(b, '\\');
                handle__sb_putc(b, *c);
            } else
                handle__sb_putc(b, *c);
        }
        handle__sb_putc(b, '\'');
    }
}

static bool has_line(const struct handle__sym_frame *f)
{
    return f->file && f->file[0] && f->line > 0;
}

static void sb_module(struct handle__sb *b, const struct handle__sym_frame *f)
{
    if (f->module && f->module[0]) {
        handle__sb_putc(b, '(');
        handle__sb_escaped(b, f->module);
        handle__sb_printf(b, "+0x%" PRIxPTR ")", f->module_offset);
    }
    else
        handle__sb_puts(b, "(<unknown module>)");
}

void handle__sb_frame_text(struct handle__sb *b, const struct handle__sym_frame *f)
{
    if (f->function) {
        handle__sb_puts(b, "in ");
        handle__sb_escaped(b, f->function);
        handle__sb_putc(b, ' ');
    }
    if (has_line(f)) {
        handle__sb_escaped(b, f->file);
        handle__sb_printf(b, ":%d", f->line);
    }
    else
        sb_module(b, f);
}

void handle__sb_frames(struct handle__sb *b, const struct handle__sym_frame *f, size_t n,
                       unsigned *num)
{
    for (size_t i = 0; i < n; i++) {
        handle__sb_printf(b, "    #%u 0x%" PRIxPTR " ", (*num)++, f[i].pc);
        handle__sb_frame_text(b, &f[i]);
        handle__sb_putc(b, '\n');
    }
}

void handle__sb_location(struct handle__sb *b, const struct handle__sym_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (has_line(&f[i])) {
            handle__sb_escaped(b, f[i].file);
            handle__sb_printf(b, ":%d", f[i].line);
            if (f[i].function) {
                handle__sb_puts(b, " in ");
                handle__sb_escaped(b, f[i].function);
            }
            return;
        }
    }
    if (n == 0) {
        handle__sb_puts(b, "(<unknown module>)");
        return;
    }
    sb_module(b, &f[0]);
    if (f[0].function) {
        handle__sb_puts(b, " in ");
        handle__sb_escaped(b, f[0].function);
    }
}

bool handle__grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem)
            return false;
        ncap *= 2;
    }
    void *np = realloc(*p, ncap * elem);
    if (np == NULL)
        return false;
    *p = np;
    *cap = ncap;
    return true;
}
