/*
 * sort.c - linear-time sorts for handle-report's statistics (sort.h).
 *
 * --stats sorts every lifetime's creation time, deletion time and length
 * (percentiles and peak live handles per site). qsort with a comparison
 * callback took half of `handle-report --stats` on a 1M-lifetime trace;
 * a radix sort of the 64-bit keys does the same in a few passes. Creation
 * and deletion times arrive nearly in order and their high bytes are all
 * alike, so most passes are skipped.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sort.h"

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool sorted(const uint64_t *a, size_t n, uint64_t flip)
{
    for (size_t i = 1; i < n; i++)
        if ((a[i] ^ flip) < (a[i - 1] ^ flip))
            return false;
    return true;
}

/* Sorts the keys a[i] ^ flip (flip: the sign bit for signed keys), moving
 * the a[i] themselves. */
static void radix(uint64_t *a, size_t n, uint64_t flip)
{
    if (n < 2)
        return;
    if (sorted(a, n, flip))
        return;
    if (n < 64) {
        /* Insertion sort; for signed keys compare the flipped values. */
        for (size_t i = 1; i < n; i++) {
            uint64_t v = a[i];
            size_t j = i;
            while (j > 0 && (a[j - 1] ^ flip) > (v ^ flip)) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
        return;
    }
    uint64_t *tmp = malloc(n * sizeof *tmp);
    if (tmp == NULL) {
        if (flip == 0)
            qsort(a, n, sizeof *a, u64_cmp);
        else {
            for (size_t i = 0; i < n; i++)
                a[i] ^= flip;
            qsort(a, n, sizeof *a, u64_cmp);
            for (size_t i = 0; i < n; i++)
                a[i] ^= flip;
        }
        return;
    }
    /* One histogram per byte, counted in a single pass. */
    static size_t count[8][256]; /* handle-report is single-threaded */
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i] ^ flip;
        for (int b = 0; b < 8; b++)
            count[b][(k >> (8 * b)) & 0xff]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        size_t *c = count[b];
        if (c[((src[0] ^ flip) >> (8 * b)) & 0xff] == n)
            continue; /* every key has this byte: nothing to do */
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[((src[i] ^ flip) >> (8 * b)) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(tmp);
}

void handle__sort_u64(uint64_t *a, size_t n)
{
    radix(a, n, 0);
}

void handle__sort_i64(int64_t *a, size_t n)
{
    /* Two's complement with the sign bit flipped orders as unsigned. */
    radix((uint64_t *)(void *)a, n, (uint64_t)1 << 63);
}
