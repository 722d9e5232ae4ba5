/*
 * fmt_fuzz.c - a libFuzzer target for lib/core/fmt.c, the fixed-capacity
 * buffer every panic message of both builds is written with: a random
 * capacity (0..300 bytes) and a random sequence of str/mem/dec/sdec/hex
 * appends and flushes, checked against a reference built with snprintf
 * into an unbounded buffer: the text is always the reference's prefix, cut
 * at the capacity, never beyond it (the buffer is followed by a guard that
 * must stay intact), and a flush writes exactly that text (to a pipe, read
 * back) or, for a bad descriptor, nothing, keeping errno either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                              \
    do {                                                                                       \
        fprintf(stderr, "fmt_fuzz: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                   \
        __builtin_trap();                                                                      \
    } while (0)

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t u64(struct in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

#define GUARD 16
static char buf[300 + GUARD];
static char ref[1 << 16];
static size_t ref_len;

static void ref_add(const char *s, size_t n)
{
    if (ref_len + n > sizeof ref)
        n = sizeof ref - ref_len;
    memcpy(ref + ref_len, s, n);
    ref_len += n;
}

static void check(const struct handle__fmt *f)
{
    size_t want = ref_len < f->cap ? ref_len : f->cap;
    if (f->len != want)
        FAIL("len %zu, want %zu (cap %zu, reference %zu)", f->len, want, f->cap, ref_len);
    if (memcmp(f->buf, ref, want) != 0)
        FAIL("text differs from the reference");
    for (size_t i = f->cap; i < f->cap + GUARD; i++)
        if (buf[i] != (char)0xa5)
            FAIL("written past the capacity at %zu (cap %zu)", i, f->cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    size_t cap = u8(&in) + (size_t)(u8(&in) % 2) * 45; /* 0..300 */
    memset(buf, 0xa5, sizeof buf);
    struct handle__fmt f = {buf, 0, cap};
    ref_len = 0;
    char tmp[64];
    while (in.n) {
        uint8_t op = u8(&in);
        switch (op % 7) {
        case 0: { /* str: a NUL-terminated run of the input, or NULL */
            if (op & 0x80) {
                handle__fmt_str(&f, NULL);
                ref_add("(null)", 6);
                break;
            }
            size_t n = u8(&in) % 64;
            if (n > in.n)
                n = in.n;
            char s[65];
            memcpy(s, in.p, n);
            s[n] = '\0';
            in.p += n;
            in.n -= n;
            handle__fmt_str(&f, s);
            ref_add(s, strlen(s));
            break;
        }
        case 1: { /* mem: bytes as they are, NULs included */
            size_t n = u8(&in) % 64;
            if (n > in.n)
                n = in.n;
            handle__fmt_mem(&f, (const char *)in.p, n);
            ref_add((const char *)in.p, n);
            in.p += n;
            in.n -= n;
            break;
        }
        case 2: {
            uint64_t v = (op & 0x80) ? u8(&in) : u64(&in);
            handle__fmt_dec(&f, v);
            ref_add(tmp, (size_t)snprintf(tmp, sizeof tmp, "%" PRIu64, v));
            break;
        }
        case 3: {
            int64_t v = (op & 0x80) ? (int64_t)(int8_t)u8(&in) : (int64_t)u64(&in);
            if ((op & 0x40))
                v = INT64_MIN;
            handle__fmt_sdec(&f, v);
            ref_add(tmp, (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, v));
            break;
        }
        case 4: {
            uint64_t v = (op & 0x80) ? u8(&in) : u64(&in);
            handle__fmt_hex(&f, v);
            ref_add(tmp, (size_t)snprintf(tmp, sizeof tmp, "0x%" PRIx64, v));
            break;
        }
        case 5: { /* flush to a pipe: exactly the text, errno kept */
            check(&f);
            int p[2];
            if (pipe2(p, O_CLOEXEC) != 0)
                break;
            size_t len = f.len;
            char copy[300];
            memcpy(copy, f.buf, len);
            errno = 4321;
            handle__fmt_flush(&f, p[1]);
            if (errno != 4321)
                FAIL("flush changed errno");
            close(p[1]);
            char got[400];
            ssize_t r, n = 0;
            while ((r = read(p[0], got + n, sizeof got - (size_t)n)) > 0)
                n += r;
            close(p[0]);
            if ((size_t)n != len || memcmp(got, copy, len) != 0)
                FAIL("flush wrote %zd bytes, want %zu", n, len);
            if (f.len != 0)
                FAIL("flush left %zu bytes", f.len);
            ref_len = 0;
            break;
        }
        default: /* flush to a descriptor that is not open: nothing, errno kept */
            errno = 1234;
            handle__fmt_flush(&f, -1);
            if (errno != 1234 || f.len != 0)
                FAIL("flush to a bad descriptor: errno %d, len %zu", errno, f.len);
            ref_len = 0;
            break;
        }
        check(&f);
    }
    return 0;
}
