/*
 * ffi_host.c - an FFI host (think Python's ctypes) that is not linked
 * against libhandle: it dlopens the library given as argv[1] at run time,
 * from several threads, which works only because the library keeps its
 * thread-local state to one initial-exec pointer.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

typedef uintptr_t (*new_fn)(void *);
typedef void *(*value_fn)(uintptr_t);
typedef void (*delete_fn)(uintptr_t);
static new_fn hnew;
static value_fn hvalue;
static delete_fn hdelete;
static int ok = 1;

static void *worker(void *arg)
{
    for (int i = 0; i < 10000; i++) {
        uintptr_t h = hnew(arg);
        if (h == 0 || hvalue(h) != arg)
            ok = 0;
        hdelete(h);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    hnew = (new_fn)(uintptr_t)dlsym(lib, "handle_new");
    hvalue = (value_fn)(uintptr_t)dlsym(lib, "handle_value");
    hdelete = (delete_fn)(uintptr_t)dlsym(lib, "handle_delete");
    if (!hnew || !hvalue || !hdelete)
        return 1;
    pthread_t t[4];
    int v[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, &v[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("ffi ok=%d\n", ok);
    return ok ? 0 : 1;
}
