/*
 * finding.c - see finding.h.
 */
#include "finding.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../report/decorate.h"

void handle__misuse_build(struct handle__misuse *m, int kind, handle_t h, const char *want_tag,
                          const uintptr_t *pcs, uint32_t depth)
{
    *m = (struct handle__misuse){
        .kind = kind,
        .h = h,
        .at_ns = handle__now_ns(),
        .thread = handle__thread_self(),
        .stack = handle__depot_put(pcs, depth),
        .pcs = pcs,
        .depth = depth,
        .want_tag = want_tag,
        .quarantine = handle__opt.quarantine,
    };
    if ((uint32_t)h != 0) {
        struct handle__side *s = handle__side_get((uint32_t)h, false);
        if (s && atomic_load_explicit(&s->h, memory_order_acquire) == h) {
            struct handle__side side = *s;
            m->known = true;
            m->tag = side.tag;
            m->created_thread = side.created_thread;
            m->created_stack = side.created_stack;
            if (side.deleted_ns) {
                m->deleted = true;
                m->deleted_thread = side.deleted_thread;
                m->deleted_stack = side.deleted_stack;
            }
        }
    }
    if (kind == HANDLE__OUT_OF_HANDLES)
        m->live = handle__core_live_count();
}

void handle__misuse_stacks(const struct handle__misuse *m, struct handle__stack st[3])
{
    uint32_t ids[3] = {m->stack, m->known ? m->created_stack : 0,
                       m->deleted ? m->deleted_stack : 0};
    for (int i = 0; i < 3; i++)
        if (!handle__depot_get(ids[i], &st[i]))
            st[i] = (struct handle__stack){0};
    if (m->stack == 0 && m->depth > 0) /* no room in the depot: modules looked up below */
        st[0] = (struct handle__stack){m->depth, m->pcs, NULL};
}

size_t handle__misuse_frames_max(const struct handle__stack *st, bool symbolized)
{
    return symbolized ? (size_t)st->depth * HANDLE__SYM_MAX_INLINE : st->depth;
}

size_t handle__misuse_frames(const struct handle__stack *st, struct handle__symbolizer *sym,
                             struct handle__sym_frame *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t d = 0; d < st->depth && n < cap; d++) {
        uintptr_t pc = st->pcs[d];
        uint32_t id = st->modules ? st->modules[d] : handle__module_of(pc);
        if (sym) {
            n += handle__sym_pc(sym, id, pc, out + n, cap - n);
            continue;
        }
        const struct handle__module *mod = handle__module_get(id);
        out[n++] = (struct handle__sym_frame){
            .pc = pc,
            .module = mod ? mod->path : "",
            .module_offset = mod ? pc - mod->bias : pc,
        };
    }
    return n;
}

void handle__misuse_text(struct handle__sb *b, const struct handle__misuse *m,
                         const struct handle__finding_stack st[3], const char *note)
{
    struct handle__finding f =
        handle__finding_init((long)getpid(), handle__kind_name(m->kind), m->h);
    f.thread = m->thread;
    f.tag = m->known ? handle__tag_get(m->tag) : NULL;
    f.stack = st[0];
    f.has_want_tag = true;
    f.want_tag = m->want_tag;
    f.quarantine = (int64_t)m->quarantine;
    if (m->kind == HANDLE__OUT_OF_HANDLES)
        f.live = (int64_t)m->live;
    if (m->known) {
        /* What the panic always printed: the creation beside a deletion,
         * or for a tag mismatch. */
        f.has_created = m->deleted || m->kind == HANDLE__TAG_MISMATCH;
        f.created_thread = m->created_thread;
        f.created = st[1];
        f.has_deleted = m->deleted;
        f.deleted_thread = m->deleted_thread;
        f.deleted = st[2];
    }
    f.note = note;
    handle__finding_text(b, &f);
}

struct handle__trace_error handle__misuse_trace(const struct handle__misuse *m,
                                                const char *message)
{
    return (struct handle__trace_error){
        .kind = handle__kind_name(m->kind),
        .handle = m->h,
        .at_ns = m->at_ns,
        .thread = m->thread,
        .stack = m->stack,
        .message = message ? message : "",
        .tag = m->known ? m->tag : 0,
        .created_thread = m->known ? m->created_thread : 0,
        .created_stack = m->known ? m->created_stack : 0,
        .deleted_thread = m->deleted ? m->deleted_thread : 0,
        .deleted_stack = m->deleted ? m->deleted_stack : 0,
    };
}

struct handle__symbolizer *handle__report_symbolizer(unsigned flags)
{
    handle__modules_refresh();
    struct handle__symbolizer *s = handle__sym_new_ex(flags);
    if (s == NULL)
        return NULL;
    handle__sym_catch_libdw_exit();
    uint32_t n = handle__module_count();
    for (uint32_t id = 1; id <= n; id++) {
        const struct handle__module *m = handle__module_get(id);
        if (m)
            handle__sym_add_module(s, id, m->path, m->build_id, m->bias, m->lo, m->hi);
    }
    return s;
}

void handle__report_write(const char *text, size_t len)
{
    if (handle__rt_color()) {
        struct handle__sb b = {0};
        handle__decorate(&b, text, len);
        bool ok = !b.oom && b.p != NULL;
        if (ok)
            handle__rt_write(b.p, b.len);
        handle__sb_free(&b);
        if (ok)
            return;
    }
    handle__rt_write(text, len);
}
