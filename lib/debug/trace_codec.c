/*
 * trace_codec.c - the compact JSON encoding of completed lifetimes
 * (trace_codec.h): decimal printing without stdio, one element per
 * lifetime.
 */
#include "trace_codec.h"

#include <stdlib.h>
#include <string.h>

/* Longest encoded lifetime: 9 numbers of <= 20 characters, 9 separators,
 * 2 brackets. */
#define ELEM_MAX 200u

static const char digits2[201] = "00010203040506070809101112131415161718192021222324"
                                 "25262728293031323334353637383940414243444546474849"
                                 "50515253545556575859606162636465666768697071727374"
                                 "75767778798081828384858687888990919293949596979899";

/* Writes v in decimal at p; returns the end. */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *e = tmp + sizeof tmp, *q = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digits2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    memcpy(p, q, (size_t)(e - q));
    return p + (e - q);
}

/* Writes signed v in decimal at p; returns the end. */
static inline char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

bool handle__chunk_init(struct handle__chunk *c)
{
    c->buf = malloc((size_t)HANDLE__CODEC_CHUNK_MAX * ELEM_MAX + 2);
    c->len = 0;
    c->n = 0;
    c->base = 0;
    return c->buf != NULL;
}

void handle__chunk_free(struct handle__chunk *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = 0;
    c->n = 0;
}

bool handle__chunk_add(struct handle__chunk *c, const struct handle__lifetime *l)
{
    char *p = c->buf + c->len;
    if (c->n == 0) {
        c->base = l->deleted_ns;
        *p++ = '[';
    } else {
        *p++ = ',';
    }
    *p++ = '[';
    p = put_i64(p, (int64_t)(l->deleted_ns - c->base));
    *p++ = ',';
    p = put_i64(p, (int64_t)(l->deleted_ns - l->created_ns));
    *p++ = ',';
    p = put_u64(p, (uint32_t)l->h);
    *p++ = ',';
    p = put_u64(p, l->h >> 32);
    *p++ = ',';
    p = put_u64(p, l->tag);
    *p++ = ',';
    p = put_u64(p, l->created_thread);
    *p++ = ',';
    p = put_u64(p, l->created_stack);
    *p++ = ',';
    p = put_u64(p, l->deleted_stack);
    if (l->deleted_thread == HANDLE__CODEC_NO_THREAD) {
        memcpy(p, ",-1", 3);
        p += 3;
    } else if (l->deleted_thread != l->created_thread) {
        *p++ = ',';
        p = put_u64(p, l->deleted_thread);
    }
    *p++ = ']';
    c->len = (size_t)(p - c->buf);
    return ++c->n == HANDLE__CODEC_CHUNK_MAX;
}

const char *handle__chunk_text(struct handle__chunk *c, size_t *len)
{
    c->buf[c->len] = ']';
    *len = c->len + 1;
    return c->buf;
}

void handle__chunk_clear(struct handle__chunk *c)
{
    c->n = 0;
    c->len = 0;
}
