/*
 * options_fuzz.c - a libFuzzer target for the HANDLE_OPTIONS parser
 * (lib/debug/options.c). Built with -DHANDLE_FUZZ=ON and clang
 * (tests/fuzz/CMakeLists.txt) and run by scripts/fuzz.sh:
 *
 *   scripts/fuzz.sh 60 options_fuzz
 *
 * Each input is parsed (as a C string: cut at its first NUL) over the
 * defaults and over the previous input's result; the target traps if a
 * field leaves its range, a string loses its terminator, or a warning line
 * is not exactly one newline-terminated line of printable bytes. It also
 * formats the help listing with the result, into a buffer too small for it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "debug/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text[65536];
static struct handle__options opts;

static void check_line(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    if (len < 2 || len > 512 || line[len - 1] != '\n')
        __builtin_trap();
    for (size_t i = 0; i + 1 < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            __builtin_trap();
}

static void check_i64(int64_t v, int64_t min, int64_t max)
{
    if (v < min || v > max)
        __builtin_trap();
}

static void check_u64(uint64_t v, uint64_t min, uint64_t max)
{
    if (v < min || v > max)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    static char help[256];
    unsigned char b;

    if (size >= sizeof text)
        size = sizeof text - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    if (!started || (size && data[0] & 1)) {
        handle__options_defaults(&opts);
        started = 1;
    }
    handle__options_parse(&opts, text, "HANDLE_OPTIONS", check_line, NULL);

#define CHECK_BOOL(name, min, max)                                                             \
    memcpy(&b, &opts.name, 1);                                                                 \
    if (b > 1)                                                                                 \
        __builtin_trap();
#define CHECK_INT(name, min, max) check_i64(opts.name, (min), (max));
#define CHECK_U64(name, min, max) check_u64(opts.name, (min), (max));
#define CHECK_STR(name, min, max)                                                              \
    if (!memchr(opts.name, '\0', sizeof opts.name))                                            \
        __builtin_trap();
#define CHECK_ENUM(name, min, max) check_i64(opts.name, 0, (int64_t)strlen(min));
#define HANDLE_OPTION(type, name, def, min, max, help) CHECK_##type(name, min, max)
#include "debug/options.inc"
#undef HANDLE_OPTION

    size_t n = handle__options_help_values(&opts, help, sizeof help);
    if (n < sizeof help || strlen(help) != sizeof help - 1)
        __builtin_trap();
    return 0;
}
