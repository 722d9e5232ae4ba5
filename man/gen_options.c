/*
 * gen_options.c - writes man/libhandle-debug.7 from libhandle-debug.7.in at
 * build time: the line "@HANDLE_OPTIONS@" becomes one .TP entry per option
 * of lib/debug/options.inc (name, type, default, range, help text), so the
 * manual lists exactly the options the runtime parses.
 *
 *     gen_options IN OUT
 *
 * A new option TYPE in options.inc is a compile error here until this file
 * knows how to print it.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Text for roff: a backslash becomes \e, and a line never starts with a
 * control character. */
static void roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else
            fputc(*s, out);
    }
}

static void head(FILE *out, const char *name, const char *type)
{
    fputs(".TP\n\\fB", out);
    roff(out, name);
    fprintf(out, "\\fR=\\fI%s\\fR (default ", type);
}

static void emit_BOOL(FILE *out, const char *name, long long def, long long min, long long max,
                      const char *help)
{
    (void)min, (void)max;
    head(out, name, "0|1");
    fprintf(out, "\\fB%lld\\fR)\n", def);
    roff(out, help);
    fputc('\n', out);
}

static void emit_INT(FILE *out, const char *name, long long def, long long min, long long max,
                     const char *help)
{
    head(out, name, "N");
    fprintf(out, "\\fB%lld\\fR; %lld to %lld)\n", def, min, max);
    roff(out, help);
    fputc('\n', out);
}

static void emit_U64(FILE *out, const char *name, uint64_t def, uint64_t min, uint64_t max,
                     const char *help)
{
    head(out, name, "N");
    fprintf(out, "\\fB%" PRIu64 "\\fR; %" PRIu64 " to %" PRIu64 ")\n", def, min, max);
    roff(out, help);
    fputc('\n', out);
}

static void emit_STR(FILE *out, const char *name, const char *def, const char *help)
{
    head(out, name, "string");
    if (def[0]) {
        fputs("\\fB", out);
        roff(out, def);
        fputs("\\fR)\n", out);
    } else {
        fputs("empty)\n", out);
    }
    roff(out, help);
    fputc('\n', out);
}

/* ENUM: the default is a word, min the list of words ("auto|always|never"). */
static void emit_ENUM(FILE *out, const char *name, const char *def, const char *words,
                      const char *help)
{
    head(out, name, words);
    fputs("\\fB", out);
    roff(out, def);
    fputs("\\fR)\n", out);
    roff(out, help);
    fputc('\n', out);
}

#define EMIT_BOOL(out, name, def, min, max, help) emit_BOOL(out, #name, def, min, max, help);
#define EMIT_INT(out, name, def, min, max, help) emit_INT(out, #name, def, min, max, help);
#define EMIT_U64(out, name, def, min, max, help) emit_U64(out, #name, def, min, max, help);
#define EMIT_STR(out, name, def, min, max, help) emit_STR(out, #name, def, help);
#define EMIT_ENUM(out, name, def, min, max, help) emit_ENUM(out, #name, def, min, help);

static void options(FILE *out)
{
#define HANDLE_OPTION(TYPE, name, def, min, max, help) EMIT_##TYPE(out, name, def, min, max, help)
#include "debug/options.inc"
#undef HANDLE_OPTION
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_options IN OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, in)) {
        if (strcmp(line, "@HANDLE_OPTIONS@\n") == 0) {
            options(out);
            found++;
        } else {
            fputs(line, out);
        }
    }
    if (found != 1) {
        fprintf(stderr, "gen_options: %s: want one @HANDLE_OPTIONS@ line, found %d\n", argv[1], found);
        return 1;
    }
    if (ferror(in) || fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    fclose(in);
    return 0;
}
