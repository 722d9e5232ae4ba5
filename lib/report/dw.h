/*
 * dw.h - the libdw/libdwfl functions the symbolizer uses, as one table of
 * function pointers, so that the same symbolizer code serves two users:
 *
 *  - libhandle-debug.so, preloaded into someone else's process, must not
 *    have a DT_NEEDED on libdw or libelf: their symbols would join the
 *    host's global scope and could interpose on (or be interposed by) the
 *    host's own copy. Built with HANDLE_DW_DLOPEN, the table is filled by
 *    dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL) and dlsym, and only when a
 *    report is printed; if libdw is not installed the reports still work,
 *    with module+offset frames.
 *  - handle-report, an ordinary executable linked with -ldw: the table holds
 *    the functions' addresses.
 *
 * Only libdw's headers are used at compile time, and every field has the
 * exact type of the function it stands for (__typeof__), so a prototype
 * change in libdw is a compile error, not a silent ABI mismatch. This file
 * does not symbolize anything; see symbolize.h.
 */
#ifndef HANDLE_REPORT_DW_H
#define HANDLE_REPORT_DW_H

#include <stdbool.h>
#include <stddef.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

/* Every libdw function the symbolizer calls. Adding a call means adding it
 * here; nothing else in lib/report names a libdw function directly. */
#define HANDLE__DW_FUNCS(X)       \
    X(dwfl_begin)                 \
    X(dwfl_end)                   \
    X(dwfl_errno)                 \
    X(dwfl_errmsg)                \
    X(dwfl_report_begin)          \
    X(dwfl_report_elf)            \
    X(dwfl_report_end)            \
    X(dwfl_addrmodule)            \
    X(dwfl_module_build_id)       \
    X(dwfl_module_addrinfo)       \
    X(dwfl_module_getsrc)         \
    X(dwfl_lineinfo)              \
    X(dwfl_module_addrdie)        \
    X(dwfl_module_nextcu)         \
    X(dwfl_build_id_find_elf)     \
    X(dwfl_standard_find_debuginfo) \
    X(dwfl_build_id_find_debuginfo) \
    X(dwarf_getscopes)            \
    X(dwarf_getscopes_die)        \
    X(dwarf_tag)                  \
    X(dwarf_attr)                 \
    X(dwarf_attr_integrate)       \
    X(dwarf_formudata)            \
    X(dwarf_formstring)           \
    X(dwarf_formref_die)          \
    X(dwarf_diename)              \
    X(dwarf_diecu)                \
    X(dwarf_getsrcfiles)          \
    X(dwarf_filesrc)              \
    X(dwarf_ranges)               \
    X(dwarf_getsrc_die)           \
    X(dwarf_linesrc)              \
    X(dwarf_lineno)               \
    X(dwarf_linecol)

struct handle__dw {
#define HANDLE__DW_FIELD(name) __typeof__(&name) name;
    HANDLE__DW_FUNCS(HANDLE__DW_FIELD)
#undef HANDLE__DW_FIELD
    /* Callbacks for dwfl_begin, eu-stack's choice: the main file found by
     * build-id if it has to be searched for, separate debug files through
     * .gnu_debuglink and /usr/lib/debug/.build-id. They point into the
     * table (the dlsym'd functions), so they cannot be a static const. */
    Dwfl_Callbacks callbacks;
    char *debuginfo_path;          /* NULL: libdwfl's default search path */
};

/* Fills the table once (thread-safe, pthread_once); later calls return the
 * first call's answer. False if libdw cannot be loaded (only possible with
 * HANDLE_DW_DLOPEN); then a one-line reason is written into err (if len >
 * 0) and the table must not be used. Never unloads libdw: reports run at
 * exit, in an order the host program controls. */
HANDLE__HIDDEN bool handle__dw_load(char *err, size_t len);

/* The table after a successful handle__dw_load(), else NULL. */
HANDLE__HIDDEN const struct handle__dw *handle__dw_get(void);

#endif
