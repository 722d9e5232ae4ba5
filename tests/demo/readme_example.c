/*
 * readme_example.c - the README's API tour, compiled and run by the tests
 * so that it cannot rot. A C library with a callback API that only carries
 * `void *user_data` (like qsort_r, libuv or a GUI toolkit), and a caller
 * that must hand it a Go-style handle instead of a raw pointer.
 */
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>

/* --- a library that knows nothing about handles --------------------- */
typedef void (*visit_fn)(int item, void *user_data);

static void for_each_item(const int *items, int n, visit_fn fn, void *user_data)
{
    for (int i = 0; i < n; i++)
        fn(items[i], user_data);
}

/* --- the application ------------------------------------------------- */
struct totals {
    long sum;
    int count;
};

static void add_item(int item, void *user_data)
{
    /* Turn the integer back into the value; a stale or forged handle
     * panics here instead of corrupting memory. */
    struct totals *t = handle_value_tagged((handle_t)user_data, "struct totals");
    t->sum += item;
    t->count++;
}

int main(void)
{
    static const int items[] = {3, 1, 4, 1, 5, 9, 2, 6};
    struct totals *t = calloc(1, sizeof *t);

    handle_t h = handle_new_tagged(t, "struct totals"); /* never 0 */
    for_each_item(items, 8, add_item, (void *)h);
    handle_delete(h); /* h is refused from now on */

    void *v;
    printf("sum=%ld count=%d live=%zu stale-lookup=%s\n", t->sum, t->count,
           handle_live_count(), handle_lookup(h, &v) ? "found" : "refused");
    free(t);
    return 0;
}
