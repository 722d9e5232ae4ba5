/*
 * release.c - the entry points of libhandle.so / libhandle.a: the seven
 * public calls over the core table, and the release build's short panic
 * (two lines, no stacks, then abort()). It has no options and records
 * nothing; libhandle-debug.so exports the same symbols with diagnostics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/coverage.h"
#include "../core/fmt.h"
#include "../core/panic_hook.h"

/* SPEC section 3: both libraries hold a weak undefined reference to it so
 * that a program linked only against libhandle.so exports its definition
 * to a preloaded libhandle-debug.so. The release build never calls it. */
extern const char *__handle_default_options(void) __attribute__((weak));
__attribute__((used)) static const char *(*const keep_default_options)(void) =
    __handle_default_options;

__attribute__((noinline, cold, noreturn)) static void panic(int kind, handle_t h)
{
    char buf[512];
    struct handle__fmt f = {buf, 0, sizeof buf};
    handle__fmt_str(&f, "==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, "==ERROR: HandleSanitizer: ");
    handle__fmt_str(&f, handle__kind_name(kind));
    handle__fmt_str(&f, " on handle ");
    handle__fmt_hex(&f, h);
    handle__fmt_str(&f, "\n==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, "==HINT: run with LD_PRELOAD=libhandle-debug.so (or handle-run) "
                        "for creation and deletion stacks\n");
    if (handle__panic_hook)
        handle__panic_hook(kind, h, buf, f.len); /* test-only; may longjmp */
    handle__fmt_flush(&f, STDERR_FILENO);
    HANDLE__COVERAGE_DUMP();
    abort();
}

HANDLE_API handle_t handle_new(void *value)
{
    uint32_t idx = 0;
    handle_t h = handle__core_new(value, NULL, &idx);
    if (HANDLE__UNLIKELY(h == 0))
        panic(HANDLE__OUT_OF_HANDLES, 0);
    return h;
}

HANDLE_API handle_t handle_new_tagged(void *value, const char *tag)
{
    uint32_t idx = 0;
    handle_t h = handle__core_new(value, tag, &idx);
    if (HANDLE__UNLIKELY(h == 0))
        panic(HANDLE__OUT_OF_HANDLES, 0);
    return h;
}

/* Why a resolve failed, as a panic; cold and out of line so that the fast
 * paths stay leaf functions without a stack frame. */
__attribute__((noinline, cold, noreturn)) static void refused(handle_t h)
{
    int kind = handle__core_check(h);
    /* Live again is impossible; a racing delete makes it use-after-delete. */
    panic(kind == HANDLE__OK ? HANDLE__USE_AFTER_DELETE : kind, h);
}

HANDLE_API void *handle_value(handle_t h)
{
    void *v;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, NULL)))
        refused(h);
    return v;
}

HANDLE_API void *handle_value_tagged(handle_t h, const char *tag)
{
    void *v;
    const char *t;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, &t)))
        refused(h);
    if (HANDLE__UNLIKELY(!handle__tags_equal(t, tag)))
        panic(HANDLE__TAG_MISMATCH, h);
    return v;
}

HANDLE_API void handle_delete(handle_t h)
{
    uint32_t idx = 0;
    int kind = handle__core_delete(h, &idx, NULL);
    if (HANDLE__UNLIKELY(kind != HANDLE__OK))
        panic(kind, h);
    handle__core_release(idx);
}

HANDLE_API bool handle_lookup(handle_t h, void **value)
{
    return handle__core_lookup(h, value);
}

HANDLE_API size_t handle_live_count(void)
{
    return handle__core_live_count(); /* preserves errno */
}
