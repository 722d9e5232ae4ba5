/*
 * finding.c - the text of one misuse finding (see finding.h), in the
 * layout of SPEC section 4.
 */
#include "finding.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct handle__finding handle__finding_init(long pid, const char *kind, uint64_t handle)
{
    return (struct handle__finding){
        .pid = pid,
        .kind = kind ? kind : "?",
        .handle = handle,
        .thread = -1,
        .created_thread = -1,
        .deleted_thread = -1,
        .live = -1,
        .quarantine = -1,
    };
}

static void thread_name(struct handle__sb *b, int64_t t)
{
    if (t < 0)
        handle__sb_puts(b, "T?");
    else
        handle__sb_printf(b, "T%" PRId64, t);
}

static void stack(struct handle__sb *b, const struct handle__finding_stack *s)
{
    unsigned num = 0;
    if (s->n == 0)
        handle__sb_puts(b, "    <empty stack>\n");
    else
        handle__sb_frames(b, s->f, s->n, &num);
}

static void quoted_tag(struct handle__sb *b, const char *tag)
{
    if (tag) {
        handle__sb_putc(b, '"');
        handle__sb_escaped(b, tag);
        handle__sb_putc(b, '"');
    } else
        handle__sb_puts(b, "(none)");
}

static void deleted_here(struct handle__sb *b, const struct handle__finding *f)
{
    handle__sb_printf(b, "\nhandle 0x%" PRIx64, f->handle);
    if (f->tag) {
        handle__sb_puts(b, " (tag ");
        quoted_tag(b, f->tag);
        handle__sb_putc(b, ')');
    }
    handle__sb_puts(b, " was deleted by thread ");
    thread_name(b, f->deleted_thread);
    handle__sb_puts(b, " here:\n");
    stack(b, &f->deleted);
}

static void created_here(struct handle__sb *b, const struct handle__finding *f,
                         const char *lead)
{
    handle__sb_printf(b, "%s by thread ", lead);
    thread_name(b, f->created_thread);
    handle__sb_puts(b, " here:\n");
    stack(b, &f->created);
}

/* A deleted handle (double-delete, use-after-delete). */
static void after_delete(struct handle__sb *b, const struct handle__finding *f)
{
    if (f->has_deleted) {
        deleted_here(b, f);
        if (f->has_created)
            created_here(b, f, "\npreviously created");
        return;
    }
    handle__sb_printf(b,
                      "\nhandle 0x%" PRIx64 " was deleted, and its slot has been reused since, "
                      "so its history is gone (raise HANDLE_OPTIONS=quarantine=N",
                      f->handle);
    if (f->quarantine >= 0)
        handle__sb_printf(b, ", now %" PRId64, f->quarantine);
    handle__sb_puts(b, ").\n");
    if (f->has_created)
        created_here(b, f, "\ncreated");
}

void handle__finding_text(struct handle__sb *b, const struct handle__finding *f)
{
    const char *kind = f->kind ? f->kind : "?";
    handle__sb_puts(b, "=================================================================\n");
    handle__sb_printf(b, "==%ld==ERROR: HandleSanitizer: %s on handle 0x%" PRIx64 " in thread ",
                      f->pid, kind, f->handle);
    thread_name(b, f->thread);
    handle__sb_putc(b, '\n');
    stack(b, &f->stack);

    if (strcmp(kind, "invalid-handle") == 0) {
        if (f->handle == 0)
            handle__sb_puts(b, "\n0 is never a valid handle.\n");
        else
            handle__sb_printf(b, "\nhandle 0x%" PRIx64 " was never issued by this process.\n",
                              f->handle);
    } else if (strcmp(kind, "double-delete") == 0 || strcmp(kind, "use-after-delete") == 0) {
        after_delete(b, f);
    } else if (strcmp(kind, "tag-mismatch") == 0) {
        handle__sb_printf(b, "\nhandle 0x%" PRIx64 " has tag ", f->handle);
        quoted_tag(b, f->tag);
        if (f->has_want_tag) {
            handle__sb_puts(b, " but was resolved with tag ");
            quoted_tag(b, f->want_tag);
        } else {
            handle__sb_puts(b, " but was resolved with another tag");
        }
        handle__sb_puts(b, "; ");
        if (f->has_created)
            created_here(b, f, "it was created");
        else
            handle__sb_puts(b, "its creation is unknown.\n");
    } else if (strcmp(kind, "out-of-handles") == 0) {
        handle__sb_puts(b, "\nno handle could be created: the table or memory is exhausted");
        if (f->live >= 0)
            handle__sb_printf(b, " (%" PRId64 " handles live)", f->live);
        handle__sb_puts(b, ".\n");
    } else {
        /* A kind this version does not know (a newer trace): its stacks. */
        if (f->has_deleted)
            deleted_here(b, f);
        if (f->has_created)
            created_here(b, f, f->has_deleted ? "\npreviously created" : "\ncreated");
    }

    if (f->note && f->note[0]) {
        size_t n = strlen(f->note);
        handle__sb_printf(b, "\nNote: %s%s\n", f->note, f->note[n - 1] == '.' ? "" : ".");
    }
    handle__sb_printf(b, "\nSUMMARY: HandleSanitizer: %s ", kind);
    if (f->stack.n)
        handle__sb_location(b, f->stack.f, f->stack.n);
    else
        handle__sb_printf(b, "on handle 0x%" PRIx64, f->handle);
    handle__sb_putc(b, '\n');
}
