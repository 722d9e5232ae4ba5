/*
 * fmt.c - see fmt.h. Every function is async-signal-safe.
 */
#include "fmt.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void handle__fmt_mem(struct handle__fmt *f, const char *s, size_t n)
{
    if (f->len >= f->cap)
        return;
    if (n > f->cap - f->len)
        n = f->cap - f->len;
    memcpy(f->buf + f->len, s, n);
    f->len += n;
}

void handle__fmt_str(struct handle__fmt *f, const char *s)
{
    handle__fmt_mem(f, s ? s : "(null)", strlen(s ? s : "(null)"));
}

void handle__fmt_dec(struct handle__fmt *f, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    handle__fmt_mem(f, tmp + i, sizeof tmp - i);
}

void handle__fmt_sdec(struct handle__fmt *f, int64_t v)
{
    if (v < 0) {
        handle__fmt_mem(f, "-", 1);
        handle__fmt_dec(f, (uint64_t)0 - (uint64_t)v);
    } else {
        handle__fmt_dec(f, (uint64_t)v);
    }
}

void handle__fmt_hex(struct handle__fmt *f, uint64_t v)
{
    char tmp[18];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    handle__fmt_mem(f, tmp + i, sizeof tmp - i);
}

void handle__fmt_flush(struct handle__fmt *f, int fd)
{
    int saved = errno;
    size_t off = 0;
    while (off < f->len) {
        ssize_t n = write(fd, f->buf + off, f->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    f->len = 0;
    errno = saved;
}

void handle__fmt_error_head(struct handle__fmt *f, const char *kind, handle_t h)
{
    handle__fmt_str(f, "==");
    handle__fmt_dec(f, (uint64_t)getpid());
    handle__fmt_str(f, "==ERROR: HandleSanitizer: ");
    handle__fmt_str(f, kind);
    handle__fmt_str(f, " on handle ");
    handle__fmt_hex(f, h);
}
