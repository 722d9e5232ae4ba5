/*
 * symbolize.c - return addresses to frames with libdwfl, the way eu-stack
 * does it (see symbolize.h for the contract).
 *
 * Three tables, all append-only and indexed by 32-bit numbers:
 *  - files: one per distinct (path, recorded build-id), each with its own
 *    Dwfl holding that one ELF file reported at bias 0, opened on first use;
 *  - modules: the caller's registrations (id, bias, range) pointing at a
 *    file, found by id through a hash table;
 *  - the cache: (file, ELF address) -> a run of frames in a frame pool.
 * Strings (function and file names, paths, messages) are interned in an
 * arena, so every pointer handed out stays valid until handle__sym_free and
 * repeated file names are stored once.
 *
 * One Dwfl per file rather than one per process: modules of one trace may
 * overlap in time (dlclose, then another library at the same address),
 * which a single Dwfl refuses, and modules of many traces share their
 * files, which then are read once.
 *
 * Out of memory degrades, never crashes: a string that cannot be stored is
 * NULL (unknown), a cache entry that cannot be stored is recomputed, a
 * hash table that cannot grow gets slower.
 *
 * libdw itself does not survive every allocation failure (elfutils 0.188
 * dereferences a failed tsearch in dwfl_module_nextcu, and can crash in
 * dwarf_getsrclines), nor every damaged debug file. A report must not be
 * lost to that, least of all the debug runtime's panic report, printed
 * inside someone else's process: every call into libdw runs under a
 * SIGSEGV/SIGBUS/SIGABRT guard (libdw's assert()s fail too when an
 * allocation did). A fault there jumps back, the symbolizer stops
 * using libdw (its state may be broken: its Dwfls are never freed), and
 * from then on frames are module+offset; handle__sym_error says why. The
 * handler runs on an alternate signal stack, so that libdw running out of
 * stack is caught too. A fault in another thread, or one not raised by
 * the CPU (for SIGABRT: not raised by this thread), goes to the handler in
 * force before the guard.
 */
#include "symbolize.h"
#include "demangle.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dw.h"

/* libdwfl's default search path for separate debug files: next to the
 * file, in .debug/ beside it, and under /usr/lib/debug (by build-id:
 * /usr/lib/debug/.build-id/xx/rest.debug, or by path). */
#define DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"

/* ---- small growable things --------------------------------------------- */

static uint64_t hash_mix(uint64_t x)
{
    /* splitmix64's finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    /* FNV-1a */
    h ^= 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* An open-addressing index: slots hold (entry index + 1), 0 is empty. The
 * entries (and their hashes) live in the owner's arrays; equality and the
 * rehash go through callbacks. */
struct itab {
    uint32_t *slot;
    size_t cap; /* 0 or a power of two */
    size_t used;
};

typedef bool itab_eq_fn(const void *ctx, uint32_t idx);
typedef uint64_t itab_hash_fn(const void *owner, uint32_t idx);

/* The entry equal to ctx's key, or UINT32_MAX. */
static uint32_t itab_find(const struct itab *t, uint64_t h, itab_eq_fn *eq, const void *ctx)
{
    if (t->cap == 0)
        return UINT32_MAX;
    size_t mask = t->cap - 1;
    for (size_t i = h & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
        uint32_t v = t->slot[i];
        if (v == 0)
            return UINT32_MAX;
        if (eq(ctx, v - 1))
            return v - 1;
    }
    return UINT32_MAX;
}

static void itab_put(struct itab *t, uint64_t h, uint32_t idx)
{
    size_t mask = t->cap - 1;
    size_t i = h & mask;
    while (t->slot[i] != 0)
        i = (i + 1) & mask;
    t->slot[i] = idx + 1;
    t->used++;
}

/* Adds entry idx (not yet present) with hash h. If the table cannot grow
 * it fills up to one free slot and then drops entries: lookups of dropped
 * entries miss, which costs time, not correctness. */
static void itab_add(struct itab *t, uint64_t h, uint32_t idx, itab_hash_fn *hash,
                     const void *owner)
{
    if ((t->used + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (ns) {
            struct itab old = *t;
            t->slot = ns;
            t->cap = ncap;
            t->used = 0;
            for (size_t i = 0; i < old.cap; i++)
                if (old.slot[i])
                    itab_put(t, hash(owner, old.slot[i] - 1), old.slot[i] - 1);
            free(old.slot);
        }
    }
    if (t->used + 1 < t->cap)
        itab_put(t, h, idx);
}

/* ---- the symbolizer ---------------------------------------------------- */

enum file_state {
    FILE_UNOPENED, /* not needed yet */
    FILE_OK,       /* dwfl holds the file; symbolized */
    FILE_CHANGED,  /* exists with another build-id than recorded */
    FILE_MISSING,  /* no such file, no debug file by build-id */
    FILE_BAD,      /* unreadable, not ELF, or no libdw */
};

/* A CU's address range, for files without .debug_aranges (see cu_of). */
struct cu_range {
    Dwarf_Addr lo, hi;    /* DWARF addresses */
    Dwarf_Die *cu;        /* libdwfl's, valid until dwfl_end */
};

struct sym_file {
    const char *path;     /* as registered (interned) */
    const char *build_id; /* recorded, lowercase hex, "" if unknown */
    uint64_t hash;
    enum file_state state;
    const char *problem;  /* why not FILE_OK, interned; NULL if OK */
    Dwfl *dwfl;
    Dwfl_Module *mod;
    bool cu_ranges_built;
    struct cu_range *cu_ranges; /* sorted by lo */
    size_t ncu_ranges;
    Dwarf_Addr cu_bias;
};

struct sym_module {
    uint32_t id;
    uint32_t file;
    uintptr_t bias, lo, hi;
    bool stored; /* the trace gave frames for it (handle__sym_add_stored) */
};

/* A cached frame, without the per-pc fields. */
struct sym_cframe {
    const char *function, *file;
    int line, column;
    bool inlined;
};

struct sym_centry {
    uint32_t file;
    uint32_t first, count; /* frames[first .. first + count) */
    uint64_t addr;         /* ELF address of the return address */
    uint64_t hash;
};

struct sym_string {
    const char *str;
    size_t len;
    uint64_t hash;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct handle__symbolizer {
    unsigned flags;
    bool dw_tried;
    bool faulted;    /* libdw crashed under the guard: not used again */
    bool guarded;    /* this symbolizer holds a reference on the guard */
    void *alt;       /* its alternate signal stack (GUARD_ALT_SIZE), or NULL */
    const struct handle__dw *dw; /* NULL: no libdw */
    char dw_err[256];
    /* Our own copy of the callbacks, for our own debuginfo_path; every
     * Dwfl of this symbolizer points at it. */
    Dwfl_Callbacks callbacks;
    char *debuginfo_path; /* NULL: libdwfl's default */

    struct sym_file *files;
    size_t nfiles, files_cap;
    struct itab files_ix;

    struct sym_module *mods;
    size_t nmods, mods_cap;
    struct itab mods_ix;

    struct sym_centry *cache;
    size_t ncache, cache_cap;
    struct itab cache_ix;
    struct sym_cframe *frames;
    size_t nframes, frames_cap;
    /* Frames stored in the trace, by (module id, ELF address): .file of
     * an entry is the module id. Used where the module's file is not. */
    struct sym_centry *stored;
    size_t nstored, stored_cap;
    struct itab stored_ix;

    struct sym_string *strs;
    size_t nstrs, strs_cap;
    struct itab strs_ix;
    struct arena_chunk *arena;
};

/* ---- interned strings --------------------------------------------------- */

struct str_key {
    const struct handle__symbolizer *s;
    const char *str;
    size_t len;
};

static bool str_eq(const void *ctx, uint32_t idx)
{
    const struct str_key *k = ctx;
    const struct sym_string *e = &k->s->strs[idx];
    return e->len == k->len && memcmp(e->str, k->str, k->len) == 0;
}

static uint64_t str_hash(const void *owner, uint32_t idx)
{
    return ((const struct handle__symbolizer *)owner)->strs[idx].hash;
}

static char *arena_alloc(struct handle__symbolizer *s, size_t n)
{
    struct arena_chunk *c = s->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = s->arena;
        c->used = 0;
        c->cap = cap;
        s->arena = c;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

/* A copy of str[0..len) that lives as long as s, shared with any equal
 * string interned before; NULL for NULL or when out of memory. */
static const char *intern_n(struct handle__symbolizer *s, const char *str, size_t len)
{
    if (!str)
        return NULL;
    uint64_t h = hash_bytes(0, str, len);
    struct str_key k = {s, str, len};
    uint32_t i = itab_find(&s->strs_ix, h, str_eq, &k);
    if (i != UINT32_MAX)
        return s->strs[i].str;
    char *p = arena_alloc(s, len + 1);
    if (!p)
        return NULL;
    memcpy(p, str, len);
    p[len] = '\0';
    if (s->nstrs < UINT32_MAX - 1 && handle__grow(&s->strs, &s->strs_cap, s->nstrs + 1, sizeof *s->strs)) {
        s->strs[s->nstrs] = (struct sym_string){p, len, h};
        itab_add(&s->strs_ix, h, (uint32_t)s->nstrs, str_hash, s);
        s->nstrs++;
    }
    return p;
}

static const char *intern(struct handle__symbolizer *s, const char *str)
{
    return str ? intern_n(s, str, strlen(str)) : NULL;
}

static const char *internf(struct handle__symbolizer *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *internf(struct handle__symbolizer *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    return intern(s, buf);
}

/* ---- the fault guard around libdw --------------------------------------- */

/* The jump buffer of this thread's guarded libdw call, if any. */
static __thread sigjmp_buf *fault_jmp __attribute__((tls_model("initial-exec")));
/* The guarded call was left by libdw's exit() (libdw_exit_recover). */
static __thread bool exit_caught __attribute__((tls_model("initial-exec")));
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned guard_refs;
static struct sigaction guard_old[3]; /* SIGSEGV, SIGBUS, SIGABRT before the guard */

static int guard_slot(int sig)
{
    return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : 2;
}

/* The handler runs on an alternate signal stack (SA_ONSTACK): a fault
 * raised because libdw ran out of stack (a small thread stack, a stack
 * that cannot grow under RLIMIT_AS) leaves no room on the stack itself,
 * and without one the kernel kills the process instead of calling the
 * handler. See alt_enter. */
#define GUARD_ALT_SIZE (64u * 1024)
/* A thread's own alternate stack at least this big is used as it is. */
#define GUARD_ALT_MIN (16u * 1024)

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *j = fault_jmp;
    /* A fault of this thread inside libdw; or libdw's own abort() (an
     * assert() of elfutils that fails when an allocation did, seen in
     * dynamicsizehash_concurrent.c): raise() sends it to this thread. */
    bool ours = sig == SIGABRT ? si->si_code == SI_TKILL && si->si_pid == getpid()
                               : si->si_code > 0;
    if (j && ours) {
        fault_jmp = NULL;
        siglongjmp(*j, 1);
    }
    /* Not ours (another thread's fault: a JVM's or Go's deliberate ones,
     * or a signal sent by someone): to the handler in force before the
     * guard, which stays the guard's successor, so that the guard keeps
     * working for the faults that are ours. */
    int saved = errno;
    const struct sigaction *old = &guard_old[guard_slot(sig)];
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else if (old->sa_handler == SIG_DFL || si->si_code > 0) {
        /* The default action ends the process: a fault is raised again
         * by the instruction once this returns (an ignored fault kills
         * too), a sent signal is sent again. */
        signal(sig, SIG_DFL);
        if (si->si_code <= 0)
            raise(sig);
    }
    errno = saved;
}

/* The calling thread's alternate signal stack around one guarded call:
 * the thread's own when it has one big enough (the debug runtime installs
 * a static one before it symbolizes), else the symbolizer's, put back as
 * it was afterwards. */
struct alt_save {
    stack_t old;
    bool set;
};

static void alt_enter(struct handle__symbolizer *s, struct alt_save *a)
{
    a->set = false;
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0 || (cur.ss_flags & SS_ONSTACK))
        return; /* running on it already: a fault nests there */
    if (!(cur.ss_flags & SS_DISABLE) && cur.ss_size >= GUARD_ALT_MIN)
        return;
    if (s->alt == NULL)
        return;
    stack_t ns = {.ss_sp = s->alt, .ss_size = GUARD_ALT_SIZE, .ss_flags = 0};
    a->set = sigaltstack(&ns, &a->old) == 0;
}

static void alt_leave(const struct alt_save *a)
{
    if (a->set)
        sigaltstack(&a->old, NULL);
}

/* Installs the handlers for the first guarded symbolizer, and maps the
 * symbolizer's alternate stack now, before any fault needs it. */
static void guard_ref(struct handle__symbolizer *s)
{
    if (s->guarded)
        return;
    void *alt = mmap(NULL, GUARD_ALT_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    s->alt = alt == MAP_FAILED ? NULL : alt;
    pthread_mutex_lock(&guard_lock);
    if (guard_refs++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = guard_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, NULL, &guard_old[0]);
        sigaction(SIGBUS, NULL, &guard_old[1]);
        sigaction(SIGABRT, NULL, &guard_old[2]);
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        sigaction(SIGABRT, &sa, NULL);
    }
    pthread_mutex_unlock(&guard_lock);
    s->guarded = true;
}

/* Puts the old handlers back with the last guarded symbolizer (unless
 * another thread's fault already did). */
static void guard_unref(struct handle__symbolizer *s)
{
    if (!s->guarded)
        return;
    pthread_mutex_lock(&guard_lock);
    if (--guard_refs == 0) {
        struct sigaction cur;
        if (sigaction(SIGSEGV, NULL, &cur) == 0 && cur.sa_sigaction == guard_handler)
            sigaction(SIGSEGV, &guard_old[0], NULL);
        if (sigaction(SIGBUS, NULL, &cur) == 0 && cur.sa_sigaction == guard_handler)
            sigaction(SIGBUS, &guard_old[1], NULL);
        if (sigaction(SIGABRT, NULL, &cur) == 0 && cur.sa_sigaction == guard_handler)
            sigaction(SIGABRT, &guard_old[2], NULL);
    }
    pthread_mutex_unlock(&guard_lock);
    s->guarded = false;
    if (s->alt)
        munmap(s->alt, GUARD_ALT_SIZE);
    s->alt = NULL;
}

/* After a fault inside libdw: libdw is not called again by s. */
static void guard_faulted(struct handle__symbolizer *s)
{
    s->faulted = true;
    snprintf(s->dw_err, sizeof s->dw_err,
             "libdw %s while reading debug information (out of memory or a damaged "
             "file): the frames from then on are not symbolized",
             exit_caught ? "tried to end the process" : "crashed");
    exit_caught = false;
}

/* ---- creation ----------------------------------------------------------- */

struct handle__symbolizer *handle__sym_new_ex(unsigned flags)
{
    struct handle__symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->flags = flags;
    return s;
}

struct handle__symbolizer *handle__sym_new(void)
{
    return handle__sym_new_ex(0);
}

/* Whether libdwfl's standard search may look beside the module: it opens
 * DIR/LINK and DIR/.debug/LINK (LINK the module's .gnu_debuglink, or its
 * base name + ".debug") in the module's directory, which a trace names and
 * anybody may have filled: a FIFO there blocks the open forever, a device
 * never ends. False when one of them exists and is not a regular file (the
 * search is then skipped: the module has no separate debug file). The
 * build-id directory and /usr/lib/debug are root's. */
static bool beside_regular(const char *file_name, const char *debuglink_file)
{
    if (file_name == NULL)
        return true;
    const char *slash = strrchr(file_name, '/');
    size_t dlen = slash ? (size_t)(slash - file_name) : 0;
    char base[PATH_MAX];
    const char *link = debuglink_file;
    if (link == NULL) {
        if (snprintf(base, sizeof base, "%s.debug", slash ? slash + 1 : file_name) >=
            (int)sizeof base)
            return false;
        link = base;
    }
    static const char *const sub[] = {"", ".debug/"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        char p[PATH_MAX];
        int n = link[0] == '/' ? snprintf(p, sizeof p, "%s", link)
                               : snprintf(p, sizeof p, "%.*s/%s%s", (int)dlen,
                                          slash ? file_name : ".", sub[i], link);
        if (n < 0 || (size_t)n >= sizeof p)
            return false;
        struct stat sb;
        if (stat(p, &sb) == 0 && !S_ISREG(sb.st_mode))
            return false;
    }
    return true;
}

/* libdwfl's standard search (build-id, .gnu_debuglink beside the module
 * and under the debuginfo path, debuginfod as configured), skipped (-1)
 * when the module's neighbours are not regular files. */
static int standard_beside(Dwfl_Module *mod, void **userdata, const char *modname,
                           Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                           GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    if (!beside_regular(file_name, debuglink_file))
        return -1;
    return handle__dw_get()->dwfl_standard_find_debuginfo(mod, userdata, modname, base,
                                                          file_name, debuglink_file,
                                                          debuglink_crc, debuginfo_file_name);
}

/* libdwfl's standard find_debuginfo (debuginfod as libdw configures it),
 * minus the search beside a module whose neighbours are not regular. */
static int find_debuginfo_guarded(Dwfl_Module *mod, void **userdata, const char *modname,
                                  Dwarf_Addr base, const char *file_name,
                                  const char *debuglink_file, GElf_Word debuglink_crc,
                                  char **debuginfo_file_name)
{
    const struct handle__dw *dw = handle__dw_get();
    if (!beside_regular(file_name, debuglink_file))
        return dw->dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                                debuglink_file, debuglink_crc,
                                                debuginfo_file_name);
    return dw->dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
                                            debuglink_file, debuglink_crc, debuginfo_file_name);
}

/* HANDLE__SYM_DEBUGINFOD: one budget for the whole process (the tool has
 * one symbolizer and one thread). */
static const char *dinfod_prog = "handle-report";
static unsigned dinfod_budget = 30;
static double dinfod_deadline; /* CLOCK_MONOTONIC seconds; 0: no query yet */

void handle__sym_debuginfod_budget(const char *prog, unsigned seconds)
{
    dinfod_prog = prog;
    dinfod_budget = seconds;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Before a lookup that may ask debuginfod: one line on stderr before the
 * first query; each query may take what is left of the budget
 * (libdebuginfod reads DEBUGINFOD_TIMEOUT and DEBUGINFOD_MAXTIME at every
 * query); once it is spent, DEBUGINFOD_URLS is removed, so the lookups
 * that follow stay local. */
static void debuginfod_budget_step(void)
{
    double now = mono_seconds();
    if (dinfod_deadline == 0) {
        dinfod_deadline = now + dinfod_budget;
        fprintf(stderr,
                "%s: asking debuginfod (DEBUGINFOD_URLS) for missing debug files, "
                "for at most %u s in all...\n",
                dinfod_prog, dinfod_budget);
    }
    double left = dinfod_deadline - now;
    if (left < 1) {
        unsetenv("DEBUGINFOD_URLS");
        fprintf(stderr,
                "%s: debuginfod: time budget of %u s spent; the other modules are "
                "symbolized without it\n",
                dinfod_prog, dinfod_budget);
    } else {
        char v[32];
        snprintf(v, sizeof v, "%u", (unsigned)left);
        setenv("DEBUGINFOD_TIMEOUT", v, 1);
        setenv("DEBUGINFOD_MAXTIME", v, 1);
    }
}

/* libdwfl's find_debuginfo, both ways: first the local lookup by build-id
 * (which validates the build-id); then, when a debuginfod server is
 * configured, nothing more without debuginfod (so that nothing can reach
 * the network), or the budget's step with it; then the standard search
 * (which adds .gnu_debuglink, and debuginfod when configured). */
static int find_debuginfo(bool debuginfod, Dwfl_Module *mod, void **userdata,
                          const char *modname, Dwarf_Addr base, const char *file_name,
                          const char *debuglink_file, GElf_Word debuglink_crc,
                          char **debuginfo_file_name)
{
    const struct handle__dw *dw = handle__dw_get();
    int fd = dw->dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                              debuglink_file, debuglink_crc,
                                              debuginfo_file_name);
    if (fd >= 0)
        return fd;
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (urls && urls[0]) {
        if (!debuginfod)
            return -1;
        debuginfod_budget_step();
    }
    return standard_beside(mod, userdata, modname, base, file_name, debuglink_file,
                           debuglink_crc, debuginfo_file_name);
}

/* Without debuginfod (the default). */
static int find_debuginfo_local(Dwfl_Module *mod, void **userdata, const char *modname,
                                Dwarf_Addr base, const char *file_name,
                                const char *debuglink_file, GElf_Word debuglink_crc,
                                char **debuginfo_file_name)
{
    return find_debuginfo(false, mod, userdata, modname, base, file_name, debuglink_file,
                          debuglink_crc, debuginfo_file_name);
}

/* With debuginfod under a total time budget (HANDLE__SYM_DEBUGINFOD). */
static int find_debuginfo_budget(Dwfl_Module *mod, void **userdata, const char *modname,
                                 Dwarf_Addr base, const char *file_name,
                                 const char *debuglink_file, GElf_Word debuglink_crc,
                                 char **debuginfo_file_name)
{
    return find_debuginfo(true, mod, userdata, modname, base, file_name, debuglink_file,
                          debuglink_crc, debuginfo_file_name);
}

/* Loads libdw the first time a file is needed, not at creation: the
 * debug runtime makes a symbolizer only to print a report, and a report
 * whose stacks need no file never loads libdw. */
static const struct handle__dw *sym_dw(struct handle__symbolizer *s)
{
    if (!s->dw_tried) {
        s->dw_tried = true;
        if (s->flags & HANDLE__SYM_NO_DW)
            snprintf(s->dw_err, sizeof s->dw_err, "symbolization disabled");
        else if (handle__dw_load(s->dw_err, sizeof s->dw_err)) {
            s->dw = handle__dw_get();
            s->callbacks = s->dw->callbacks;
            s->callbacks.debuginfo_path = &s->debuginfo_path;
            if (s->flags & HANDLE__SYM_NO_DEBUGINFOD)
                s->callbacks.find_debuginfo = find_debuginfo_local;
            else if (s->flags & HANDLE__SYM_DEBUGINFOD)
                s->callbacks.find_debuginfo = find_debuginfo_budget;
            else
                s->callbacks.find_debuginfo = find_debuginfo_guarded;
        }
    }
    return s->dw;
}

void handle__sym_set_debuginfo_path(struct handle__symbolizer *s, const char *path)
{
    /* Interned: lives as long as s, and the Dwfls only read it. */
    s->debuginfo_path = path ? (char *)intern(s, path) : NULL;
}

static const char *libdw_exit_prog;
static int libdw_exit_code;

static void libdw_exit_check(void)
{
    if (fault_jmp == NULL) /* not inside libdw: an exit of the program's own */
        return;
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "%s: libdw ended the process while reading debug information "
                     "(out of memory?)\n",
                     libdw_exit_prog);
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(libdw_exit_code);
}

/* An exit() from inside a guarded libdw call (libdw's own out-of-memory
 * handler: error(EXIT_FAILURE, ...)) jumps back into the guarded call,
 * which treats it as a crash of libdw. Registered last, it runs first of
 * the exit handlers (the program's own, registered before, have not run). */
static void libdw_exit_recover(int status, void *arg)
{
    (void)status;
    (void)arg;
    sigjmp_buf *j = fault_jmp;
    if (j == NULL) /* not inside libdw: an exit of the program's own */
        return;
    fault_jmp = NULL;
    exit_caught = true;
    siglongjmp(*j, 1);
}

void handle__sym_catch_libdw_exit(void)
{
    on_exit(libdw_exit_recover, NULL);
}

void handle__sym_libdw_exit_status(const char *prog, int status)
{
    libdw_exit_prog = prog;
    libdw_exit_code = status;
    atexit(libdw_exit_check);
}

bool handle__sym_faulted(const struct handle__symbolizer *s)
{
    return s && s->faulted;
}

const char *handle__sym_error(struct handle__symbolizer *s)
{
    if (s->faulted)
        return s->dw_err;
    return sym_dw(s) ? NULL : s->dw_err;
}

void handle__sym_free(struct handle__symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        if (s->files[i].dwfl && !s->faulted) /* after a fault libdw's state is suspect */
            s->dw->dwfl_end(s->files[i].dwfl);
        free(s->files[i].cu_ranges);
    }
    guard_unref(s);
    free(s->files);
    free(s->files_ix.slot);
    free(s->mods);
    free(s->mods_ix.slot);
    free(s->cache);
    free(s->cache_ix.slot);
    free(s->stored);
    free(s->stored_ix.slot);
    free(s->frames);
    free(s->strs);
    free(s->strs_ix.slot);
    for (struct arena_chunk *c = s->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(s);
}

/* ---- modules and files -------------------------------------------------- */

struct file_key {
    const struct handle__symbolizer *s;
    const char *path, *build_id; /* both interned: compared by address */
};

static bool file_eq(const void *ctx, uint32_t idx)
{
    const struct file_key *k = ctx;
    const struct sym_file *f = &k->s->files[idx];
    return f->path == k->path && f->build_id == k->build_id;
}

static uint64_t file_hash(const void *owner, uint32_t idx)
{
    return ((const struct handle__symbolizer *)owner)->files[idx].hash;
}

struct mod_key {
    const struct handle__symbolizer *s;
    uint32_t id;
};

static bool mod_eq(const void *ctx, uint32_t idx)
{
    const struct mod_key *k = ctx;
    return k->s->mods[idx].id == k->id;
}

static uint64_t mod_hash(const void *owner, uint32_t idx)
{
    return hash_mix(((const struct handle__symbolizer *)owner)->mods[idx].id);
}

static struct sym_module *mod_by_id(struct handle__symbolizer *s, uint32_t id)
{
    struct mod_key k = {s, id};
    uint32_t i = itab_find(&s->mods_ix, hash_mix(id), mod_eq, &k);
    if (i == UINT32_MAX) {
        /* The index may have dropped it (out of memory): scan. */
        if (s->mods_ix.used == s->nmods)
            return NULL;
        for (size_t j = 0; j < s->nmods; j++)
            if (s->mods[j].id == id)
                return &s->mods[j];
        return NULL;
    }
    return &s->mods[i];
}

/* The build-id as lowercase hex with only hex digits kept; "" if none. */
static const char *norm_build_id(struct handle__symbolizer *s, const char *b)
{
    char buf[256];
    size_t n = 0;
    for (; b && *b && n + 1 < sizeof buf; b++)
        if (isxdigit((unsigned char)*b))
            buf[n++] = (char)tolower((unsigned char)*b);
    buf[n] = '\0';
    return intern_n(s, buf, n);
}

void handle__sym_add_module(struct handle__symbolizer *s, uint32_t id, const char *path,
                            const char *build_id, uintptr_t bias, uintptr_t lo, uintptr_t hi)
{
    if (!s || id == 0 || mod_by_id(s, id))
        return;
    const char *p = intern(s, path ? path : "");
    const char *b = norm_build_id(s, build_id);
    if (!p || !b)
        return;
    uint64_t h = hash_mix((uint64_t)(uintptr_t)p ^ hash_mix((uint64_t)(uintptr_t)b));
    struct file_key fk = {s, p, b};
    uint32_t fi = itab_find(&s->files_ix, h, file_eq, &fk);
    if (fi == UINT32_MAX) {
        if (s->nfiles >= UINT32_MAX - 1 ||
            !handle__grow(&s->files, &s->files_cap, s->nfiles + 1, sizeof *s->files))
            return;
        fi = (uint32_t)s->nfiles;
        s->files[fi] = (struct sym_file){.path = p, .build_id = b, .hash = h};
        itab_add(&s->files_ix, h, fi, file_hash, s);
        s->nfiles++;
    }
    if (s->nmods >= UINT32_MAX - 1 || !handle__grow(&s->mods, &s->mods_cap, s->nmods + 1, sizeof *s->mods))
        return;
    s->mods[s->nmods] = (struct sym_module){.id = id, .file = fi, .bias = bias, .lo = lo, .hi = hi};
    itab_add(&s->mods_ix, hash_mix(id), (uint32_t)s->nmods, mod_hash, s);
    s->nmods++;
}

static void hex(char *out, size_t outlen, const unsigned char *bits, int n)
{
    static const char digits[] = "0123456789abcdef";
    size_t j = 0;
    for (int i = 0; i < n && j + 2 < outlen; i++) {
        out[j++] = digits[bits[i] >> 4];
        out[j++] = digits[bits[i] & 15];
    }
    out[j] = '\0';
}

/* Opens path for reading if it is a regular file: O_NONBLOCK, so that a
 * FIFO (a module path in a hostile trace) does not block the open until a
 * writer comes, and then fstat. -1 with *why set otherwise. errno is
 * preserved (this also runs inside the debug runtime's host). */
static int open_regular(struct handle__symbolizer *s, const char *path, const char **why)
{
    int saved = errno;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat sb;
    if (fd < 0) {
        *why = internf(s, "%s: %s", path, strerror(errno));
    } else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *why = internf(s, "%s: not a regular file", path);
        close(fd);
        fd = -1;
    }
    errno = saved;
    return fd;
}

/* Reports the ELF file at path into a fresh Dwfl at bias 0 (so addresses
 * are ELF addresses) and checks its build-id against the recorded one.
 * Returns 1 and sets f->dwfl/f->mod on success; 0 on a build-id mismatch,
 * -1 when the file cannot be used; *why says why (interned). libdwfl gets
 * a descriptor of a regular file (open_regular), never the path. */
static int file_try(struct handle__symbolizer *s, struct sym_file *f, const char *path,
                    const char **why)
{
    const struct handle__dw *dw = s->dw;
    int fd = open_regular(s, path, why);
    if (fd < 0)
        return -1;
    Dwfl *dwfl = dw->dwfl_begin(&s->callbacks);
    if (!dwfl) {
        *why = internf(s, "%s", dw->dwfl_errmsg(-1));
        close(fd);
        return -1;
    }
    dw->dwfl_report_begin(dwfl);
    /* add_p_vaddr = true with base 0: the bias is 0 for ET_DYN too
     * (false would place the first PT_LOAD at base, which is not the bias
     * of a file whose first p_vaddr is not 0). On success libdwfl owns fd
     * (dwfl_end closes it); on failure it is still ours. */
    Dwfl_Module *mod = dw->dwfl_report_elf(dwfl, f->path, path, fd, 0, true);
    dw->dwfl_report_end(dwfl, NULL, NULL);
    if (!mod) {
        *why = internf(s, "%s: %s", path, dw->dwfl_errmsg(-1));
        close(fd);
        dw->dwfl_end(dwfl);
        return -1;
    }
    if (f->build_id[0]) {
        const unsigned char *bits = NULL;
        GElf_Addr vaddr;
        int n = dw->dwfl_module_build_id(mod, &bits, &vaddr);
        char have[256];
        hex(have, sizeof have, bits, n > 0 ? n : 0);
        if (strcmp(have, f->build_id) != 0) {
            *why = internf(s, "build-id mismatch: %s has %s, the trace recorded %s", path,
                           have[0] ? have : "none", f->build_id);
            dw->dwfl_end(dwfl);
            return 0;
        }
    }
    f->dwfl = dwfl;
    f->mod = mod;
    return 1;
}

/* Opens f on first use: the recorded path if it is still the recorded
 * build, else the separate debug file by build-id (it has the symbols,
 * the DWARF and the program headers: enough to symbolize a file that is
 * gone or was replaced). */
static void file_open(struct handle__symbolizer *s, struct sym_file *f)
{
    if (f->state != FILE_UNOPENED)
        return;
    if (!sym_dw(s)) {
        f->state = FILE_BAD;
        f->problem = intern(s, s->dw_err);
        return;
    }
    const char *why = NULL;
    enum file_state st = FILE_MISSING;
    struct stat sb;
    if (f->path[0] != '/') {
        /* "", "[vdso]", "linux-vdso.so.1": nothing to open, and a
         * relative name would be opened relative to our cwd. */
        why = f->path[0] ? internf(s, "%s: not an absolute path", f->path)
                         : intern(s, "no file name recorded");
    } else if (stat(f->path, &sb) != 0) {
        why = internf(s, "%s: %s", f->path, strerror(errno));
    } else {
        int r = file_try(s, f, f->path, &why);
        if (r == 1) {
            f->state = FILE_OK;
            return;
        }
        st = r == 0 ? FILE_CHANGED : FILE_BAD;
    }
    /* By build-id under each absolute entry of the debuginfo path (as
     * libdwfl does for separate debug files; an entry may start with '+'
     * or '-', its CRC-checking flags). */
    const char *dp = s->debuginfo_path ? s->debuginfo_path : DEFAULT_DEBUGINFO_PATH;
    while (strlen(f->build_id) > 2 && *dp) {
        const char *end = strchr(dp, ':');
        size_t len = end ? (size_t)(end - dp) : strlen(dp);
        const char *dir = dp;
        dp += len + (end ? 1 : 0);
        if (len > 0 && (*dir == '+' || *dir == '-')) {
            dir++;
            len--;
        }
        if (len == 0 || *dir != '/')
            continue;
        char dbg[PATH_MAX];
        int n = snprintf(dbg, sizeof dbg, "%.*s/.build-id/%.2s/%s.debug", (int)len, dir,
                         f->build_id, f->build_id + 2);
        const char *why2 = NULL;
        if (n > 0 && (size_t)n < sizeof dbg && stat(dbg, &sb) == 0 &&
            file_try(s, f, dbg, &why2) == 1) {
            f->state = FILE_OK;
            return;
        }
    }
    f->state = st;
    f->problem = why ? why : intern(s, "cannot open");
}

/* file_open() under the fault guard. */
static __attribute__((noinline)) void guarded_open(struct handle__symbolizer *s,
                                                   struct sym_file *f)
{
    sigjmp_buf jb;
    struct alt_save a;
    alt_enter(s, &a);
    if (sigsetjmp(jb, 0)) { /* SA_NODEFER: no mask to restore */
        alt_leave(&a);
        guard_faulted(s);
        return;
    }
    fault_jmp = &jb;
    file_open(s, f);
    fault_jmp = NULL;
    alt_leave(&a);
}

static struct sym_file *mod_file(struct handle__symbolizer *s, struct sym_module *m)
{
    struct sym_file *f = &s->files[m->file];
    if (f->state != FILE_UNOPENED)
        return f;
    if (s->faulted) {
        f->state = FILE_BAD;
        f->problem = intern(s, s->dw_err);
        return f;
    }
    guard_ref(s);
    guarded_open(s, f);
    if (s->faulted && f->state != FILE_BAD) {
        f->state = FILE_BAD;
        f->problem = intern(s, s->dw_err);
    }
    return f;
}

bool handle__sym_module_changed(struct handle__symbolizer *s, uint32_t id)
{
    struct sym_module *m = s ? mod_by_id(s, id) : NULL;
    return m && mod_file(s, m)->state == FILE_CHANGED;
}

const char *handle__sym_module_problem(struct handle__symbolizer *s, uint32_t id)
{
    struct sym_module *m = s ? mod_by_id(s, id) : NULL;
    if (!m || m->stored)
        return NULL;
    struct sym_file *f = mod_file(s, m);
    return f->state == FILE_OK ? NULL : f->problem;
}

/* ---- DWARF --------------------------------------------------------------- */

/* The name of a subprogram or inlined subroutine: its own DW_AT_name, else
 * the one of the DIE it refers to (DW_AT_abstract_origin for inlined and
 * out-of-line instances, DW_AT_specification for C++ member definitions),
 * else the linkage name. NULL if none. */
static const char *die_name(const struct handle__dw *dw, Dwarf_Die *die)
{
    Dwarf_Die cur = *die;
    /* Bounded: a malformed file may make the references a cycle. */
    for (int depth = 0; depth < 8; depth++) {
        const char *name = dw->dwarf_diename(&cur);
        if (name)
            return name;
        Dwarf_Attribute at;
        Dwarf_Attribute *a = dw->dwarf_attr(&cur, DW_AT_abstract_origin, &at);
        if (!a)
            a = dw->dwarf_attr(&cur, DW_AT_specification, &at);
        Dwarf_Die next;
        if (!a || !dw->dwarf_formref_die(a, &next))
            break;
        cur = next;
    }
    Dwarf_Attribute at;
    Dwarf_Attribute *a = dw->dwarf_attr_integrate(die, DW_AT_linkage_name, &at);
    if (!a)
        a = dw->dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at);
    return a ? dw->dwarf_formstring(a) : NULL;
}

/* The interned name of a function as ASan prints it: a C++ linkage name
 * demangled and qualified ("Session::open_leaky()"), else name as it is. */
static const char *fn_intern(struct handle__symbolizer *s, const char *name)
{
    char *d = handle__demangle(name);
    if (d == NULL)
        return intern(s, name);
    const char *r = intern(s, d);
    free(d);
    return r;
}

/* The function name of a subprogram or inlined subroutine, interned: its
 * linkage name demangled (qualified, with its parameters, as ASan shows
 * C++ frames), found through DW_AT_abstract_origin and
 * DW_AT_specification; else die_name's. */
static const char *die_fn(struct handle__symbolizer *s, Dwarf_Die *die)
{
    const struct handle__dw *dw = s->dw;
    Dwarf_Attribute at;
    Dwarf_Attribute *a = dw->dwarf_attr_integrate(die, DW_AT_linkage_name, &at);
    if (!a)
        a = dw->dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at);
    const char *ln = a ? dw->dwarf_formstring(a) : NULL;
    if (ln) {
        char *d = handle__demangle(ln);
        if (d) {
            const char *r = intern(s, d);
            free(d);
            return r;
        }
    }
    return fn_intern(s, die_name(dw, die));
}

static int attr_int(const struct handle__dw *dw, Dwarf_Die *die, unsigned name)
{
    Dwarf_Attribute at;
    Dwarf_Word v;
    Dwarf_Attribute *a = dw->dwarf_attr(die, name, &at);
    if (!a || dw->dwarf_formudata(a, &v) != 0 || v > INT32_MAX)
        return 0;
    return (int)v;
}

static int cu_range_cmp(const void *a, const void *b)
{
    const struct cu_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The CU holding address a, and its bias. dwfl_module_addrdie finds CUs
 * through .debug_aranges only and takes a missing section for "no code"
 * (libdw 0.188; sourceware bug 22288, also seen by dyninst PR 1581 with
 * 0.189), and clang does not emit the section unless -gdwarf-aranges, so
 * a clang-built program would get no lines at all. Then every CU's
 * DW_AT_low_pc/high_pc/ranges go into a sorted table, built once per file. CUs may nest their ranges
 * in any order, so the search walks back from the last range starting at
 * or below a over the few that could still hold it. */
static Dwarf_Die *cu_of(struct handle__symbolizer *s, struct sym_file *f, Dwarf_Addr a,
                        Dwarf_Addr *bias)
{
    const struct handle__dw *dw = s->dw;
    Dwarf_Die *cu = dw->dwfl_module_addrdie(f->mod, a, bias);
    if (cu)
        return cu;
    if (!f->cu_ranges_built) {
        f->cu_ranges_built = true;
        size_t cap = 0;
        Dwarf_Addr cbias = 0;
        for (Dwarf_Die *c = NULL; (c = dw->dwfl_module_nextcu(f->mod, c, &cbias)) != NULL;) {
            f->cu_bias = cbias;
            Dwarf_Addr base, lo, hi;
            for (ptrdiff_t off = 0; (off = dw->dwarf_ranges(c, off, &base, &lo, &hi)) > 0;) {
                if (hi <= lo)
                    continue;
                if (!handle__grow(&f->cu_ranges, &cap, f->ncu_ranges + 1, sizeof *f->cu_ranges))
                    break;
                f->cu_ranges[f->ncu_ranges++] = (struct cu_range){lo, hi, c};
            }
        }
        if (f->ncu_ranges > 1)
            qsort(f->cu_ranges, f->ncu_ranges, sizeof *f->cu_ranges, cu_range_cmp);
    }
    Dwarf_Addr da = a - f->cu_bias;
    size_t lo = 0, hi = f->ncu_ranges;
    while (lo < hi) { /* the first range with lo > da */
        size_t mid = lo + (hi - lo) / 2;
        if (f->cu_ranges[mid].lo <= da)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i-- > 0;) {
        if (da < f->cu_ranges[i].hi) {
            *bias = f->cu_bias;
            return f->cu_ranges[i].cu;
        }
        if (lo - i > 64)
            break;
    }
    return NULL;
}

/* Symbolizes ELF address addr (a return address) of f into out[0..max),
 * max >= 2; returns the count. Strings are interned. */
static size_t symbolize(struct handle__symbolizer *s, struct sym_file *f, Dwarf_Addr addr,
                        struct sym_cframe *out, size_t max)
{
    const struct handle__dw *dw = s->dw;
    Dwfl_Module *m = f->mod;
    Dwarf_Addr a = addr - 1; /* the call instruction, not the one after it */
    size_t n = 0;

    if (addr == 0 || dw->dwfl_addrmodule(f->dwfl, a) != m) {
        out[0] = (struct sym_cframe){0};
        return 1;
    }

    /* The ELF symbol: the fallback for the real function's name. */
    GElf_Off off;
    GElf_Sym sym;
    const char *elfname = dw->dwfl_module_addrinfo(m, a, &off, &sym, NULL, NULL, NULL);

    /* The CU, the line table's innermost location, and the scopes around
     * the address. dwarf_getscopes continues past an inlined subroutine
     * into its abstract origin's scopes; the concrete chain (the
     * inlined_subroutines up to the subprogram they were inlined into) is
     * dwarf_getscopes_die of the innermost scope. */
    Dwarf_Addr cubias = 0;
    Dwarf_Die *cu = cu_of(s, f, a, &cubias);
    const char *src = NULL;
    int line = 0, col = 0;
    Dwfl_Line *l = dw->dwfl_module_getsrc(m, a);
    if (l) {
        src = dw->dwfl_lineinfo(l, NULL, &line, &col, NULL, NULL);
    } else if (cu) {
        /* The CU came from our own table (see cu_of). */
        Dwarf_Line *dl = dw->dwarf_getsrc_die(cu, a - cubias);
        if (dl && (src = dw->dwarf_linesrc(dl, NULL, NULL)) != NULL) {
            dw->dwarf_lineno(dl, &line);
            dw->dwarf_linecol(dl, &col);
        }
    }
    if (!src)
        line = col = 0;

    Dwarf_Die *scopes = NULL;
    int ns = 0;
    if (cu && dw->dwarf_getscopes(cu, a - cubias, &scopes) > 0) {
        Dwarf_Die inner = scopes[0];
        free(scopes);
        scopes = NULL;
        ns = dw->dwarf_getscopes_die(&inner, &scopes);
        if (ns < 0)
            ns = 0;
    } else {
        free(scopes);
        scopes = NULL;
    }

    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    bool files_tried = false, real = false;
    for (int i = 0; i < ns && !real; i++) {
        Dwarf_Die *d = &scopes[i];
        int tag = dw->dwarf_tag(d);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
            tag != DW_TAG_entry_point)
            continue;
        struct sym_cframe fr = {
            .function = die_fn(s, d),
            .file = intern(s, src),
            .line = line,
            .column = col,
            .inlined = tag == DW_TAG_inlined_subroutine,
        };
        if (fr.inlined) {
            /* The next frame out is at this inline's call site. */
            line = attr_int(dw, d, DW_AT_call_line);
            col = attr_int(dw, d, DW_AT_call_column);
            src = NULL;
            Dwarf_Attribute at;
            Dwarf_Word fileno;
            Dwarf_Attribute *fa = dw->dwarf_attr(d, DW_AT_call_file, &at);
            if (fa && dw->dwarf_formudata(fa, &fileno) == 0) {
                if (!files_tried) {
                    files_tried = true;
                    Dwarf_Die cudie;
                    if (!dw->dwarf_diecu(d, &cudie, NULL, NULL) ||
                        dw->dwarf_getsrcfiles(&cudie, &files, &nfiles) != 0)
                        files = NULL;
                }
                if (files && fileno < nfiles)
                    src = dw->dwarf_filesrc(files, fileno, NULL, NULL);
            }
            if (!src)
                line = col = 0;
            /* Keep the innermost max - 1 inlined frames; the last slot is
             * the real function's. */
            if (n < max - 1)
                out[n++] = fr;
        } else {
            real = true;
            if (!fr.function)
                fr.function = fn_intern(s, elfname);
            out[n++] = fr;
        }
    }
    free(scopes);
    if (!real) {
        /* No DWARF for the address (or no subprogram around it): the ELF
         * symbol at the location reached so far. */
        out[n++] = (struct sym_cframe){
            .function = fn_intern(s, elfname),
            .file = intern(s, src),
            .line = line,
            .column = col,
        };
    }
    return n;
}

/* ---- lookups ------------------------------------------------------------- */

struct cache_key {
    const struct handle__symbolizer *s;
    uint32_t file;
    uint64_t addr;
};

/* symbolize() under the fault guard (0 frames after a fault). */
static __attribute__((noinline)) size_t guarded_symbolize(struct handle__symbolizer *s,
                                                          struct sym_file *f, Dwarf_Addr addr,
                                                          struct sym_cframe *out, size_t max)
{
    sigjmp_buf jb;
    struct alt_save a;
    alt_enter(s, &a);
    if (sigsetjmp(jb, 0)) { /* SA_NODEFER: no mask to restore */
        alt_leave(&a);
        guard_faulted(s);
        return 0;
    }
    fault_jmp = &jb;
    size_t n = symbolize(s, f, addr, out, max);
    fault_jmp = NULL;
    alt_leave(&a);
    return n;
}

static bool cache_eq(const void *ctx, uint32_t idx)
{
    const struct cache_key *k = ctx;
    const struct sym_centry *e = &k->s->cache[idx];
    return e->file == k->file && e->addr == k->addr;
}

static uint64_t cache_hash(const void *owner, uint32_t idx)
{
    return ((const struct handle__symbolizer *)owner)->cache[idx].hash;
}

static struct sym_module *mod_by_addr(struct handle__symbolizer *s, uintptr_t pc)
{
    /* The newest registration wins: after dlclose the trace keeps the old
     * module, and the range's current owner was registered later. */
    for (size_t i = s->nmods; i-- > 0;)
        if (pc - 1 >= s->mods[i].lo && pc - 1 < s->mods[i].hi)
            return &s->mods[i];
    return NULL;
}

static bool stored_eq(const void *ctx, uint32_t idx)
{
    const struct cache_key *k = ctx;
    const struct sym_centry *e = &k->s->stored[idx];
    return e->file == k->file && e->addr == k->addr;
}

static uint64_t stored_hash(const void *owner, uint32_t idx)
{
    return ((const struct handle__symbolizer *)owner)->stored[idx].hash;
}

static const struct sym_centry *stored_find(const struct handle__symbolizer *s, uint32_t id,
                                            uint64_t addr)
{
    struct cache_key k = {s, id, addr};
    uint32_t i = itab_find(&s->stored_ix, hash_mix(addr ^ hash_mix(id)), stored_eq, &k);
    return i == UINT32_MAX ? NULL : &s->stored[i];
}

void handle__sym_add_stored(struct handle__symbolizer *s, uint32_t id, uint64_t offset,
                            const struct handle__sym_frame *f, size_t n)
{
    struct sym_module *m = s ? mod_by_id(s, id) : NULL;
    if (!m || n == 0 || n > HANDLE__SYM_MAX_INLINE || stored_find(s, id, offset))
        return;
    if (s->nstored >= UINT32_MAX - 1 || s->nframes + n >= UINT32_MAX ||
        !handle__grow(&s->stored, &s->stored_cap, s->nstored + 1, sizeof *s->stored) ||
        !handle__grow(&s->frames, &s->frames_cap, s->nframes + n, sizeof *s->frames))
        return;
    for (size_t i = 0; i < n; i++)
        s->frames[s->nframes + i] = (struct sym_cframe){
            .function = intern(s, f[i].function),
            .file = intern(s, f[i].file),
            .line = f[i].file ? f[i].line : 0,
            .column = f[i].file ? f[i].column : 0,
            .inlined = i + 1 < n && f[i].inlined,
        };
    uint64_t h = hash_mix(offset ^ hash_mix(id));
    s->stored[s->nstored] = (struct sym_centry){
        .file = id, .first = (uint32_t)s->nframes, .count = (uint32_t)n, .addr = offset, .hash = h};
    itab_add(&s->stored_ix, h, (uint32_t)s->nstored, stored_hash, s);
    s->nstored++;
    s->nframes += n;
    m->stored = true;
}

size_t handle__sym_pc(struct handle__symbolizer *s, uint32_t module_id, uintptr_t pc,
                      struct handle__sym_frame *out, size_t max)
{
    if (max == 0)
        return 0;
    struct sym_module *m = NULL;
    if (s && pc != 0)
        m = module_id ? mod_by_id(s, module_id) : mod_by_addr(s, pc);
    struct handle__sym_frame base = {
        .pc = pc,
        .module = m ? s->files[m->file].path : "",
        .module_offset = m ? pc - m->bias : pc,
    };
    out[0] = base;
    if (!m || pc - m->bias == 0)
        return 1;
    uint64_t addr = pc - m->bias;
    struct sym_file *f = mod_file(s, m);
    const struct sym_cframe *fr;
    size_t n;
    if (f->state != FILE_OK) {
        /* The file is gone, changed or unreadable: the trace's own
         * symbols of this address, if it has them. */
        const struct sym_centry *e = m->stored ? stored_find(s, m->id, addr) : NULL;
        if (e == NULL)
            return 1;
        fr = s->frames + e->first;
        n = e->count;
        goto copy;
    }


    uint64_t h = hash_mix(addr ^ hash_mix(m->file));
    struct cache_key k = {s, m->file, addr};
    uint32_t ci = itab_find(&s->cache_ix, h, cache_eq, &k);
    struct sym_cframe tmp[HANDLE__SYM_MAX_INLINE];
    if (ci != UINT32_MAX) {
        fr = s->frames + s->cache[ci].first;
        n = s->cache[ci].count;
    } else {
        if (s->faulted)
            return 1;
        n = guarded_symbolize(s, f, addr, tmp, HANDLE__SYM_MAX_INLINE);
        if (s->faulted)
            return 1;
        fr = tmp;
        if (s->ncache < UINT32_MAX - 1 && s->nframes + n < UINT32_MAX &&
            handle__grow(&s->cache, &s->cache_cap, s->ncache + 1, sizeof *s->cache) &&
            handle__grow(&s->frames, &s->frames_cap, s->nframes + n, sizeof *s->frames)) {
            memcpy(s->frames + s->nframes, tmp, n * sizeof *tmp);
            s->cache[s->ncache] = (struct sym_centry){
                .file = m->file,
                .first = (uint32_t)s->nframes,
                .count = (uint32_t)n,
                .addr = addr,
                .hash = h,
            };
            itab_add(&s->cache_ix, h, (uint32_t)s->ncache, cache_hash, s);
            s->ncache++;
            s->nframes += n;
        }
    }
copy:;
    /* Too many for out: the innermost max - 1 and the real function. */
    size_t keep = n <= max ? n : max;
    for (size_t i = 0; i < keep; i++) {
        const struct sym_cframe *c = (i == keep - 1) ? &fr[n - 1] : &fr[i];
        out[i] = base;
        out[i].function = c->function;
        out[i].file = c->file;
        out[i].line = c->line;
        out[i].column = c->column;
        out[i].inlined = c->inlined;
    }
    return keep;
}
