/*
 * rt.c - rare paths of the debug runtime, one mode per argv[1]:
 *
 *   reentrant [misuse]  the program's own malloc/calloc/realloc make (and deletes) a
 *                       handle whenever the main thread allocates, so the
 *                       runtime's own allocations (trace set-up, SQLite,
 *                       the symbolizer) re-enter handle_new/handle_delete.
 *                       Prints "reentrant=N" (handles made from malloc, one
 *                       of them kept live). "misuse": the first re-entered
 *                       call deletes a handle never issued.
 *   jit [misuse]        handle_new called from code in an anonymous
 *                       PROT_EXEC mapping (no module): one handle leaked
 *                       from there, or ("misuse") a never-issued handle
 *                       deleted from there. Prints "jit=ADDR" (unbuffered).
 *   ooh                 RLIMIT_AS just above the current size, then
 *                       handle_new until the handle table cannot grow (its
 *                       second chunk is 1.5 MiB): out-of-handles. Prints
 *                       "made=N" before each handle past 65500.
 *   dlmany DIR N        N copies of libplugin.so (DIR/p0.so ...) loaded at
 *                       once, a handle leaked from each, the odd ones
 *                       unloaded before exit.
 */

#include <dlfcn.h>
#include <handle/handle.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- reentrant ----------------------------------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
static pthread_t main_thread;
static volatile bool armed, misuse_in_hook;
static __thread bool in_hook;
static unsigned reentered;
static handle_t kept;
static int hook_obj;

static void hook(void)
{
    if (armed && !in_hook && pthread_equal(pthread_self(), main_thread)) {
        in_hook = true;
        if (misuse_in_hook) {
            misuse_in_hook = false;
            handle_delete((handle_t)0x5555000000000077ull); /* LINE_HOOK_MISUSE */
        }
        handle_t h = handle_new_tagged(&hook_obj, "from malloc");
        if (h != 0 && handle_value(h) == &hook_obj) {
            reentered++;
            if (kept == 0)
                kept = h;
            else
                handle_delete(h);
        }
        in_hook = false;
    }
}

__attribute__((visibility("default"))) void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    hook();
    return p;
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t m)
{
    void *p = __libc_calloc(n, m);
    hook();
    return p;
}

__attribute__((visibility("default"))) void *realloc(void *q, size_t n)
{
    void *p = __libc_realloc(q, n);
    hook();
    return p;
}

static int reentrant_main(int argc, char **argv)
{
    static int x;
    main_thread = pthread_self();
    misuse_in_hook = argc > 2 && strcmp(argv[2], "misuse") == 0;
    armed = true;
    handle_t h = handle_new_tagged(&x, "outer");
    void *v = handle_value(h);
    handle_delete(h);
    armed = false;
    printf("reentrant=%u value_ok=%d live=%zu\n", reentered, v == &x, handle_live_count());
    return 0;
}

/* ---- jit ------------------------------------------------------------------- */

static int jit_obj;
static bool jit_misuse;

__attribute__((noinline)) static void from_jit(void)
{
    if (jit_misuse)
        handle_delete((handle_t)0x6666000000000042ull);
    else
        handle_new_tagged(&jit_obj, "jit");
}

static int jit_main(int argc, char **argv)
{
    jit_misuse = argc > 2 && strcmp(argv[2], "misuse") == 0;
#if defined(__x86_64__)
    /* push rbp; mov rbp, rsp; call *rdi; pop rbp; ret */
    static const unsigned char code[] = {0x55, 0x48, 0x89, 0xe5, 0xff, 0xd7, 0x5d, 0xc3};
#elif defined(__aarch64__)
    /* stp x29, x30, [sp, #-16]!; mov x29, sp; blr x0; ldp x29, x30, [sp], #16; ret */
    static const uint32_t code[] = {0xa9bf7bfd, 0x910003fd, 0xd63f0000, 0xa8c17bfd, 0xd65f03c0};
#else
#error "rt.c jit: x86-64 or AArch64 only"
#endif
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 2;
    memcpy(m, code, sizeof code);
    __builtin___clear_cache((char *)m, (char *)m + sizeof code);
    if (mprotect(m, 4096, PROT_READ | PROT_EXEC) != 0)
        return 2;
    char line[64];
    int n = snprintf(line, sizeof line, "jit=%p\n", m);
    if (write(STDOUT_FILENO, line, (size_t)n) != n)
        return 2;
    void (*fn)(void (*)(void)) = (void (*)(void (*)(void)))(uintptr_t)m;
    fn(from_jit);
    return 0;
}

/* ---- ooh ------------------------------------------------------------------- */

static long vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

static int ooh_main(void)
{
    static int x;
    /* The first chunk (and the debug side table's) while memory is there. */
    handle_delete(handle_new(&x));
    struct rlimit r = {(rlim_t)vm_bytes() + (1u << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &r) != 0)
        return 2;
    for (unsigned long i = 2;; i++) {
        if (i > 65500) {
            char line[32];
            int n = snprintf(line, sizeof line, "made=%lu\n", i - 1);
            if (write(STDOUT_FILENO, line, (size_t)n) != n)
                return 2;
        }
        if (handle_new(&x) == 0)
            return 3; /* never: out-of-handles is a panic */
        if (i > 1000000)
            return 4;
    }
}

/* ---- dlmany -------------------------------------------------------------- */

/* DIR/p0.so .. DIR/p<N-1>.so: copies of libplugin.so, all loaded at once
 * (more modules than the runtime's first scan array and module page
 * hold), one handle leaked from each, then the odd ones unloaded. */
static int dlmany_main(int argc, char **argv)
{
    int n = argc > 3 ? atoi(argv[3]) : 0;
    void **libs = calloc((size_t)n, sizeof *libs);
    if (!libs)
        return 2;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/p%d.so", argv[2], i);
        libs[i] = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!libs[i]) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 2;
        }
        handle_t (*leak)(void) = (handle_t(*)(void))(uintptr_t)dlsym(libs[i], "plugin_leak");
        if (!leak || leak() == 0)
            return 2;
    }
    for (int i = 1; i < n; i += 2)
        dlclose(libs[i]);
    free(libs);
    printf("plugins=%d live=%zu\n", n, handle_live_count());
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "reentrant") == 0)
        return reentrant_main(argc, argv);
    if (strcmp(mode, "jit") == 0)
        return jit_main(argc, argv);
    if (strcmp(mode, "ooh") == 0)
        return ooh_main();
    if (strcmp(mode, "dlmany") == 0 && argc > 3)
        return dlmany_main(argc, argv);
    fprintf(stderr, "usage: rt reentrant|jit [misuse] | ooh | dlmany DIR N\n");
    return 2;
}
