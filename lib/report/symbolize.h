/*
 * symbolize.h - turns return addresses recorded in a (possibly other,
 * possibly finished) process into frames: function, source file:line, the
 * chain of inlined calls, module+offset. Shared by the debug runtime's
 * reports at panic/exit (in-process, libdw dlopen'ed) and by handle-report
 * (offline, from a trace's module table), so both print the same frames.
 *
 * It works the way eu-stack does, with libdwfl: each ELF file is reported
 * once with dwfl_report_elf, its separate debug file is found through
 * .gnu_debuglink or /usr/lib/debug/.build-id; the function comes from the
 * DWARF subprogram (else the ELF symbol table), the line from the line
 * table, the inlined callers from dwarf_getscopes. Files are opened lazily,
 * on the first address that needs them, and each ELF file is opened once
 * however many modules (processes, load addresses) map it, because lookups
 * are by ELF address (pc - bias), not by run-time address. Overlapping
 * modules (a library dlclose'd and another mapped at its address) are
 * fine: a pc is looked up in the module its stack recorded.
 *
 * A module whose file has a different build-id than recorded (rebuilt,
 * upgraded) is "changed" and gives module+offset frames only: wrong lines
 * are worse than none. Without libdw everything still works, with
 * module+offset frames only.
 *
 * Not thread-safe: one symbolizer is used by one thread at a time (the
 * caller serializes). It allocates with malloc and never prints.
 */
#ifndef HANDLE_REPORT_SYMBOLIZE_H
#define HANDLE_REPORT_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

struct handle__sym_frame {
    uintptr_t pc;            /* the address as captured (a return address) */
    const char *function;    /* demangled and qualified (C++, as ASan prints it); NULL if unknown */
    const char *file;        /* source file, NULL if unknown */
    int line, column;        /* 0 if unknown */
    const char *module;      /* module path, never NULL ("" if unknown) */
    uintptr_t module_offset; /* pc - module bias (pc itself without a module) */
    bool inlined;            /* this frame was inlined into the next one */
};

/* Room for the frames of one pc that any real program needs; a longer
 * inline chain is cut in the middle (see handle__sym_pc). */
#define HANDLE__SYM_MAX_INLINE 32

struct handle__symbolizer;

/* Flags for handle__sym_new_ex. */
#define HANDLE__SYM_NO_DW 1u /* never load libdw: module+offset frames only */
/* Never ask a debuginfod server (DEBUGINFOD_URLS) for a debug file: for
 * reports printed inside someone else's process at exit, which must not
 * wait on the network. Debug files are then found locally by build-id,
 * and by .gnu_debuglink only when DEBUGINFOD_URLS is unset (libdwfl's
 * link search ends in a debuginfod query that cannot be turned off). */
#define HANDLE__SYM_NO_DEBUGINFOD 2u
/* Ask the DEBUGINFOD_URLS servers for the debug files not found locally
 * (handle-report --debuginfod), within the budget that
 * handle__sym_debuginfod_budget set: one line on stderr before the first
 * query, and no query once the budget is spent. Only for a tool with one
 * thread: it changes the environment (DEBUGINFOD_TIMEOUT, _MAXTIME, _URLS). */
#define HANDLE__SYM_DEBUGINFOD 4u

/* The total seconds all the debuginfod queries of this process may take,
 * and the program name of its stderr lines (HANDLE__SYM_DEBUGINFOD). */
HANDLE__HIDDEN void handle__sym_debuginfod_budget(const char *prog, unsigned seconds);

/* A new symbolizer with no modules. Works without libdw (then frames are
 * module+offset only; handle__sym_error says why). NULL only when out of
 * memory. handle__sym_new() is handle__sym_new_ex(0). */
HANDLE__HIDDEN struct handle__symbolizer *handle__sym_new(void);
HANDLE__HIDDEN struct handle__symbolizer *handle__sym_new_ex(unsigned flags);

/* Why this symbolizer has no libdw ("cannot load libdw.so.1: ..."), or
 * NULL when it has it. Loads libdw if that has not been tried yet. */
HANDLE__HIDDEN const char *handle__sym_error(struct handle__symbolizer *s);
/* Whether libdw crashed under this symbolizer's guard (frames since then
 * are module+offset; handle__sym_error says so). */
HANDLE__HIDDEN bool handle__sym_faulted(const struct handle__symbolizer *s);
/* libdw ends the process with exit(1) when an allocation fails in some
 * places (elfutils 0.188: error(EXIT_FAILURE, ...)). A tool whose status 1
 * means something else calls this once: such an exit then prints
 * "PROG: libdw ended the process while reading debug information (out of
 * memory?)" and ends with status instead. */
HANDLE__HIDDEN void handle__sym_libdw_exit_status(const char *prog, int status);
/* For the debug runtime's reports, inside someone else's process: an
 * exit() from inside a guarded libdw call (libdw's out-of-memory handler)
 * is caught like a crash of libdw and the report goes on (module+offset
 * frames, the Note). Registers an exit handler: call once per report,
 * right before it symbolizes. */
HANDLE__HIDDEN void handle__sym_catch_libdw_exit(void);

/* Where separate debug files are searched, in libdwfl's debuginfo_path
 * syntax: ':'-separated directories; "" is the file's own directory, a
 * relative entry is relative to it (".debug"), an absolute entry is a root
 * searched by build-id (ROOT/.build-id/xx/rest.debug) and by path. A file
 * that is gone is also looked for by build-id under the roots. NULL (the
 * default): ":.debug:/usr/lib/debug". Copied; call it before the first
 * handle__sym_pc. */
HANDLE__HIDDEN void handle__sym_set_debuginfo_path(struct handle__symbolizer *s,
                                                   const char *path);

/* Registers a module as it was mapped in the traced process: id (the
 * caller's, > 0, unique in this symbolizer: a second registration of an id
 * is ignored), path (absolute; other names, "" or "[vdso]" give
 * module+offset frames), build_id (lowercase hex, "" or NULL if unknown:
 * then the file is trusted), bias (dl_iterate_phdr's dlpi_addr: pc - bias
 * is the ELF address), [lo, hi) the mapped range (used only to find a
 * module by address). Nothing is opened until a pc needs the module. The
 * strings are copied. Out of memory: the module stays unknown. */
HANDLE__HIDDEN void handle__sym_add_module(struct handle__symbolizer *s, uint32_t id,
                                           const char *path, const char *build_id,
                                           uintptr_t bias, uintptr_t lo, uintptr_t hi);

/* True if the module's file exists but has another build-id than recorded
 * (its frames are module+offset only). Opens the file if needed. False for
 * an unknown id. */
HANDLE__HIDDEN bool handle__sym_module_changed(struct handle__symbolizer *s, uint32_t id);

/* Why the module gives no symbols, one line ("build-id mismatch: file has
 * X, trace has Y", "file not found", ...), or NULL when it is symbolized
 * (or the id is unknown). Opens the file if needed. The string lives until
 * handle__sym_free. */
HANDLE__HIDDEN const char *handle__sym_module_problem(struct handle__symbolizer *s,
                                                      uint32_t id);

/* Frames the traced process stored for the return address at ELF
 * address offset (pc - bias) of module id (the trace's `symbols` table):
 * f[0..n) inlined frames first, the real function last (pc, module and
 * module_offset are ignored). Used by handle__sym_pc wherever the module's
 * file cannot be (missing, another build-id, unreadable): a trace read
 * after a rebuild or on another machine still symbolizes. Such a module
 * has no problem (handle__sym_module_problem is NULL). Copied; a second
 * registration of an address is ignored; n > HANDLE__SYM_MAX_INLINE is
 * refused. Register the module first. */
HANDLE__HIDDEN void handle__sym_add_stored(struct handle__symbolizer *s, uint32_t id,
                                           uint64_t offset, const struct handle__sym_frame *f,
                                           size_t n);

/* Symbolizes one return address pc that lies in module id (0: the newest
 * registered module whose [lo, hi) holds pc). Looks up pc - 1, so that the
 * line is the call's line. Fills out[0..n): inlined frames first (the
 * innermost, inlined = true), the containing real function last, all with
 * the same pc, module and module_offset; returns n (>= 1 when max >= 1: a
 * frame with only module+offset, or nothing known, still counts). A chain
 * longer than max keeps its innermost max - 1 frames and the real
 * function. Each distinct (ELF file, address) is symbolized once (cache).
 * Returned strings live until handle__sym_free. */
HANDLE__HIDDEN size_t handle__sym_pc(struct handle__symbolizer *s, uint32_t module_id,
                                     uintptr_t pc, struct handle__sym_frame *out,
                                     size_t max);

/* Frees everything, including every string handle__sym_pc returned. NULL
 * is a no-op. */
HANDLE__HIDDEN void handle__sym_free(struct handle__symbolizer *s);

#endif
