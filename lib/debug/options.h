/*
 * options.h - the debug build's options (SPEC section 3): the struct that
 * holds them, their defaults, the HANDLE_OPTIONS parser and the help=1
 * listing, all generated from options.inc.
 *
 * Options are read once at start-up, in LLVM sanitizer order: the defaults,
 * then the string returned by the program's __handle_default_options() if
 * it defines one, then secure_getenv("HANDLE_OPTIONS") (so setuid programs
 * ignore the environment). The text is `key=value` pairs separated by ':',
 * ',' or whitespace (empty pairs are skipped); a value that starts with ' or " runs to the matching quote
 * and may then contain ':', ',' and whitespace; inside the quotes '\'
 * takes the next character as it is ("\"" is '"', "\\" is '\'), so any
 * path can be written. Outside quotes '\' is an ordinary byte. LeakSanitizer's
 * names fast_unwind_on_malloc and malloc_context_size are accepted for
 * fast_unwind and max_frames (with their values, ranges and defaults). A bad pair (unknown key,
 * malformed or out-of-range value, no '=') produces exactly one warning line
 * through the caller's writer and is ignored; the previous value stays and
 * parsing goes on with the next pair. Except for trace: a trace value that
 * cannot be used (an unterminated quote, too long) means no trace file
 * (trace is emptied, the warning ends "; no trace file"), never the default
 * or an earlier path.
 *
 * This module does not act on any option (the runtime does), never
 * allocates, never uses stdio and never writes to a file descriptor itself.
 * It is not thread-safe: the runtime parses once, before other threads can
 * see the result.
 */
#ifndef HANDLE_DEBUG_OPTIONS_H
#define HANDLE_DEBUG_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

/* Size of a string option's array, terminating NUL included. */
#define HANDLE__OPTION_STR_MAX 4096

#define HANDLE__OPTION_FIELD_BOOL(name) bool name;
#define HANDLE__OPTION_FIELD_INT(name) int name;
#define HANDLE__OPTION_FIELD_U64(name) uint64_t name;
#define HANDLE__OPTION_FIELD_STR(name) char name[HANDLE__OPTION_STR_MAX];
#define HANDLE__OPTION_FIELD_ENUM(name) int name;

/* The values of the ENUM option color: indexes in its list of words in
 * options.inc ("auto|always|never"), in that order. */
enum { HANDLE__COLOR_AUTO, HANDLE__COLOR_ALWAYS, HANDLE__COLOR_NEVER };

/*
 * One field per line of options.inc, same name, in the same order:
 *   char trace[4096]; bool detect_leaks; int exitcode; int max_frames;
 *   uint64_t quarantine; int flush_ms; uint64_t max_history;
 *   bool fast_unwind; char suppressions[4096]; bool print_suppressions;
 *   char log_path[4096]; int color (HANDLE__COLOR_*);
 *   bool abort_on_error; int max_leaks; int verbosity; bool help;
 * Every field always holds a value within its declared range, and string
 * fields are always NUL-terminated.
 */
struct handle__options {
#define HANDLE_OPTION(type, name, def, min, max, help) HANDLE__OPTION_FIELD_##type(name)
#include "options.inc"
#undef HANDLE_OPTION
};

/*
 * Receives one warning line, sanitizer style, e.g.
 *   ==4242==WARNING: HandleSanitizer: unknown option 'foo' in HANDLE_OPTIONS; ignored\n
 * line is not NUL-terminated; len includes the trailing newline. The line
 * never contains another newline or control character. The runtime passes a
 * writer that write(2)s it to stderr or the log_path file.
 */
typedef void handle__options_warn_fn(const char *line, size_t len, void *ctx);

/* Sets every option of o to its default from options.inc. Cannot fail. */
HANDLE__HIDDEN void handle__options_defaults(struct handle__options *o);

/*
 * Parses text (NUL-terminated; NULL is treated as "") over the current
 * values of o: each good pair overwrites its option, later pairs win. Each
 * bad pair calls warn (if not NULL) exactly once with a line naming the key
 * and the value and ending "in SOURCE; ignored", and leaves the option as it
 * was. source names where text came from ("HANDLE_OPTIONS" or
 * "__handle_default_options()"; NULL means "HANDLE_OPTIONS"). Never fails,
 * never crashes, whatever the bytes of text; keys and values echoed in a
 * warning are cut to 64 bytes and control bytes are escaped as \xNN.
 */
HANDLE__HIDDEN void handle__options_parse(struct handle__options *o, const char *text,
                                          const char *source, handle__options_warn_fn *warn,
                                          void *ctx);

/*
 * The start-up sequence: handle__options_defaults(o), then the program's
 * __handle_default_options() (if defined and it returns non-NULL), then
 * secure_getenv("HANDLE_OPTIONS") (if set), both through
 * handle__options_parse with warn/ctx. Does not act on help=1.
 */
HANDLE__HIDDEN void handle__options_init(struct handle__options *o,
                                         handle__options_warn_fn *warn, void *ctx);

/*
 * Formats the help=1 listing of every option, in options.inc order:
 *   Available flags for HandleSanitizer:
 *   \ttrace
 *   \t\t- Path of the SQLite trace file; ... (Default: "handle-trace.%p.db")
 *   ...
 * Writes at most cap - 1 bytes and a NUL into buf (nothing if cap is 0) and
 * returns the length of the whole listing, like snprintf: a return >= cap
 * means it was cut, and a buffer of return + 1 bytes holds it.
 */
HANDLE__HIDDEN size_t handle__options_help(char *buf, size_t cap);

/*
 * As handle__options_help, and each option's line also shows the value o
 * holds: "(Default: 32, Current Value: 8)". o NULL: same as
 * handle__options_help. This is what help=1 prints at start-up.
 */
HANDLE__HIDDEN size_t handle__options_help_values(const struct handle__options *o, char *buf,
                                                  size_t cap);

#endif
