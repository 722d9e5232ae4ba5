/* test_sort.c - lib/report/sort.c against qsort. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "report/sort.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int u_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int i_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

enum shape { RANDOM, SORTED, REVERSED, CONSTANT, NEARLY, NARROW };

static void fill(uint64_t *a, size_t n, enum shape s)
{
    for (size_t i = 0; i < n; i++) {
        switch (s) {
        case RANDOM: a[i] = next(); break;
        case SORTED: a[i] = i * 1000 + 7; break;
        case REVERSED: a[i] = (n - i) * 3; break;
        case CONSTANT: a[i] = 42; break;
        case NEARLY: a[i] = 1000000000ull + i * 500 + next() % 2000; break; /* creation times */
        case NARROW: a[i] = next() % 300; break;
        }
    }
}

static void test_unsigned_against_qsort(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 63, 64, 65, 1000, 100000};
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        size_t n = sizes[z];
        uint64_t *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b);
        assert_non_null(a);
        assert_non_null(b);
        for (int s = RANDOM; s <= NARROW; s++) {
            fill(a, n, (enum shape)s);
            memcpy(b, a, n * sizeof *a);
            handle__sort_u64(a, n);
            qsort(b, n, sizeof *b, u_cmp);
            assert_memory_equal(a, b, n * sizeof *a + (n == 0));
        }
        free(a);
        free(b);
    }
}

static void test_signed_against_qsort(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 50, 64, 1000, 100000};
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        size_t n = sizes[z];
        int64_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        assert_non_null(a);
        assert_non_null(b);
        for (int s = 0; s < 3; s++) {
            for (size_t i = 0; i < n; i++) {
                uint64_t r = next();
                a[i] = s == 0 ? (int64_t)r                      /* full range */
                       : s == 1 ? (int64_t)(r % 2001) - 1000    /* around zero */
                                : INT64_MIN + (int64_t)(r % 5); /* the extremes */
            }
            if (n > 2) {
                a[0] = INT64_MAX;
                a[1] = INT64_MIN;
            }
            memcpy(b, a, n * sizeof *a);
            handle__sort_i64(a, n);
            qsort(b, n, sizeof *b, i_cmp);
            assert_memory_equal(a, b, n * sizeof *a);
        }
        free(a);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsigned_against_qsort),
        cmocka_unit_test(test_signed_against_qsort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
