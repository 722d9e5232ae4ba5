/*
 * leak.c - leaks handles from two sites (two tagged "session" handles from
 * open_session, one untagged from open_plain), deletes one more in an
 * atexit handler and one in a global destructor (neither may be reported),
 * and leaves buffered stdout behind that must not be lost.
 * argv[1] == "clean" deletes everything instead; "exit7" ends with exit(7).
 */
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int objs[8];
static handle_t in_atexit, in_dtor;

__attribute__((noinline)) static handle_t open_session(int i)
{
    return handle_new_tagged(&objs[i], "session"); /* LINE_SESSION */
}

__attribute__((noinline)) static handle_t open_plain(void)
{
    return handle_new(&objs[7]); /* LINE_PLAIN */
}

static void cleanup_atexit(void)
{
    handle_delete(in_atexit);
}

__attribute__((destructor)) static void cleanup_dtor(void)
{
    if (in_dtor)
        handle_delete(in_dtor);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    handle_t s[2];
    volatile int n = 2; /* a real loop: one call site, one creation stack */
    for (int i = 0; i < n; i++)
        s[i] = open_session(i);
    handle_t a = s[0], b = s[1];
    handle_t c = open_plain();
    in_atexit = handle_new(&objs[2]);
    in_dtor = handle_new(&objs[3]);
    atexit(cleanup_atexit);
    printf("buffered output that must not be lost"); /* no newline, stdout is a pipe */
    if (strcmp(mode, "clean") == 0) {
        handle_delete(a);
        handle_delete(b);
        handle_delete(c);
    }
    if (strcmp(mode, "exit7") == 0)
        exit(7);
    return 0;
}
