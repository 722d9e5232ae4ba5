/*
 * handle-run - runs a program under the debug build of libhandle:
 *
 *     handle-run [--trace PATH] [--] PROGRAM [ARGS...]
 *
 * execs PROGRAM with libhandle-debug.so appended to any existing LD_PRELOAD
 * (so that a sanitizer runtime such as libasan.so can stay first) and, with
 * --trace, trace=PATH appended to any existing HANDLE_OPTIONS. The library
 * is found relative to this executable: beside it in the build tree, or in
 * the installed lib directory. Its exit status is PROGRAM's (127 if PROGRAM
 * cannot be run, 2 for bad usage), because it execs PROGRAM.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HANDLE_RUN_LIBDIR_REL
#define HANDLE_RUN_LIBDIR_REL "../lib"
#endif
#ifndef HANDLE_RUN_BUILD_LIB
#define HANDLE_RUN_BUILD_LIB ""
#endif
#ifndef HANDLE_VERSION
#define HANDLE_VERSION "?"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: handle-run [--trace PATH] [--] PROGRAM [ARGS...]\n"
               "Runs PROGRAM with libhandle-debug.so preloaded: creation and deletion stacks,\n"
               "a trace of every handle (HANDLE_OPTIONS trace=, default handle-trace.%%p.db),\n"
               "full diagnostics and a leak report at exit (exit status 23 on leaks).\n"
               "  --trace PATH   write the trace to PATH (%%p: the pid)\n"
               "  --help         this text\n"
               "  --version      the version\n");
}


static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* The debug library to preload; NULL if none is found. */
static const char *find_library(char *buf, size_t len)
{
    const char *env = getenv("HANDLE_DEBUG_LIBRARY");
    if (env && *env)
        return env;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        const char *rel[] = {HANDLE_RUN_LIBDIR_REL, "../lib", "../lib/debug", "."};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            /* The soname link: in the runtime package, without the -dev one. */
            snprintf(buf, len, "%s/%s/libhandle-debug.so.1", self, rel[i]);
            char real[PATH_MAX];
            if (exists(buf) && realpath(buf, real)) {
                snprintf(buf, len, "%s", real);
                return buf;
            }
        }
    }
    if (HANDLE_RUN_BUILD_LIB[0] && exists(HANDLE_RUN_BUILD_LIB))
        return HANDLE_RUN_BUILD_LIB;
    return NULL;
}

static int append_env(const char *name, const char *sep, const char *value)
{
    const char *old = getenv(name);
    if (old == NULL || *old == '\0')
        return setenv(name, value, 1);
    size_t len = strlen(old) + strlen(sep) + strlen(value) + 1;
    char *v = malloc(len);
    if (v == NULL)
        return -1;
    snprintf(v, len, "%s%s%s", old, sep, value);
    int r = setenv(name, v, 1);
    free(v);
    return r;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"trace", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *trace = NULL;
    int c;
    /* '+': stop at the first non-option, which is PROGRAM. */
    while ((c = getopt_long(argc, argv, "+t:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            trace = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("handle-run %s\n", HANDLE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "handle-run: no PROGRAM given\n");
        usage(stderr);
        return 2;
    }
    char buf[PATH_MAX + 64];
    const char *lib = find_library(buf, sizeof buf);
    if (lib == NULL) {
        fprintf(stderr, "handle-run: cannot find libhandle-debug.so (set HANDLE_DEBUG_LIBRARY)\n");
        return 2;
    }
    if (append_env("LD_PRELOAD", ":", lib) != 0) {
        perror("handle-run: LD_PRELOAD");
        return 2;
    }
    if (trace) {
        if (strpbrk(trace, ":'\"")) {
            size_t len = strlen(trace) + 16;
            char *opt = malloc(len);
            /* A quoted value may hold ':' and ','; quote with the quote
             * character that the path does not contain. */
            const char *q = strchr(trace, '\'') ? "\"" : "'";
            snprintf(opt, len, "trace=%s%s%s", q, trace, q);
            append_env("HANDLE_OPTIONS", ":", opt);
            free(opt);
        } else {
            size_t len = strlen(trace) + 8;
            char *opt = malloc(len);
            snprintf(opt, len, "trace=%s", trace);
            append_env("HANDLE_OPTIONS", ":", opt);
            free(opt);
        }
    }
    execvp(argv[optind], argv + optind);
    int err = errno;
    fprintf(stderr, "handle-run: cannot run %s: %s\n", argv[optind], strerror(err));
    return err == ENOENT ? 127 : 126;
}
