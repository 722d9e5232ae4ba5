/*
 * symbols.c - prints where the symbols a host program may use resolve, so
 * the tests can check that preloading libhandle-debug.so changes none of
 * them (its libunwind, libdw and SQLite stay out of the host's scope), and
 * makes one handle so the runtime is fully started.
 */
#include <dlfcn.h>
#include <handle/handle.h>
#include <stdio.h>

int main(void)
{
    static const char *names[] = {"backtrace", "_Unwind_RaiseException", "_Unwind_Backtrace",
                                  "unw_backtrace", "sqlite3_open", "sqlite3_libversion",
                                  "dwfl_begin", "dwarf_begin", "elf_begin"};
    int x;
    handle_t h = handle_new(&x);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *p = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info di = {0};
        if (p)
            dladdr(p, &di);
        printf("%s %s\n", names[i], p ? (di.dli_fname ? di.dli_fname : "?") : "none");
    }
    handle_delete(h);
    return 0;
}
