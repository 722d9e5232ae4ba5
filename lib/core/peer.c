/*
 * peer.c - the decision of which handle table serves the process, shared
 * by libhandle.so/libhandle.a and libhandle-debug.so (peer.h has the rules
 * and the note that lets one library find another's state).
 *
 * The whole decision runs inside the first callback of a dl_iterate_phdr
 * call: glibc holds its lock on the list of loaded objects across the
 * callbacks (a recursive lock), so two libraries deciding at once on two
 * threads are serialized, and each sees the other's outcome. Inside it we
 * only read memory and call dl_iterate_phdr again (recursively); dlsym,
 * which takes the other loader lock, is called before.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>

#include "peer.h"

struct scan {
    struct handle__peer *self;
    uintptr_t global_new;          /* dlsym(RTLD_DEFAULT, "handle_new") */
    struct handle__peer *owner;    /* a peer whose table serves the process */
    const char *owner_name;
    struct handle__peer *global_debug; /* the debug peer global_new lies in */
    const char *global_debug_name;
    uintptr_t self_lo, self_hi;    /* self's object: its executable segments */
    struct handle__peer *result;
    const char *result_name;
    bool decided;
};

/* The peer of one loaded object, or NULL: its note found and checked (the
 * peer lies in a writable segment of the same object, and is relocated). */
static struct handle__peer *peer_of(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= 12) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, p, 4);
            memcpy(&descsz, p + 4, 4);
            memcpy(&type, p + 8, 4);
            size_t nlen = ((size_t)namesz + 3u) & ~(size_t)3u;
            size_t dlen = ((size_t)descsz + 3u) & ~(size_t)3u;
            if (nlen > (size_t)(end - p) - 12 || dlen > (size_t)(end - p) - 12 - nlen)
                break;
            const unsigned char *desc = p + 12 + nlen;
            if (type == HANDLE__NOTE_PEER && namesz == 10 && descsz == 4 &&
                memcmp(p + 12, "libhandle", 10) == 0) {
                int32_t off;
                memcpy(&off, desc, 4);
                uintptr_t a = (uintptr_t)desc + (uintptr_t)(intptr_t)off;
                if (a % _Alignof(struct handle__peer) != 0)
                    return NULL;
                for (int j = 0; j < info->dlpi_phnum; j++) {
                    const ElfW(Phdr) *w = &info->dlpi_phdr[j];
                    uintptr_t lo = info->dlpi_addr + w->p_vaddr;
                    if (w->p_type != PT_LOAD || !(w->p_flags & PF_W) || a < lo ||
                        a + sizeof(struct handle__peer) > lo + w->p_memsz)
                        continue;
                    struct handle__peer *peer = (struct handle__peer *)a;
                    if (peer->magic == HANDLE__PEER_MAGIC &&
                        peer->version == HANDLE__PEER_VERSION && peer->self == peer &&
                        peer->api != NULL)
                        return peer;
                }
                return NULL;
            }
            p += 12 + nlen + dlen;
        }
    }
    return NULL;
}

/* Whether addr lies in one of the object's executable segments. */
static bool in_code(const struct dl_phdr_info *info, uintptr_t addr, uintptr_t *lo,
                    uintptr_t *hi)
{
    bool found = false;
    uintptr_t l = UINTPTR_MAX, h = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < l)
            l = a;
        if (a + ph->p_memsz > h)
            h = a + ph->p_memsz;
        if (addr >= a && addr < a + ph->p_memsz)
            found = true;
    }
    if (lo) {
        *lo = l;
        *hi = h;
    }
    return found;
}

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *s = arg;
    struct handle__peer *peer = peer_of(info);
    if (peer == NULL)
        return 0;
    if (peer == s->self) {
        in_code(info, 0, &s->self_lo, &s->self_hi);
        return 0;
    }
    if (s->owner == NULL &&
        atomic_load_explicit(&peer->state, memory_order_acquire) == HANDLE__PEER_OWNER) {
        s->owner = peer;
        s->owner_name = info->dlpi_name;
    }
    if (peer->kind == HANDLE__PEER_DEBUG && s->global_new != 0 &&
        in_code(info, s->global_new, NULL, NULL)) {
        s->global_debug = peer;
        s->global_debug_name = info->dlpi_name;
    }
    return 0;
}

/* Under the lock: self forwards to target from now on. */
static void forward_to(struct scan *s, struct handle__peer *target)
{
    struct handle__peer *self = s->self;
    uintptr_t lo = s->self_lo, hi = s->self_hi;
    uint32_t n = atomic_load_explicit(&target->nfrom, memory_order_relaxed);
    if (target->kind == HANDLE__PEER_DEBUG && self->own_object && lo < hi &&
        n < HANDLE__PEER_FROM) {
        atomic_store_explicit(&target->from[n].lo, lo, memory_order_relaxed);
        atomic_store_explicit(&target->from[n].hi, hi, memory_order_relaxed);
        atomic_store_explicit(&target->nfrom, n + 1, memory_order_release);
    }
    atomic_store_explicit(&self->to, target, memory_order_relaxed);
    atomic_store_explicit(&self->state, HANDLE__PEER_FORWARD, memory_order_release);
}

static int decide(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info;
    (void)size;
    struct scan *s = arg;
    if (s->decided)
        return 1;
    s->decided = true;
    struct handle__peer *self = s->self;
    int st = atomic_load_explicit(&self->state, memory_order_acquire);
    if (st == HANDLE__PEER_OWNER)
        return 1;
    if (st == HANDLE__PEER_FORWARD) {
        /* Decided by another thread of this library meanwhile. */
        s->result = atomic_load_explicit(&self->to, memory_order_relaxed);
        return 1;
    }
    dl_iterate_phdr(collect, s); /* the lock is recursive */
    if (s->owner != NULL) {
        forward_to(s, s->owner);
        s->result = s->owner;
        s->result_name = s->owner_name;
    } else if (self->kind == HANDLE__PEER_RELEASE && s->global_debug != NULL &&
               atomic_load_explicit(&s->global_debug->state, memory_order_relaxed) ==
                   HANDLE__PEER_UNDECIDED) {
        atomic_store_explicit(&s->global_debug->state, HANDLE__PEER_OWNER, memory_order_release);
        forward_to(s, s->global_debug);
        s->result = s->global_debug;
        s->result_name = s->global_debug_name;
    } else {
        atomic_store_explicit(&self->state, HANDLE__PEER_OWNER, memory_order_release);
    }
    return 1;
}

struct handle__peer *handle__peer_decide(struct handle__peer *self, const char **owner_name)
{
    int saved = errno;
    struct scan s;
    memset(&s, 0, sizeof s);
    s.self = self;
    if (owner_name)
        *owner_name = "";
    if (atomic_load_explicit(&self->state, memory_order_acquire) == HANDLE__PEER_UNDECIDED &&
        self->kind == HANDLE__PEER_RELEASE)
        s.global_new = (uintptr_t)dlsym(RTLD_DEFAULT, "handle_new");
    dl_iterate_phdr(decide, &s);
    if (!s.decided) /* no object listed at all: cannot happen; serve alone */
        atomic_store_explicit(&self->state, HANDLE__PEER_OWNER, memory_order_release);
    if (owner_name && s.result_name)
        *owner_name = s.result_name;
    errno = saved;
    return s.result;
}
