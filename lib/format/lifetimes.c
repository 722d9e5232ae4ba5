/*
 * lifetimes.c - the codec of completed lifetimes (lifetimes.h): decimal
 * printing without stdio, one element per lifetime, and the parser that
 * reads exactly what the printer writes.
 */
#include "lifetimes.h"

#include "trace_format.h"

#include <stdlib.h>
#include <string.h>

/* The encoder writes the fields in the order of their positions. */
_Static_assert(HANDLE__LT_D == 0 && HANDLE__LT_DUR == 1 && HANDLE__LT_IDX == 2 &&
                   HANDLE__LT_GEN == 3 && HANDLE__LT_TAG == 4 && HANDLE__LT_CTHR == 5 &&
                   HANDLE__LT_CSTK == 6 && HANDLE__LT_DSTK == 7 && HANDLE__LT_DTHR == 8 &&
                   HANDLE__LT_MIN == 8 && HANDLE__LT_MAX == 9,
               "handle__chunk_add writes d, dur, idx, gen, tag, cthr, cstk, dstk(, dthr)");

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

/* ---- the slots of HANDLE__TRACE_LAYOUT -------------------------------------- */

void handle__wslot_encode(const struct handle__lifetime *l, struct handle__wslot *s)
{
    s->v[HANDLE__RF_H] = (int64_t)l->h;
    s->v[HANDLE__RF_C] = (int64_t)l->created_ns;
    s->v[HANDLE__RF_D] = (int64_t)(l->deleted_ns - l->created_ns);
    s->v[HANDLE__RF_S] = (int64_t)((uint64_t)l->created_thread << 32 | l->created_stack);
    if (l->deleted_thread == HANDLE__CODEC_NO_THREAD)
        s->v[HANDLE__RF_E] = 0;
    else if (l->deleted_thread == l->created_thread)
        s->v[HANDLE__RF_E] = l->deleted_stack;
    else
        s->v[HANDLE__RF_E] = (int64_t)(((uint64_t)l->deleted_thread + 1) << 32 | l->deleted_stack);
    s->v[HANDLE__RF_T] = l->tag;
    s->null[HANDLE__RF_H] = s->null[HANDLE__RF_C] = s->null[HANDLE__RF_D] = false;
    s->null[HANDLE__RF_S] = false;
    s->null[HANDLE__RF_E] = l->deleted_thread == HANDLE__CODEC_NO_THREAD;
    s->null[HANDLE__RF_T] = l->tag == 0;
}

bool handle__wslot_decode(const struct handle__wslot *s, struct handle__lifetime *l)
{
    if (s->null[HANDLE__RF_C] || s->null[HANDLE__RF_D] || s->null[HANDLE__RF_S] ||
        (!s->null[HANDLE__RF_T] && (s->v[HANDLE__RF_T] < 0 || s->v[HANDLE__RF_T] > UINT32_MAX)))
        return false;
    int64_t deleted;
    if (__builtin_add_overflow(s->v[HANDLE__RF_C], s->v[HANDLE__RF_D], &deleted))
        return false; /* SQLite's c + d would be a float */
    uint64_t sv = (uint64_t)s->v[HANDLE__RF_S];
    l->h = (uint64_t)s->v[HANDLE__RF_H];
    l->created_ns = (uint64_t)s->v[HANDLE__RF_C];
    l->deleted_ns = (uint64_t)deleted;
    l->created_thread = (uint32_t)(sv >> 32);
    l->created_stack = (uint32_t)sv;
    if (s->null[HANDLE__RF_E]) {
        l->deleted_thread = HANDLE__CODEC_NO_THREAD;
        l->deleted_stack = 0;
    } else {
        uint64_t ev = (uint64_t)s->v[HANDLE__RF_E];
        uint32_t hi = (uint32_t)(ev >> 32);
        l->deleted_thread = hi == 0 ? l->created_thread : hi - 1;
        l->deleted_stack = (uint32_t)ev;
    }
    l->tag = s->null[HANDLE__RF_T] ? 0 : (uint32_t)s->v[HANDLE__RF_T];
    return true;
}

/* ---- decoding ------------------------------------------------------------ */

/* Parses a JSON integer at *pp: optional '-', 1-19 digits, no leading
 * zero before another digit; fits int64. */
static bool get_i64(const char **pp, const char *end, int64_t *out)
{
    const char *p = *pp;
    bool neg = p < end && *p == '-';
    if (neg)
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return false;
    if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
        return false; /* JSON has no leading zeros */
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 19)
            return false;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    *pp = p;
    return true;
}

static bool u32_ok(int64_t v)
{
    return v >= 0 && v <= (int64_t)UINT32_MAX;
}

long handle__chunk_decode(const char *data, size_t len, int64_t base, int64_t skip,
                          handle__lifetime_fn fn, void *ctx)
{
    const char *p = data, *end = data + len;
    long n = 0;
    if (data == NULL || p >= end || *p++ != '[')
        return -1;
    if (p < end && *p == ']')
        return p + 1 == end ? 0 : -1;
    for (;;) {
        if (p >= end || *p++ != '[')
            return -1;
        int64_t v[HANDLE__LT_MAX];
        int k = 0;
        for (;;) {
            if (k == HANDLE__LT_MAX || !get_i64(&p, end, &v[k++]))
                return -1;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            return -1;
        }
        if (k < HANDLE__LT_MIN)
            return -1;
        if (!u32_ok(v[HANDLE__LT_IDX]) || !u32_ok(v[HANDLE__LT_GEN]) || !u32_ok(v[HANDLE__LT_TAG]) ||
            !u32_ok(v[HANDLE__LT_CTHR]) || !u32_ok(v[HANDLE__LT_CSTK]) || !u32_ok(v[HANDLE__LT_DSTK]))
            return -1;
        int64_t dthr = k > HANDLE__LT_DTHR ? v[HANDLE__LT_DTHR] : v[HANDLE__LT_CTHR];
        if (dthr != -1 && !u32_ok(dthr))
            return -1;
        if (n >= skip && fn) {
            struct handle__lifetime l;
            l.h = (uint64_t)v[HANDLE__LT_GEN] << 32 | (uint64_t)v[HANDLE__LT_IDX];
            l.deleted_ns = (uint64_t)base + (uint64_t)v[HANDLE__LT_D];
            l.created_ns = l.deleted_ns - (uint64_t)v[HANDLE__LT_DUR];
            l.tag = (uint32_t)v[HANDLE__LT_TAG];
            l.created_thread = (uint32_t)v[HANDLE__LT_CTHR];
            l.created_stack = (uint32_t)v[HANDLE__LT_CSTK];
            l.deleted_stack = (uint32_t)v[HANDLE__LT_DSTK];
            l.deleted_thread = dthr == -1 ? HANDLE__CODEC_NO_THREAD : (uint32_t)dthr;
            if (!fn(ctx, &l))
                return -2;
        }
        n++;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == ']' && p + 1 == end)
            return n;
        return -1;
    }
}
