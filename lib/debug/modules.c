/*
 * modules.c - the loaded modules of the process (path, build-id, load
 * bias, mapped range), found with dl_iterate_phdr and kept after dlclose
 * (with an unload time), so that a stack captured in a plugin that is gone
 * by the time of the report still symbolizes.
 *
 * A pc that no known loaded module contains triggers a rescan, unless
 * dl_iterate_phdr's load/unload counters (dlpi_adds/dlpi_subs) say nothing
 * changed since the last one; handle__modules_sync() rescans whenever
 * they moved, so that a module unloaded and another mapped at its
 * address are two rows (the first with its unload time), and a pc
 * resolves to the module loaded there at the time (issue 12 item 10). dl_iterate_phdr is always called without
 * `lock` held (a constructor of a module being dlopen'ed may call into us
 * with the loader lock held): the scan collects into a private list and
 * merges it under the lock afterwards. Entries live in an append-only
 * directory; module data is never freed.
 */
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "model.h"

#define MAX_MODULES 65536u
#define PAGE 256u

static _Atomic(struct handle__module *) pages[MAX_MODULES / PAGE];
static _Atomic uint32_t count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long long seen_adds, seen_subs;

struct found {
    uintptr_t bias, lo, hi;
    char *path;
    char build_id[41];
};
struct scan {
    struct found *v;
    size_t n, cap;
    unsigned long long adds, subs;
};

const struct handle__module *handle__module_get(uint32_t id)
{
    if (id == 0 || id > atomic_load_explicit(&count, memory_order_acquire))
        return NULL;
    struct handle__module *p = atomic_load_explicit(&pages[(id - 1) / PAGE], memory_order_acquire);
    return p ? &p[(id - 1) % PAGE] : NULL;
}

uint32_t handle__module_count(void)
{
    return atomic_load_explicit(&count, memory_order_acquire);
}

static void hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = "0123456789abcdef"[b[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The NT_GNU_BUILD_ID note of a mapped module, as hex, or "". */
static void build_id_of(const struct dl_phdr_info *info, char out[41])
{
    out[0] = '\0';
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
            size_t name = (nh->n_namesz + 3u) & ~3u, desc = (nh->n_descsz + 3u) & ~3u;
            const char *d = p + sizeof *nh + name;
            if (d + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(p + sizeof *nh, "GNU", 4) == 0) {
                size_t n = nh->n_descsz > 20 ? 20 : nh->n_descsz;
                hex(out, (const unsigned char *)d, n);
                return;
            }
            p = d + desc;
        }
    }
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *s = arg;
    s->adds = info->dlpi_adds;
    s->subs = info->dlpi_subs;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (hi == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct found *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return 1;
        s->v = v;
        s->cap = cap;
    }
    struct found *f = &s->v[s->n];
    f->bias = info->dlpi_addr;
    f->lo = lo;
    f->hi = hi;
    const char *name = info->dlpi_name;
    char exe[4096];
    if (name == NULL || name[0] == '\0') {
        /* The main program (the first entry) has no name. */
        ssize_t n = s->n == 0 ? readlink("/proc/self/exe", exe, sizeof exe - 1) : -1;
        exe[n > 0 ? n : 0] = '\0';
        name = exe;
    }
    f->path = strdup(name);
    if (f->path == NULL)
        return 1;
    build_id_of(info, f->build_id);
    s->n++;
    return 0;
}

static bool same(const struct handle__module *m, const struct found *f)
{
    return m->bias == f->bias && m->lo == f->lo && m->hi == f->hi &&
           strcmp(m->path, f->path) == 0 && strcmp(m->build_id, f->build_id) == 0;
}

/* Rescans the loaded modules and merges them into the table. */
static void rescan(void)
{
    struct scan s = {0};
    handle__dl_iterate_phdr(scan_cb, &s);
    uint64_t now = handle__now_ns();
    pthread_mutex_lock(&lock);
    uint32_t n = atomic_load_explicit(&count, memory_order_relaxed);
    /* Loaded modules that are gone are marked unloaded. */
    for (uint32_t id = 1; id <= n; id++) {
        struct handle__module *m = (struct handle__module *)handle__module_get(id);
        if (atomic_load_explicit(&m->unloaded_ns, memory_order_relaxed) != 0)
            continue;
        bool present = false;
        for (size_t i = 0; i < s.n && !present; i++)
            present = same(m, &s.v[i]);
        if (!present)
            atomic_store_explicit(&m->unloaded_ns, now ? now : 1, memory_order_release);
    }
    for (size_t i = 0; i < s.n; i++) {
        bool known = false;
        for (uint32_t id = 1; id <= n && !known; id++) {
            const struct handle__module *m = handle__module_get(id);
            known = atomic_load_explicit(&m->unloaded_ns, memory_order_relaxed) == 0 &&
                    same(m, &s.v[i]);
        }
        uint32_t id = atomic_load_explicit(&count, memory_order_relaxed) + 1;
        if (known || id > MAX_MODULES) {
            free(s.v[i].path);
            continue;
        }
        struct handle__module *page = atomic_load_explicit(&pages[(id - 1) / PAGE],
                                                           memory_order_relaxed);
        char *bid = strdup(s.v[i].build_id);
        if (page == NULL) {
            page = calloc(PAGE, sizeof *page);
            if (page == NULL)
                goto oom;
            atomic_store_explicit(&pages[(id - 1) / PAGE], page, memory_order_release);
        }
        if (bid == NULL) {
        oom:
            free(bid);
            free(s.v[i].path);
            continue;
        }
        struct handle__module *m = &page[(id - 1) % PAGE];
        m->id = id;
        m->bias = s.v[i].bias;
        m->lo = s.v[i].lo;
        m->hi = s.v[i].hi;
        m->path = s.v[i].path;
        m->build_id = bid;
        m->loaded_ns = now;
        atomic_store_explicit(&m->unloaded_ns, 0, memory_order_relaxed);
        atomic_store_explicit(&count, id, memory_order_release);
    }
    atomic_store_explicit(&seen_adds, s.adds, memory_order_relaxed);
    atomic_store_explicit(&seen_subs, s.subs, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    free(s.v);
}

static uint32_t find_loaded(uintptr_t pc)
{
    uint32_t n = atomic_load_explicit(&count, memory_order_acquire);
    for (uint32_t id = n; id >= 1; id--) { /* newest first: a reused range belongs to the newest */
        const struct handle__module *m = handle__module_get(id);
        if (m && pc >= m->lo && pc < m->hi &&
            atomic_load_explicit(&m->unloaded_ns, memory_order_acquire) == 0)
            return id;
    }
    return 0;
}

static int counters_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    unsigned long long *c = arg;
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
    return 1; /* the counters are the same in every entry: stop at the first */
}

void handle__modules_sync(void)
{
    unsigned long long c[2] = {0, 0};
    handle__dl_iterate_phdr(counters_cb, c);
    if (atomic_load_explicit(&count, memory_order_acquire) != 0 &&
        c[0] == atomic_load_explicit(&seen_adds, memory_order_relaxed) &&
        c[1] == atomic_load_explicit(&seen_subs, memory_order_relaxed))
        return;
    rescan();
}

uint32_t handle__module_of(uintptr_t pc)
{
    uint32_t id = find_loaded(pc);
    if (id != 0)
        return id;
    unsigned long long c[2] = {0, 0};
    handle__dl_iterate_phdr(counters_cb, c);
    if (atomic_load_explicit(&count, memory_order_acquire) != 0 &&
        c[0] == atomic_load_explicit(&seen_adds, memory_order_relaxed) &&
        c[1] == atomic_load_explicit(&seen_subs, memory_order_relaxed))
        return 0; /* nothing was loaded or unloaded: pc is in no module (JIT code...) */
    rescan();
    return find_loaded(pc);
}

void handle__modules_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE) {
        pthread_mutex_lock(&lock);
        return;
    }
    if (phase == HANDLE__FORK_CHILD) {
        /* The child's clock starts at its fork (handle__clock_rebase_child):
         * every module it inherits was loaded before that, and one
         * unloaded already was unloaded before it too. */
        uint32_t n = atomic_load_explicit(&count, memory_order_relaxed);
        for (uint32_t id = 1; id <= n; id++) {
            struct handle__module *m = (struct handle__module *)handle__module_get(id);
            m->loaded_ns = 0;
            if (atomic_load_explicit(&m->unloaded_ns, memory_order_relaxed) != 0)
                atomic_store_explicit(&m->unloaded_ns, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&lock);
}

void handle__modules_refresh(void)
{
    rescan();
}
