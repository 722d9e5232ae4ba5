/*
 * sites.c - a program linked against libhandle.so that makes handles from
 * many distinct creation sites, for handle-report's tests and benchmark
 * under LD_PRELOAD=libhandle-debug.so (real traces, the real writer's
 * layout):
 *
 *     sites LIFETIMES LEAKED SITES [WINDOW]
 *
 * makes LIFETIMES handles round-robin over SITES sites (at most 1000:
 * site s is the call chain a<s/100> -> b<s/10%10> -> c<s%10>, so every
 * site has its own sequence of function names), keeps WINDOW (default
 * 64) live at a time so lifetimes overlap, and leaves the last LEAKED
 * handles live at exit. Odd sites tag their handles "sites".
 */
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>

static int obj;

#define NOINLINE __attribute__((noinline))

typedef handle_t level_fn(int s);

/* Level c: the call into the library. */
#define C_FN(n)                                                                                    \
    NOINLINE static handle_t c##n(int s)                                                           \
    {                                                                                              \
        handle_t h = s % 2 ? handle_new_tagged(&obj, "sites") : handle_new(&obj);                  \
        __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */                     \
        return h;                                                                                  \
    }
C_FN(0) C_FN(1) C_FN(2) C_FN(3) C_FN(4) C_FN(5) C_FN(6) C_FN(7) C_FN(8) C_FN(9)
static level_fn *const cs[10] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9};

#define B_FN(n)                                                                                    \
    NOINLINE static handle_t b##n(int s)                                                           \
    {                                                                                              \
        handle_t h = cs[s % 10](s);                                                                \
        __asm__ volatile("" ::: "memory");                                                         \
        return h;                                                                                  \
    }
B_FN(0) B_FN(1) B_FN(2) B_FN(3) B_FN(4) B_FN(5) B_FN(6) B_FN(7) B_FN(8) B_FN(9)
static level_fn *const bs[10] = {b0, b1, b2, b3, b4, b5, b6, b7, b8, b9};

#define A_FN(n)                                                                                    \
    NOINLINE static handle_t a##n(int s)                                                           \
    {                                                                                              \
        handle_t h = bs[s / 10 % 10](s);                                                           \
        __asm__ volatile("" ::: "memory");                                                         \
        return h;                                                                                  \
    }
A_FN(0) A_FN(1) A_FN(2) A_FN(3) A_FN(4) A_FN(5) A_FN(6) A_FN(7) A_FN(8) A_FN(9)
static level_fn *const as[10] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9};

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: sites LIFETIMES LEAKED SITES [WINDOW]\n");
        return 2;
    }
    long n = atol(argv[1]), leaked = atol(argv[2]), sites = atol(argv[3]);
    long window = argc > 4 ? atol(argv[4]) : 64;
    if (sites < 1 || sites > 1000 || window < 1 || leaked < 0 || leaked > n) {
        fprintf(stderr, "sites: bad arguments\n");
        return 2;
    }
    handle_t *ring = calloc((size_t)window, sizeof *ring);
    if (ring == NULL)
        return 1;
    long completed = n - leaked;
    for (long i = 0; i < n; i++) {
        int s = (int)(i % sites);
        handle_t h = as[s / 100 % 10](s);
        if (i >= completed)
            continue; /* leaked */
        long slot = i % window;
        if (ring[slot])
            handle_delete(ring[slot]);
        ring[slot] = h;
    }
    for (long k = 0; k < window; k++)
        if (ring[k])
            handle_delete(ring[k]);
    free(ring);
    return 0;
}
