/*
 * main.c - a consumer of the installed release library: built by
 * scripts/test.sh against an installed prefix, once through CMake's
 * find_package(handle) and once through pkg-config, to prove that the
 * installed header, libraries and package files work for a program outside
 * this source tree. It exercises the seven public calls and prints
 * "install-consumer: ok" and exits 0 when all behave as handle.h says.
 */
#include <handle/handle.h>

#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "install-consumer: check failed: %s (line %d)\n", #cond, \
                    __LINE__);                                                      \
            return 1;                                                               \
        }                                                                           \
    } while (0)

int main(void)
{
    static int conn;
    char tag[] = "struct conn";
    size_t base = handle_live_count();

    handle_t h = handle_new(&conn);
    handle_t t = handle_new_tagged(&conn, "struct conn");
    CHECK(h != 0 && t != 0 && h != t);
    CHECK(handle_value(h) == &conn);
    CHECK(handle_value_tagged(t, tag) == &conn); /* tags compare by content */
    CHECK(handle_live_count() == base + 2);

    void *v = NULL;
    CHECK(handle_lookup(h, &v) && v == &conn);
    handle_delete(h);
    CHECK(!handle_lookup(h, &v));
    CHECK(!handle_lookup(0, NULL));
    handle_delete(t);
    CHECK(handle_live_count() == base);

    printf("install-consumer: ok\n");
    return 0;
}
