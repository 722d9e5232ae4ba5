/*
 * setuid_prog.c - for the setuid case of tests/faults/run.sh: linked
 * directly against libhandle-debug.so (LD_PRELOAD is not honoured for a
 * setuid program), run setuid root by an unprivileged user, so that the
 * kernel sets AT_SECURE. The runtime must then ignore HANDLE_OPTIONS
 * (secure_getenv). Its own defaults ask for no trace, so any trace file
 * or help text seen comes from the environment. Prints "AT_SECURE=N".
 */
#include <handle/handle.h>
#include <stdio.h>
#include <sys/auxv.h>

const char *__handle_default_options(void);
const char *__handle_default_options(void)
{
    return "trace=";
}

int main(void)
{
    static int x;
    handle_delete(handle_new(&x));
    printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
    return 0;
}
