/*
 * demangle.c - see demangle.h.
 */
#include "demangle.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef char *cxa_demangle_fn(const char *mangled, char *buf, size_t *len, int *status);

static cxa_demangle_fn *cxa_demangle;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    /* A C++ host has it already (RTLD_NOLOAD takes that copy without
     * loading anything); otherwise it is loaded, RTLD_LOCAL. Never
     * dlclose'd: reports run at exit, in an order the host controls. */
    void *lib = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (lib == NULL)
        lib = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return;
    void *sym = dlsym(lib, "__cxa_demangle");
    memcpy(&cxa_demangle, &sym, sizeof sym);
}

char *handle__demangle(const char *name)
{
    /* Itanium ABI names start with _Z (a few extra underscores on some
     * platforms); block names, clones (".cold", ".isra.0") are handled by
     * __cxa_demangle itself. */
    if (name == NULL || strncmp(name, "_Z", 2) != 0)
        return NULL;
    pthread_once(&once, load);
    if (cxa_demangle == NULL)
        return NULL;
    int status = -1;
    char *out = cxa_demangle(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

size_t handle__fn_base_len(const char *fn)
{
    size_t n = strlen(fn);
    /* The parameter list is the last balanced "(...)" group; what follows
     * it (" const", " &&", " [clone .cold]") goes too. Scan back from the
     * last ')'. */
    size_t close = n;
    while (close > 0 && fn[close - 1] != ')')
        close--;
    if (close == 0)
        return n;
    /* " [clone .isra.0]" style suffixes hold no ')' but may follow. */
    int depth = 0;
    for (size_t i = close; i-- > 0;) {
        if (fn[i] == ')')
            depth++;
        else if (fn[i] == '(' && --depth == 0) {
            /* "(anonymous namespace)" and the like are not a parameter
             * list when nothing precedes them in the name. */
            return i > 0 ? i : n;
        }
    }
    return n;
}
