/*
 * handle-run - runs a program under the debug build of libhandle:
 *
 *     handle-run [--trace PATH] [--] PROGRAM [ARGS...]
 *
 * execs PROGRAM with libhandle-debug.so appended to any existing LD_PRELOAD
 * (so that a sanitizer runtime such as libasan.so can stay first; when
 * PROGRAM needs the ASan runtime and none is preloaded, its runtime is put
 * first) and, with --trace, trace="PATH" (quoted and escaped, so that any
 * path names exactly that file) appended to any existing HANDLE_OPTIONS.
 * The library is found relative to this executable: beside it in the build
 * tree, or in the installed lib directory. Its exit status is PROGRAM's,
 * because it execs PROGRAM; its own failures are the shell's: 127 PROGRAM
 * not found, 126 not executable or a directory, 2 bad usage.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Exit statuses of handle-run's own failures (those of a shell). */
#define EXIT_USAGE 2
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static void usage(FILE *f)
{
    fprintf(f,
            "usage: handle-run [OPTIONS] [--] PROGRAM [ARGS...]\n"
            "Runs PROGRAM with libhandle-debug.so preloaded: every handle misuse is reported\n"
            "with its creation and deletion stacks, every handle is recorded in a trace,\n"
            "and the handles still live at exit are reported as leaks (exit status 23).\n"
            "Read the trace afterwards with handle-report.\n"
            "\n"
            "  -t, --trace PATH   write the trace to PATH, whatever characters it holds\n"
            "                     (%%p in it is the pid, %%%% a '%%'); default\n"
            "                     handle-trace.%%p.db in the current directory\n"
            "  -h, --help         this text\n"
            "  -V, --version      the version\n"
            "\n"
            "PROGRAM without a '/' is looked for in PATH. libhandle-debug.so is appended to\n"
            "LD_PRELOAD, so a sanitizer runtime there stays first; when PROGRAM is linked\n"
            "with -fsanitize=address and no ASan runtime is preloaded, its own ASan runtime\n"
            "is put first. Other options of the runtime (detect_leaks, exitcode,\n"
            "suppressions, log_path, ...; HANDLE_OPTIONS=help=1 lists them) are read from\n"
            "HANDLE_OPTIONS, to which --trace is appended. HANDLE_DEBUG_LIBRARY names the\n"
            "library to preload instead of the installed one.\n"
            "\n"
            "Exit status: PROGRAM's (23 when it leaked handles), 2 bad usage or no\n"
            "libhandle-debug.so, 126 PROGRAM not executable or a directory, 127 PROGRAM\n"
            "not found.\n");
}

/* Prints "handle-run: BEFORE NAME AFTER" on stderr as one line, control
 * bytes of NAME escaped as \xNN. */
static void complain(const char *before, const char *name, const char *after)
{
    char esc[4 * 1024 + 4];
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && n + 5 < sizeof esc; c++) {
        if (*c < 0x20 || *c == 0x7f)
            n += (size_t)snprintf(esc + n, sizeof esc - n, "\\x%02x", *c);
        else
            esc[n++] = (char)*c;
    }
    esc[n] = '\0';
    fprintf(stderr, "handle-run: %s%s%s\n", before, esc, after);
}

/* Bad usage: one line, "handle-run: WHY (see handle-run --help)", exit 2,
 * the same form as handle-report's. */
static int bad_usage(const char *why)
{
    fprintf(stderr, "handle-run: %s (see handle-run --help)\n", why);
    return EXIT_USAGE;
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

/* Sets name to old + sep + value (or to value if old is unset or empty);
 * first: value + sep + old instead. */
static int add_env(const char *name, const char *sep, const char *value, bool first)
{
    const char *old = getenv(name);
    if (old == NULL || *old == '\0')
        return setenv(name, value, 1);
    size_t len = strlen(old) + strlen(sep) + strlen(value) + 1;
    char *v = malloc(len);
    if (v == NULL)
        return -1;
    if (first)
        snprintf(v, len, "%s%s%s", value, sep, old);
    else
        snprintf(v, len, "%s%s%s", old, sep, value);
    int r = setenv(name, v, 1);
    free(v);
    return r;
}

/* ---- Finding PROGRAM, as a shell does ---- */

/* Why path cannot be executed (0: it can): ENOENT, EISDIR, EACCES. */
static int exec_problem(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOTDIR ? ENOENT : errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    if (access(path, X_OK) != 0)
        return EACCES;
    return 0;
}

/* The file to exec for name in out (cap bytes); 0, or the problem of the
 * best candidate: as shells do, a name with a '/' is that file, another is
 * the first executable regular file dir/name over PATH (an entry that is
 * there but not executable gives EACCES if nothing better is found). */
static int resolve_program(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        if ((size_t)snprintf(out, cap, "%s", name) >= cap)
            return ENAMETOOLONG;
        return exec_problem(out);
    }
    if (*name == '\0')
        return ENOENT;
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    int best = ENOENT;
    char cand[PATH_MAX];
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        /* An empty entry is the current directory. */
        int len = n ? snprintf(cand, sizeof cand, "%.*s/%s", (int)n, p, name)
                    : snprintf(cand, sizeof cand, "%s", name);
        if (len > 0 && (size_t)len < sizeof cand) {
            int e = exec_problem(cand);
            if (e == 0) {
                snprintf(out, cap, "%s", cand);
                return (size_t)len < cap ? 0 : ENAMETOOLONG;
            }
            if (e == EACCES && best == ENOENT)
                best = EACCES;
        }
        if (end == NULL)
            break;
        p = end;
    }
    return best;
}

/* ---- The ASan runtime PROGRAM needs ---- */

/* Is name (a DT_NEEDED entry or an LD_PRELOAD element's base name) an
 * ASan runtime: gcc's libasan.so.N, clang's libclang_rt.asan*.so? */
static bool is_asan_runtime(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return strncmp(base, "libasan.so", 10) == 0 || strncmp(base, "libclang_rt.asan", 16) == 0;
}

/* Does LD_PRELOAD already hold an ASan runtime? */
static bool asan_preloaded(void)
{
    const char *pre = getenv("LD_PRELOAD");
    if (pre == NULL)
        return false;
    char buf[PATH_MAX];
    /* Elements are separated by ':' or whitespace (ld.so(8)). */
    for (const char *p = pre; *p;) {
        size_t n = strcspn(p, ": \t\n");
        if (n > 0 && n < sizeof buf) {
            memcpy(buf, p, n);
            buf[n] = '\0';
            if (is_asan_runtime(buf))
                return true;
        }
        p += n;
        if (*p)
            p++;
    }
    return false;
}

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
    return off <= (uint64_t)LLONG_MAX && pread(fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* One program header or dynamic entry, whatever the ELF class. */
struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
};

/* Reads program header i of the file (class 32 or 64). */
static bool read_phdr(int fd, bool is64, uint64_t phoff, size_t phentsize, size_t i,
                      struct phdr *ph)
{
    if (is64) {
        Elf64_Phdr p;
        if (phentsize < sizeof p || !read_at(fd, &p, sizeof p, phoff + i * phentsize))
            return false;
        *ph = (struct phdr){p.p_type, p.p_offset, p.p_vaddr, p.p_filesz};
    } else {
        Elf32_Phdr p;
        if (phentsize < sizeof p || !read_at(fd, &p, sizeof p, phoff + i * phentsize))
            return false;
        *ph = (struct phdr){p.p_type, p.p_offset, p.p_vaddr, p.p_filesz};
    }
    return true;
}

/*
 * The soname of the ASan runtime among the DT_NEEDED entries of the ELF file
 * at path, into out; false if it needs none (or is not an ELF file of this
 * machine's byte order: a script, say). The file is only read, never run:
 * the dynamic section is found through the program headers and its string
 * table through the PT_LOAD segment that holds DT_STRTAB. Every size read
 * from the file is bounded.
 */
static bool needed_asan_runtime(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    bool found = false;
    struct phdr ph[64];
    size_t nph = 0;
    unsigned char ident[EI_NIDENT];
    if (!read_at(fd, ident, sizeof ident, 0) || memcmp(ident, ELFMAG, SELFMAG) != 0)
        goto out;
    bool is64 = ident[EI_CLASS] == ELFCLASS64;
    if (!is64 && ident[EI_CLASS] != ELFCLASS32)
        goto out;
    union {
        uint16_t u;
        unsigned char b[2];
    } order = {1};
    if (ident[EI_DATA] != (order.b[0] ? ELFDATA2LSB : ELFDATA2MSB))
        goto out;
    uint64_t phoff;
    size_t phentsize, phnum;
    if (is64) {
        Elf64_Ehdr e;
        if (!read_at(fd, &e, sizeof e, 0))
            goto out;
        phoff = e.e_phoff, phentsize = e.e_phentsize, phnum = e.e_phnum;
    } else {
        Elf32_Ehdr e;
        if (!read_at(fd, &e, sizeof e, 0))
            goto out;
        phoff = e.e_phoff, phentsize = e.e_phentsize, phnum = e.e_phnum;
    }
    struct phdr dyn = {0};
    for (size_t i = 0; i < phnum && nph < sizeof ph / sizeof ph[0]; i++) {
        struct phdr p;
        if (!read_phdr(fd, is64, phoff, phentsize, i, &p))
            goto out;
        if (p.type == PT_LOAD)
            ph[nph++] = p;
        else if (p.type == PT_DYNAMIC)
            dyn = p;
    }
    if (dyn.type != PT_DYNAMIC)
        goto out;
    /* The dynamic entries: DT_STRTAB, then each DT_NEEDED. */
    size_t entsize = is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    size_t nent = dyn.filesz / entsize;
    if (nent > 4096)
        nent = 4096;
    uint64_t strtab = 0, strsz = 0;
    bool have_strtab = false;
    for (int pass = 0; pass < 2 && !found; pass++) {
        uint64_t stroff = 0;
        if (pass == 1) {
            if (!have_strtab)
                goto out;
            size_t i = 0;
            while (i < nph && !(strtab >= ph[i].vaddr && strtab - ph[i].vaddr < ph[i].filesz))
                i++;
            if (i == nph)
                goto out;
            stroff = strtab - ph[i].vaddr + ph[i].offset;
        }
        for (size_t i = 0; i < nent; i++) {
            int64_t tag;
            uint64_t val;
            if (is64) {
                Elf64_Dyn d;
                if (!read_at(fd, &d, sizeof d, dyn.offset + i * entsize))
                    goto out;
                tag = d.d_tag, val = d.d_un.d_val;
            } else {
                Elf32_Dyn d;
                if (!read_at(fd, &d, sizeof d, dyn.offset + i * entsize))
                    goto out;
                tag = d.d_tag, val = d.d_un.d_val;
            }
            if (tag == DT_NULL)
                break;
            if (pass == 0 && tag == DT_STRTAB)
                strtab = val, have_strtab = true;
            else if (pass == 0 && tag == DT_STRSZ)
                strsz = val;
            else if (pass == 1 && tag == DT_NEEDED && (strsz == 0 || val < strsz)) {
                char name[256];
                ssize_t n = pread(fd, name, sizeof name - 1, (off_t)(stroff + val));
                if (n <= 0)
                    continue;
                name[n] = '\0';
                if (strlen(name) < (size_t)n && strlen(name) < cap && is_asan_runtime(name) &&
                    !strchr(name, ':')) {
                    snprintf(out, cap, "%s", name);
                    found = true;
                    break;
                }
            }
        }
    }
out:
    close(fd);
    return found;
}

/* ---- --trace ---- */

/* trace="PATH" with '"' and '\' escaped by '\' (SPEC section 3), so that the
 * runtime reads back exactly PATH whatever it holds; malloc'd, NULL when out
 * of memory. */
static char *trace_option(const char *path)
{
    size_t len = strlen(path);
    char *opt = malloc(2 * len + sizeof "trace=\"\"");
    if (opt == NULL)
        return NULL;
    char *o = opt;
    memcpy(o, "trace=\"", 7);
    o += 7;
    for (const char *c = path; *c; c++) {
        if (*c == '"' || *c == '\\')
            *o++ = '\\';
        *o++ = *c;
    }
    *o++ = '"';
    *o = '\0';
    return opt;
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
    opterr = 0;
    /* '+': stop at the first non-option, which is PROGRAM; ':' tells a
     * missing argument from an unknown option. */
    while ((c = getopt_long(argc, argv, "+:t:hV", longopts, NULL)) != -1) {
        char msg[256];
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
        case ':':
            snprintf(msg, sizeof msg, "option '%.200s' needs an argument", argv[optind - 1]);
            return bad_usage(msg);
        default:
            if (optopt)
                snprintf(msg, sizeof msg, "unknown option '-%c'", optopt);
            else
                snprintf(msg, sizeof msg, "unknown option '%.200s'", argv[optind - 1]);
            return bad_usage(msg);
        }
    }
    if (optind >= argc)
        return bad_usage("no PROGRAM given");
    const char *name = argv[optind];
    static char prog[PATH_MAX];
    int problem = resolve_program(name, prog, sizeof prog);
    if (problem) {
        char why[128];
        if (problem == ENOENT && !strchr(name, '/'))
            snprintf(why, sizeof why, ": command not found");
        else
            snprintf(why, sizeof why, ": %s",
                     problem == EISDIR ? "is a directory" : strerror(problem));
        complain("cannot run ", name, why);
        return problem == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
    }
    char buf[PATH_MAX + 64];
    const char *lib = find_library(buf, sizeof buf);
    if (lib == NULL) {
        fprintf(stderr, "handle-run: cannot find libhandle-debug.so (set HANDLE_DEBUG_LIBRARY)\n");
        return EXIT_USAGE;
    }
    if (add_env("LD_PRELOAD", ":", lib, false) != 0) {
        perror("handle-run: LD_PRELOAD");
        return EXIT_USAGE;
    }
    /* ASan insists on coming first in the list of libraries; the loader
     * finds a soname in LD_PRELOAD as it finds the program's DT_NEEDED. */
    char asan[256];
    if (!asan_preloaded() && needed_asan_runtime(prog, asan, sizeof asan) &&
        add_env("LD_PRELOAD", ":", asan, true) != 0) {
        perror("handle-run: LD_PRELOAD");
        return EXIT_USAGE;
    }
    if (trace) {
        char *opt = trace_option(trace);
        if (opt == NULL || add_env("HANDLE_OPTIONS", ":", opt, false) != 0) {
            perror("handle-run: HANDLE_OPTIONS");
            return EXIT_USAGE;
        }
        free(opt);
    }
    execv(prog, argv + optind);
    int err = errno;
    if (err == ENOEXEC) {
        /* No #! line: a shell runs it as a script, as execvp would. */
        char **sh = calloc((size_t)(argc - optind) + 2, sizeof *sh);
        if (sh) {
            sh[0] = "/bin/sh";
            sh[1] = prog;
            for (int i = optind + 1; i < argc; i++)
                sh[i - optind + 1] = argv[i];
            execv("/bin/sh", sh);
        }
    }
    char why[128];
    snprintf(why, sizeof why, ": %s", strerror(err));
    complain("cannot run ", name, why);
    return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
}
