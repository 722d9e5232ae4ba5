/*
 * dw.c - fills the libdw function table of dw.h: with dlopen+dlsym of
 * libdw.so.1 (RTLD_LOCAL) when built with HANDLE_DW_DLOPEN, for the
 * preloaded debug runtime, or with the functions' own addresses for a
 * program linked with -ldw. Loading happens once per process and is never
 * undone. Nothing here calls libdw.
 */
#include "dw.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifdef HANDLE_DW_DLOPEN
#include <dlfcn.h>
#endif

static struct handle__dw dw_table;
static bool dw_ok;
static char dw_err[256];
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;

#ifdef HANDLE_DW_DLOPEN
/* The soname of the libdw ABI the headers describe; libdw keeps it stable
 * with symbol versions, so any libdw.so.1 at least as new as the headers
 * provides every function of the table. */
#define DW_SONAME "libdw.so.1"

static bool dw_fill(void)
{
    /* RTLD_LOCAL: libdw and its libelf stay out of the host's global
     * scope. RTLD_NOW: a missing symbol fails here, not at report time. */
    void *lib = dlopen(DW_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(dw_err, sizeof dw_err, "cannot load %s: %s", DW_SONAME,
                 why ? why : "unknown error");
        return false;
    }
    void *sym;
#define DW_SYM(name)                                                          \
    sym = dlsym(lib, #name);                                              \
    if (!sym) {                                                           \
        snprintf(dw_err, sizeof dw_err, "%s has no symbol %s", DW_SONAME, \
                 #name);                                                  \
        /* Deliberately not dlclose'd: unloading is not worth the risk */ \
        return false;                                                     \
    }                                                                     \
    /* POSIX guarantees object and function pointers convert; memcpy    \
     * says so without a cast the C standard does not define. */         \
    memcpy(&dw_table.name, &sym, sizeof sym);
    HANDLE__DW_FUNCS(DW_SYM)
#undef DW_SYM
    return true;
}
#else
static bool dw_fill(void)
{
#define DW_ADDR(name) dw_table.name = &name;
    HANDLE__DW_FUNCS(DW_ADDR)
#undef DW_ADDR
    return true;
}
#endif

static void dw_init(void)
{
    if (!dw_fill()) {
        memset(&dw_table, 0, sizeof dw_table);
        return;
    }
    dw_table.debuginfo_path = NULL;
    dw_table.callbacks.find_elf = dw_table.dwfl_build_id_find_elf;
    dw_table.callbacks.find_debuginfo = dw_table.dwfl_standard_find_debuginfo;
    dw_table.callbacks.section_address = NULL;
    dw_table.callbacks.debuginfo_path = &dw_table.debuginfo_path;
    dw_ok = true;
}

bool handle__dw_load(char *err, size_t len)
{
    pthread_once(&dw_once, dw_init);
    if (!dw_ok && err && len > 0)
        snprintf(err, len, "%s", dw_err);
    return dw_ok;
}

const struct handle__dw *handle__dw_get(void)
{
    pthread_once(&dw_once, dw_init);
    return dw_ok ? &dw_table : NULL;
}
