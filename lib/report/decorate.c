/*
 * decorate.c - see decorate.h: which report lines get which colour, and
 * the `auto` rule. No allocation of its own (the caller's buffer grows).
 */
#include "decorate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

static bool ends(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* "==PID==ERROR: " */
static bool error_line(const char *s, size_t n)
{
    if (!starts(s, n, "=="))
        return false;
    size_t i = 2;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i > 2 && starts(s + i, n - i, "==ERROR: ");
}

const char *handle__deco_line(const char *line, size_t len)
{
    if (error_line(line, len))
        return HANDLE__DECO_ERROR;
    if (starts(line, len, "Leak of "))
        return HANDLE__DECO_LEAK;
    /* "handle 0x.. was deleted by thread T1 here:", "previously created
     * by thread T0 here:", a tag mismatch's "...; it was created by
     * thread T0 here:" - never a frame (indented). */
    if (len > 0 && line[0] != ' ' && ends(line, len, " here:") && memmem(line, len, " by thread ", 11))
        return HANDLE__DECO_ALLOCATION;
    return NULL;
}

void handle__decorate(struct handle__sb *b, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *colour = handle__deco_line(p, n);
        if (colour)
            handle__sb_puts(b, colour);
        handle__sb_mem(b, p, n);
        if (colour)
            handle__sb_puts(b, HANDLE__DECO_DEFAULT);
        if (nl)
            handle__sb_putc(b, '\n');
        p += n + (nl ? 1 : 0);
    }
}

bool handle__deco_auto(int fd)
{
    int saved = errno;
    const char *no = getenv("NO_COLOR");
    bool yes = (no == NULL || no[0] == '\0') && isatty(fd) == 1;
    errno = saved;
    return yes;
}
