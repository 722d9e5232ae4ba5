/*
 * test_symbolize.c - the libdw symbolizer of lib/report against the running
 * test itself: return addresses captured at run time in a -g -O2 fixture
 * (report_fixtures/inline_fixture.c, linked in, and a copy in a shared
 * library whose DWARF was split into a separate .debug file), modules
 * reported from dl_iterate_phdr as the debug runtime records them.
 *
 * Built twice: test_symbolize links handle_report (-ldw), and
 * test_symbolize_dl links handle_report_dl (libdw dlopen'ed RTLD_LOCAL;
 * TEST_DW_DLOPEN defined), with the same expectations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inline_fixture.h"
#include "report/demangle.h"
#include "report/symbolize.h"
#include "report/text.h"

#ifndef FIXTURE_SO
#error "FIXTURE_SO: the path of the shared fixture library"
#endif

/* ---- the process's modules, as the debug runtime records them ---------- */

struct tmod {
    uint32_t id;
    char path[PATH_MAX];
    char build_id[129];
    uintptr_t bias, lo, hi;
};

static struct tmod mods[512];
static size_t nmods;

static void note_build_id(struct tmod *m, const char *p, size_t len)
{
    while (len >= sizeof(ElfW(Nhdr))) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
        size_t name_sz = (nh->n_namesz + 3) & ~(size_t)3;
        size_t desc_sz = (nh->n_descsz + 3) & ~(size_t)3;
        size_t total = sizeof *nh + name_sz + desc_sz;
        if (total > len)
            return;
        const char *name = p + sizeof *nh;
        const unsigned char *desc = (const unsigned char *)name + name_sz;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            nh->n_descsz * 2 < sizeof m->build_id) {
            for (size_t i = 0; i < nh->n_descsz; i++)
                sprintf(m->build_id + 2 * i, "%02x", desc[i]);
            return;
        }
        p += total;
        len -= total;
    }
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (nmods == sizeof mods / sizeof mods[0])
        return 1;
    struct tmod *m = &mods[nmods];
    memset(m, 0, sizeof *m);
    const char *name = info->dlpi_name;
    if (nmods == 0 && (!name || !name[0])) {
        ssize_t n = readlink("/proc/self/exe", m->path, sizeof m->path - 1);
        if (n > 0)
            m->path[n] = '\0';
    } else if (name) {
        snprintf(m->path, sizeof m->path, "%s", name);
    }
    m->bias = info->dlpi_addr;
    m->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            if (start < m->lo)
                m->lo = start;
            if (start + ph->p_memsz > m->hi)
                m->hi = start + ph->p_memsz;
        } else if (ph->p_type == PT_NOTE && !m->build_id[0]) {
            note_build_id(m, (const char *)start, ph->p_memsz);
        }
    }
    m->id = (uint32_t)nmods + 1;
    nmods++;
    return 0;
}

static const struct tmod *mod_of(uintptr_t pc)
{
    for (size_t i = 0; i < nmods; i++)
        if (pc - 1 >= mods[i].lo && pc - 1 < mods[i].hi)
            return &mods[i];
    return NULL;
}

static struct handle__symbolizer *new_sym(void)
{
    struct handle__symbolizer *s = handle__sym_new();
    assert_non_null(s);
    for (size_t i = 0; i < nmods; i++)
        handle__sym_add_module(s, mods[i].id, mods[i].path, mods[i].build_id, mods[i].bias,
                               mods[i].lo, mods[i].hi);
    return s;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The shared fixture, and two directories that hold its separate debug
 * file under .build-id/, as a debug package would install it: as objcopy
 * made it, and without .debug_aranges (as clang makes it), which libdw
 * cannot map addresses to CUs with. */
static void *so_lib;
static uintptr_t (*so_outer)(struct fx_lines *);
static uintptr_t (*so_plain)(struct fx_lines *);

struct debug_root {
    const char *target;
    char root[512], dir[600], link[1024];
};
static struct debug_root roots[2] = {
    {.target = FIXTURE_SO ".debug"},
    {.target = FIXTURE_SO ".noaranges.debug"},
};
#define dbg_root (roots[0].root)

static int make_root(struct debug_root *r, const char *build_id)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(r->root, sizeof r->root, "%s/handle-symtest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->root))
        return -1;
    char bid_dir[600];
    snprintf(bid_dir, sizeof bid_dir, "%s/.build-id", r->root);
    snprintf(r->dir, sizeof r->dir, "%s/.build-id/%.2s", r->root, build_id);
    snprintf(r->link, sizeof r->link, "%s/%s.debug", r->dir, build_id + 2);
    if (mkdir(bid_dir, 0700) != 0 || mkdir(r->dir, 0700) != 0 || symlink(r->target, r->link) != 0)
        return -1;
    return 0;
}

static void remove_root(struct debug_root *r)
{
    if (r->link[0])
        unlink(r->link);
    if (r->dir[0])
        rmdir(r->dir);
    if (r->root[0]) {
        char bid_dir[600];
        snprintf(bid_dir, sizeof bid_dir, "%s/.build-id", r->root);
        rmdir(bid_dir);
        rmdir(r->root);
    }
}

static int group_setup(void **state)
{
    (void)state;
    so_lib = dlopen(FIXTURE_SO, RTLD_NOW | RTLD_LOCAL);
    if (!so_lib) {
        fprintf(stderr, "dlopen %s: %s\n", FIXTURE_SO, dlerror());
        return -1;
    }
    void *p = dlsym(so_lib, "fxso_outer");
    memcpy(&so_outer, &p, sizeof p);
    p = dlsym(so_lib, "fxso_plain");
    memcpy(&so_plain, &p, sizeof p);
    if (!so_outer || !so_plain)
        return -1;
    dl_iterate_phdr(phdr_cb, NULL);

    const struct tmod *m = mod_of((uintptr_t)p + 1);
    if (!m || strlen(m->build_id) < 3) {
        fprintf(stderr, "no build-id in %s\n", FIXTURE_SO);
        return -1;
    }
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (make_root(&roots[i], m->build_id) != 0)
            return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        remove_root(&roots[i]);
    if (so_lib)
        dlclose(so_lib);
    return 0;
}

static void assert_frame(const struct handle__sym_frame *f, uintptr_t pc, const char *function,
                         const char *file_base, int line, bool inlined)
{
    const struct tmod *m = mod_of(pc);
    assert_non_null(m);
    assert_int_equal(f->pc, pc);
    assert_non_null(f->module);
    assert_string_equal(f->module, m->path);
    assert_int_equal(f->module_offset, pc - m->bias);
    if (!function) {
        assert_null(f->function);
    } else {
        assert_non_null(f->function);
        assert_string_equal(f->function, function);
    }
    if (!file_base) {
        assert_null(f->file);
        assert_int_equal(f->line, 0);
    } else {
        assert_non_null(f->file);
        assert_string_equal(base_name(f->file), file_base);
        assert_int_equal(f->line, line);
    }
    assert_int_equal(f->inlined, inlined);
}

/* ---- tests ----------------------------------------------------------------- */

/* The preloaded runtime must not load libdw until it symbolizes, and then
 * only privately (RTLD_LOCAL): its symbols never reach the host's scope. */
static void test_libdw_loaded_only_when_symbolizing_and_privately(void **state)
{
    (void)state;
#ifdef TEST_DW_DLOPEN
    assert_null(dlopen("libdw.so.1", RTLD_NOW | RTLD_NOLOAD));
#endif
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
#ifdef TEST_DW_DLOPEN
    assert_null(dlopen("libdw.so.1", RTLD_NOW | RTLD_NOLOAD));
#endif
    struct handle__sym_frame f[8];
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 8), 1);
    assert_null(handle__sym_error(s));
    void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    dlclose(h);
#ifdef TEST_DW_DLOPEN
    assert_null(dlsym(RTLD_DEFAULT, "dwfl_begin"));
#endif
    handle__sym_free(s);
}

static void test_plain_function_gives_its_name_and_the_calls_line(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
    struct handle__sym_frame f[8];
    size_t n = handle__sym_pc(s, 0, pc, f, 8);
    assert_int_equal(n, 1);
    assert_frame(&f[0], pc, "fx_plain", "inline_fixture.c", l.capture, false);
    /* By module id: the same answer. */
    n = handle__sym_pc(s, mod_of(pc)->id, pc, f, 8);
    assert_int_equal(n, 1);
    assert_frame(&f[0], pc, "fx_plain", "inline_fixture.c", l.capture, false);
    handle__sym_free(s);
}

static void test_inline_chain_innermost_first_real_function_last(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_outer(&l);
    struct handle__sym_frame f[8];
    size_t n = handle__sym_pc(s, 0, pc, f, 8);
    assert_int_equal(n, 3);
    assert_frame(&f[0], pc, "inner_helper", "inline_fixture.c", l.capture, true);
    assert_frame(&f[1], pc, "outer_helper", "inline_fixture.c", l.inner_call, true);
    assert_frame(&f[2], pc, "fx_outer", "inline_fixture.c", l.outer_call, false);
    handle__sym_free(s);
}

static void __attribute__((noinline)) capture_here(uintptr_t *pc, int *line)
{
    *pc = fx_capture(line, __LINE__);
    __asm__ volatile("" ::: "memory");
}

static void test_code_of_the_test_itself(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    uintptr_t pc;
    int line;
    capture_here(&pc, &line);
    struct handle__sym_frame f[8];
    size_t n = handle__sym_pc(s, 0, pc, f, 8);
    assert_int_equal(n, 1);
    assert_frame(&f[0], pc, "capture_here", "test_symbolize.c", line, false);
    handle__sym_free(s);
}

static void test_cut_chain_keeps_innermost_and_real_function(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_outer(&l);
    struct handle__sym_frame f[2];
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 1), 1);
    assert_frame(&f[0], pc, "fx_outer", "inline_fixture.c", l.outer_call, false);
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 2), 2);
    assert_frame(&f[0], pc, "inner_helper", "inline_fixture.c", l.capture, true);
    assert_frame(&f[1], pc, "fx_outer", "inline_fixture.c", l.outer_call, false);
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 0), 0);
    handle__sym_free(s);
}

static void test_cached_answers_share_strings(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_outer(&l);
    struct handle__sym_frame a[8], b[8];
    size_t na = handle__sym_pc(s, 0, pc, a, 8);
    size_t nb = handle__sym_pc(s, 0, pc, b, 8);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    for (size_t i = 0; i < na; i++) {
        assert_ptr_equal(a[i].function, b[i].function);
        assert_ptr_equal(a[i].file, b[i].file);
    }
    /* The same file under another id and load address (another process
     * of the same program): symbolized by ELF address, so from the same
     * cache entry, with that module's pc and offset. */
    const struct tmod *m = mod_of(pc);
    uintptr_t shift = 0x10000000;
    handle__sym_add_module(s, 1000, m->path, m->build_id, m->bias + shift, m->lo + shift,
                           m->hi + shift);
    nb = handle__sym_pc(s, 1000, pc + shift, b, 8);
    assert_int_equal(nb, 3);
    for (size_t i = 0; i < nb; i++) {
        assert_ptr_equal(a[i].function, b[i].function);
        assert_int_equal(b[i].pc, pc + shift);
        assert_int_equal(b[i].module_offset, a[i].module_offset);
    }
    handle__sym_free(s);
}

static void test_changed_build_id_gives_module_offset_only(void **state)
{
    (void)state;
    struct fx_lines l;
    uintptr_t pc = fx_outer(&l);
    const struct tmod *m = mod_of(pc);
    struct handle__symbolizer *s = handle__sym_new();
    assert_non_null(s);
    handle__sym_add_module(s, 7, m->path, "00112233445566778899aabbccddeeff00112233", m->bias,
                           m->lo, m->hi);
    struct handle__sym_frame f[8];
    assert_int_equal(handle__sym_pc(s, 7, pc, f, 8), 1);
    assert_frame(&f[0], pc, NULL, NULL, 0, false);
    assert_true(handle__sym_module_changed(s, 7));
    const char *why = handle__sym_module_problem(s, 7);
    assert_non_null(why);
    assert_non_null(strstr(why, "build-id mismatch"));
    assert_non_null(strstr(why, m->build_id));
    /* The right build-id (any case) is not a change. */
    char upper[sizeof m->build_id];
    for (size_t i = 0; i <= strlen(m->build_id); i++)
        upper[i] = (char)(m->build_id[i] >= 'a' && m->build_id[i] <= 'f' ? m->build_id[i] - 32
                                                                          : m->build_id[i]);
    handle__sym_add_module(s, 8, m->path, upper, m->bias, m->lo, m->hi);
    assert_false(handle__sym_module_changed(s, 8));
    assert_null(handle__sym_module_problem(s, 8));
    assert_int_equal(handle__sym_pc(s, 8, pc, f, 8), 3);
    handle__sym_free(s);
}

static void test_missing_file_gives_module_offset_only(void **state)
{
    (void)state;
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
    const struct tmod *m = mod_of(pc);
    struct handle__symbolizer *s = handle__sym_new();
    assert_non_null(s);
    handle__sym_add_module(s, 3, "/nonexistent/dir/libgone.so", "", m->bias, m->lo, m->hi);
    handle__sym_add_module(s, 4, "[vdso]", NULL, m->bias, m->lo, m->hi);
    struct handle__sym_frame f[8];
    for (uint32_t id = 3; id <= 4; id++) {
        assert_int_equal(handle__sym_pc(s, id, pc, f, 8), 1);
        assert_null(f[0].function);
        assert_null(f[0].file);
        assert_int_equal(f[0].module_offset, pc - m->bias);
        assert_false(handle__sym_module_changed(s, id));
        assert_non_null(handle__sym_module_problem(s, id));
    }
    assert_string_equal(f[0].module, "[vdso]");
    assert_non_null(strstr(handle__sym_module_problem(s, 3), "No such file"));
    handle__sym_free(s);
}

/* Issue 12 item 12: a module whose file is gone, with frames the trace
 * stored for its addresses: those frames, inlined ones first; other
 * addresses of it stay module+offset; no problem is reported for it. */
static void test_gone_file_symbolized_from_stored_frames(void **state)
{
    (void)state;
    struct handle__symbolizer *s = handle__sym_new();
    assert_non_null(s);
    handle__sym_add_module(s, 7, "/nonexistent/dir/libgone.so", "00112233", 0x7f0000000000,
                           0x7f0000000000, 0x7f0000100000);
    struct handle__sym_frame in[2] = {
        {.function = "inner", .file = "/src/a.h", .line = 3, .column = 5, .inlined = true},
        {.function = "ns::C::outer(int) const", .file = "/src/a.c", .line = 40},
    };
    handle__sym_add_stored(s, 7, 0x1234, in, 2);
    handle__sym_add_stored(s, 7, 0x1234, in, 1); /* a second registration: ignored */
    handle__sym_add_stored(s, 99, 0x1234, in, 1); /* an unknown module: ignored */
    struct handle__sym_frame f[8];
    assert_int_equal(handle__sym_pc(s, 7, 0x7f0000001234, f, 8), 2);
    assert_string_equal(f[0].function, "inner");
    assert_string_equal(f[0].file, "/src/a.h");
    assert_int_equal(f[0].line, 3);
    assert_true(f[0].inlined);
    assert_string_equal(f[1].function, "ns::C::outer(int) const");
    assert_int_equal(f[1].line, 40);
    assert_false(f[1].inlined);
    assert_int_equal(f[1].module_offset, 0x1234);
    assert_string_equal(f[1].module, "/nonexistent/dir/libgone.so");
    assert_int_equal(handle__sym_pc(s, 7, 0x7f0000005678, f, 8), 1);
    assert_null(f[0].function);
    assert_null(handle__sym_module_problem(s, 7));
    handle__sym_free(s);
}

/* Issue 12 item 11: the demangler, and a name without its parameters. */
static void test_demangle_and_base_names(void **state)
{
    (void)state;
    char *d = handle__demangle("_ZN9JavaCalls11call_helperEP9JavaValueP10JavaThread");
    assert_non_null(d);
    assert_string_equal(d, "JavaCalls::call_helper(JavaValue*, JavaThread*)");
    free(d);
    assert_null(handle__demangle("main"));
    assert_null(handle__demangle("_Znot a name"));
    assert_int_equal(handle__fn_base_len("Session::open_leaky()"), strlen("Session::open_leaky"));
    assert_int_equal(handle__fn_base_len("ns::C::f(int) const"), strlen("ns::C::f"));
    assert_int_equal(handle__fn_base_len("A::operator()(int)"), strlen("A::operator()"));
    assert_int_equal(handle__fn_base_len("f(int) [clone .cold]"), 1);
    assert_int_equal(handle__fn_base_len("(anonymous namespace)::g(char*)"),
                     strlen("(anonymous namespace)::g"));
    assert_int_equal(handle__fn_base_len("plain_c"), strlen("plain_c"));
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* A module path in a hostile trace naming a FIFO (libdwfl blocked in its
 * open until a writer came) or a device: not opened as an ELF file, the
 * frame is module+offset, the problem says why, no descriptor is left. */
static void test_fifo_or_device_module_is_not_opened(void **state)
{
    (void)state;
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
    const struct tmod *m = mod_of(pc);
    char dir[] = "/tmp/symfifo.XXXXXX", fifo[64];
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/lib.so", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int fds = count_fds();
    struct handle__symbolizer *s = handle__sym_new();
    assert_non_null(s);
    handle__sym_add_module(s, 3, fifo, "", m->bias, m->lo, m->hi);
    handle__sym_add_module(s, 4, "/dev/zero", "", m->bias, m->lo, m->hi);
    alarm(20); /* a hang is a failure, not a stuck test */
    struct handle__sym_frame f[8];
    for (uint32_t id = 3; id <= 4; id++) {
        assert_int_equal(handle__sym_pc(s, id, pc, f, 8), 1);
        assert_null(f[0].function);
        assert_int_equal(f[0].module_offset, pc - m->bias);
        const char *why = handle__sym_module_problem(s, id);
        assert_non_null(why);
        if (!strstr(why, "not a regular file"))
            fail_msg("module %u: %s", id, why);
    }
    alarm(0);
    handle__sym_free(s);
    assert_int_equal(count_fds(), fds);
    unlink(fifo);
    rmdir(dir);
}

static void test_unknown_pc_gives_an_empty_frame(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct handle__sym_frame f[4];
    static const uintptr_t pcs[] = {0, 1, 0x10, UINTPTR_MAX};
    for (size_t i = 0; i < sizeof pcs / sizeof pcs[0]; i++) {
        memset(f, 0xa5, sizeof f);
        assert_int_equal(handle__sym_pc(s, 0, pcs[i], f, 4), 1);
        assert_int_equal(f[0].pc, pcs[i]);
        assert_null(f[0].function);
        assert_null(f[0].file);
        assert_int_equal(f[0].line, 0);
        assert_int_equal(f[0].column, 0);
        assert_string_equal(f[0].module, "");
        assert_int_equal(f[0].module_offset, pcs[i]);
        assert_false(f[0].inlined);
    }
    /* A module id nobody registered. */
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
    assert_int_equal(handle__sym_pc(s, 99999, pc, f, 4), 1);
    assert_string_equal(f[0].module, "");
    assert_null(f[0].function);
    assert_false(handle__sym_module_changed(s, 99999));
    assert_null(handle__sym_module_problem(s, 99999));
    /* A pc in a module's range but outside its file's code. */
    const struct tmod *m = mod_of(pc);
    handle__sym_add_module(s, 5000, m->path, m->build_id, m->bias - 0x40000000,
                           m->lo - 0x40000000, m->hi - 0x40000000);
    assert_int_equal(handle__sym_pc(s, 5000, pc, f, 4), 1);
    assert_null(f[0].function);
    assert_int_equal(f[0].module_offset, pc - m->bias + 0x40000000);
    handle__sym_free(s);
}

/* A pc whose registered range overlaps another (a library dlclose'd and
 * another mapped at its address): by address, the newest wins; by id,
 * each gets its own. */
static void test_overlapping_modules(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
    const struct tmod *m = mod_of(pc);
    handle__sym_add_module(s, 6000, "/nonexistent/later.so", "", m->bias, m->lo, m->hi);
    struct handle__sym_frame f[4];
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 4), 1);
    assert_string_equal(f[0].module, "/nonexistent/later.so");
    assert_int_equal(handle__sym_pc(s, m->id, pc, f, 4), 1);
    assert_frame(&f[0], pc, "fx_plain", "inline_fixture.c", l.capture, false);
    /* A second registration of an id is ignored. */
    handle__sym_add_module(s, m->id, "/nonexistent/again.so", "", m->bias, m->lo, m->hi);
    assert_int_equal(handle__sym_pc(s, m->id, pc, f, 4), 1);
    assert_string_equal(f[0].module, m->path);
    handle__sym_free(s);
}

static void test_without_libdw_frames_are_module_offset(void **state)
{
    (void)state;
    struct handle__symbolizer *s = handle__sym_new_ex(HANDLE__SYM_NO_DW);
    assert_non_null(s);
    for (size_t i = 0; i < nmods; i++)
        handle__sym_add_module(s, mods[i].id, mods[i].path, mods[i].build_id, mods[i].bias,
                               mods[i].lo, mods[i].hi);
    struct fx_lines l;
    uintptr_t pc = fx_outer(&l);
    struct handle__sym_frame f[8];
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 8), 1);
    assert_frame(&f[0], pc, NULL, NULL, 0, false);
    assert_non_null(handle__sym_error(s));
    assert_false(handle__sym_module_changed(s, mod_of(pc)->id));
    assert_non_null(handle__sym_module_problem(s, mod_of(pc)->id));
    handle__sym_free(s);
}

/* A shared library stripped of its DWARF: its symbol table still names
 * the functions; with the directory holding its debug file by build-id,
 * lines and inline chains come back. */
static void test_separate_debug_file_found_by_build_id(void **state)
{
    (void)state;
    struct fx_lines l;
    uintptr_t pc = so_outer(&l);
    struct handle__sym_frame f[8];

    struct handle__symbolizer *s = new_sym();
    handle__sym_set_debuginfo_path(s, "/nonexistent-debug-root");
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 8), 1);
    assert_frame(&f[0], pc, "fxso_outer", NULL, 0, false);
    handle__sym_free(s);

    /* With and without .debug_aranges. */
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        s = new_sym();
        handle__sym_set_debuginfo_path(s, roots[i].root);
        assert_int_equal(handle__sym_pc(s, 0, pc, f, 8), 3);
        assert_frame(&f[0], pc, "inner_helper", "inline_fixture.c", l.capture, true);
        assert_frame(&f[1], pc, "outer_helper", "inline_fixture.c", l.inner_call, true);
        assert_frame(&f[2], pc, "fxso_outer", "inline_fixture.c", l.outer_call, false);
        struct fx_lines lp;
        uintptr_t plain = so_plain(&lp);
        assert_int_equal(handle__sym_pc(s, 0, plain, f, 8), 1);
        assert_frame(&f[0], plain, "fxso_plain", "inline_fixture.c", lp.capture, false);
        handle__sym_free(s);
    }
}

/* Offline, the library may be gone: its debug file, found by build-id,
 * is enough to symbolize. */
static void test_gone_file_symbolized_from_debug_file(void **state)
{
    (void)state;
    struct fx_lines l;
    uintptr_t pc = so_plain(&l);
    const struct tmod *m = mod_of(pc);
    struct handle__symbolizer *s = handle__sym_new();
    assert_non_null(s);
    handle__sym_set_debuginfo_path(s, dbg_root);
    handle__sym_add_module(s, 1, "/nonexistent/libhandle_symfx.so", m->build_id, m->bias, m->lo,
                           m->hi);
    struct handle__sym_frame f[8];
    assert_int_equal(handle__sym_pc(s, 1, pc, f, 8), 1);
    assert_string_equal(f[0].module, "/nonexistent/libhandle_symfx.so");
    assert_non_null(f[0].function);
    assert_string_equal(f[0].function, "fxso_plain");
    assert_non_null(f[0].file);
    assert_string_equal(base_name(f[0].file), "inline_fixture.c");
    assert_int_equal(f[0].line, l.capture);
    assert_null(handle__sym_module_problem(s, 1));
    handle__sym_free(s);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Inside someone else's process the report must not wait on a debuginfod
 * server: with HANDLE__SYM_NO_DEBUGINFOD the client is never started (it
 * would create its cache directory first thing). */
static void test_no_debuginfod_query_when_asked(void **state)
{
    (void)state;
    char cache[sizeof dbg_root + 16];
    snprintf(cache, sizeof cache, "%s/dcache", dbg_root);
    setenv("DEBUGINFOD_URLS", "http://127.0.0.1:9", 1);
    setenv("DEBUGINFOD_CACHE_PATH", cache, 1);
    setenv("DEBUGINFOD_TIMEOUT", "5", 1);
    struct fx_lines l;
    uintptr_t pc = so_outer(&l);
    struct handle__sym_frame f[8];
    struct stat st;

    struct handle__symbolizer *s = handle__sym_new_ex(HANDLE__SYM_NO_DEBUGINFOD);
    assert_non_null(s);
    for (size_t i = 0; i < nmods; i++)
        handle__sym_add_module(s, mods[i].id, mods[i].path, mods[i].build_id, mods[i].bias,
                               mods[i].lo, mods[i].hi);
    handle__sym_set_debuginfo_path(s, "/nonexistent-debug-root");
    assert_int_equal(handle__sym_pc(s, 0, pc, f, 8), 1);
    assert_frame(&f[0], pc, "fxso_outer", NULL, 0, false);
    handle__sym_free(s);
    assert_int_not_equal(stat(cache, &st), 0);

    /* The control: without the flag, libdwfl does ask (when
     * libdebuginfod is installed), so the check above means something. */
    void *dbgd = dlopen("libdebuginfod.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (dbgd) {
        s = new_sym();
        handle__sym_set_debuginfo_path(s, "/nonexistent-debug-root");
        assert_int_equal(handle__sym_pc(s, 0, pc, f, 8), 1);
        handle__sym_free(s);
        assert_int_equal(stat(cache, &st), 0);
        dlclose(dbgd);
    }
    nftw(cache, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    unsetenv("DEBUGINFOD_URLS");
    unsetenv("DEBUGINFOD_CACHE_PATH");
    unsetenv("DEBUGINFOD_TIMEOUT");
}

/* What a report prints for a symbolized inline chain. */
static void test_symbolized_frames_print_as_sanitizer_lines(void **state)
{
    (void)state;
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_outer(&l);
    struct handle__sym_frame f[8];
    size_t n = handle__sym_pc(s, 0, pc, f, 8);
    assert_int_equal(n, 3);
    struct handle__sb b = {0};
    unsigned num = 0;
    handle__sb_frames(&b, f, n, &num);
    assert_int_equal(num, 3);
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want,
             "    #0 0x%" PRIxPTR " in inner_helper %s:%d\n"
             "    #1 0x%" PRIxPTR " in outer_helper %s:%d\n"
             "    #2 0x%" PRIxPTR " in fx_outer %s:%d\n",
             pc, f[0].file, l.capture, pc, f[1].file, l.inner_call, pc, f[2].file, l.outer_call);
    assert_string_equal(handle__sb_str(&b), want);
    handle__sb_reset(&b);
    handle__sb_location(&b, f, n);
    snprintf(want, sizeof want, "%s:%d in inner_helper", f[0].file, l.capture);
    assert_string_equal(handle__sb_str(&b), want);
    handle__sb_free(&b);
    handle__sym_free(s);
}

#ifdef TEST_DW_DLOPEN
/* ---- libdw absent or incomplete (lib/report/dw.c) ------------------------ */

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "report/dw.h"

/* --dw-check WANT, run by the sweep with a fake libdw.so.1 first on
 * LD_LIBRARY_PATH: loading fails with a message containing WANT, every
 * time it is asked, and a symbolizer still gives module+offset frames
 * and says why. */
static int dw_check(const char *want)
{
    char err[256] = "";
    if (handle__dw_load(err, sizeof err) || strstr(err, want) == NULL) {
        fprintf(stderr, "dw-check: loaded or wrong message: '%s', want '%s'\n", err, want);
        return 1;
    }
    char again[256] = "";
    if (handle__dw_load(NULL, 0) || handle__dw_load(again, 0) || again[0] ||
        handle__dw_load(again, sizeof again) || strcmp(again, err) != 0 || handle__dw_get()) {
        fprintf(stderr, "dw-check: a second load differs: '%s'\n", again);
        return 1;
    }
    dl_iterate_phdr(phdr_cb, NULL);
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    uintptr_t pc = fx_plain(&l);
    struct handle__sym_frame f[8];
    int n = handle__sym_pc(s, 0, pc, f, 8);
    const char *why = handle__sym_error(s);
    int bad = n != 1 || f[0].function || f[0].file || !why || strcmp(why, err) != 0 ||
              !handle__sym_module_problem(s, mod_of(pc)->id);
    if (bad)
        fprintf(stderr, "dw-check: n=%d function=%s error=%s\n", n,
                n > 0 && f[0].function ? f[0].function : "-", why ? why : "-");
    handle__sym_free(s);
    return bad;
}

/* The sweep's checks below run under a fake libdw.so.1 that misbehaves at
 * its first call: loads it and symbolizes fx_plain's pc once (into f, 8
 * frames); NULL, with a line naming `who`, when the fake did not load. */
static struct handle__symbolizer *fake_dw_symbolize(const char *who, uintptr_t *pc,
                                                     struct handle__sym_frame *f, int *n)
{
    char err[256] = "";
    if (!handle__dw_load(err, sizeof err)) {
        fprintf(stderr, "%s: the fake libdw did not load: %s\n", who, err);
        return NULL;
    }
    dl_iterate_phdr(phdr_cb, NULL);
    struct handle__symbolizer *s = new_sym();
    struct fx_lines l;
    *pc = fx_plain(&l);
    *n = handle__sym_pc(s, 0, *pc, f, 8);
    return s;
}

/* --dw-crash-check, run by the sweep with a fake libdw.so.1 whose
 * dwfl_begin faults (FAKE_DW_CRASH): the symbolizer's guard catches the
 * fault, frames are module+offset, handle__sym_error says libdw crashed,
 * libdw is not called again, and the program's own SIGSEGV handler is in
 * force again after handle__sym_free. */
static void own_segv(int sig)
{
    (void)sig;
}

static int dw_crash_check(void)
{
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    uintptr_t pc;
    struct handle__sym_frame f[8];
    int n;
    struct handle__symbolizer *s = fake_dw_symbolize("dw-crash", &pc, f, &n);
    if (s == NULL)
        return 1;
    bool named = n > 0 && f[0].function != NULL;
    int again = handle__sym_pc(s, 0, pc, f, 8); /* libdw is not called again */
    const char *why = handle__sym_error(s);
    const char *problem = handle__sym_module_problem(s, mod_of(pc)->id);
    int bad = n != 1 || named || again != 1 || !handle__sym_faulted(s) || !why ||
              !strstr(why, "libdw crashed") || !problem || !strstr(problem, "libdw crashed");
    if (bad)
        fprintf(stderr, "dw-crash: n=%d again=%d faulted=%d error=%s problem=%s\n", n, again,
                handle__sym_faulted(s), why ? why : "-", problem ? problem : "-");
    handle__sym_free(s);
    if (sigaction(SIGSEGV, NULL, &cur) != 0 || cur.sa_handler != own_segv) {
        fprintf(stderr, "dw-crash: the program's SIGSEGV handler was not put back\n");
        bad = 1;
    }
    return bad;
}

/* --dw-foreign-check, run by the sweep with a fake libdw.so.1 whose
 * dwfl_begin first lets another thread fault on a page this program's own
 * SIGSEGV handler makes accessible (as a JVM's or Go's deliberate faults
 * are), then faults itself (FAKE_DW_FOREIGN_CRASH): the other thread's
 * fault goes to the program's handler, once, and the guard still catches
 * libdw's own fault afterwards. */
static volatile sig_atomic_t foreign_faults, unexpected_faults;

static void own_segv_info(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    uintptr_t page = (uintptr_t)si->si_addr & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
    if (page == 0 || mprotect((void *)page, (size_t)sysconf(_SC_PAGESIZE),
                              PROT_READ | PROT_WRITE) != 0) {
        unexpected_faults++; /* libdw's fault reached the program: the guard is gone */
        _exit(7);
    }
    foreign_faults++;
}

static int dw_foreign_check(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_segv_info;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    uintptr_t pc;
    struct handle__sym_frame f[8];
    int n;
    struct handle__symbolizer *s = fake_dw_symbolize("dw-foreign", &pc, f, &n);
    if (s == NULL)
        return 1;
    int bad = n != 1 || !handle__sym_faulted(s) || foreign_faults != 1 || unexpected_faults;
    if (bad)
        fprintf(stderr, "dw-foreign: n=%d faulted=%d foreign=%d\n", n, handle__sym_faulted(s),
                (int)foreign_faults);
    handle__sym_free(s);
    struct sigaction cur;
    if (sigaction(SIGSEGV, NULL, &cur) != 0 || cur.sa_sigaction != own_segv_info) {
        fprintf(stderr, "dw-foreign: the program's SIGSEGV handler was not put back\n");
        bad = 1;
    }
    return bad;
}

/* --dw-exit-check, run by the sweep with a fake libdw.so.1 whose
 * dwfl_begin calls exit(1) (FAKE_DW_EXIT), as libdw's out-of-memory handler
 * does: with handle__sym_libdw_exit_status("dw-exit", 3) the process ends
 * with status 3, not 1. Reaching the end of this function is a failure. */
static int dw_exit_check(void)
{
    handle__sym_libdw_exit_status("dw-exit", 3);
    uintptr_t pc;
    struct handle__sym_frame f[8];
    int n;
    if (fake_dw_symbolize("dw-exit", &pc, f, &n) == NULL)
        return 1;
    fprintf(stderr, "dw-exit: libdw's exit did not happen\n");
    return 1;
}

/* Runs this program as `self MODE [ARG]` under env (NAME=VALUE strings);
 * true when it exited with status. */
static bool dw_run(char *const *env, const char *mode, const char *arg, int status)
{
    pid_t p = fork();
    if (p == 0) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            _exit(126);
        self[n] = '\0';
        for (size_t i = 0; env[i]; i++)
            putenv(env[i]);
        execl(self, self, mode, arg, (char *)NULL);
        _exit(127);
    }
    int st;
    return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == status;
}

/* --dw-sweep OKDIR BROKENDIR: libdw.so.1 that cannot be loaded, then one
 * run per function of the table with that one missing. */
static int dw_sweep(const char *okdir, const char *brokendir)
{
    static char lp_ok[PATH_MAX + 32], lp_broken[PATH_MAX + 32];
    snprintf(lp_ok, sizeof lp_ok, "LD_LIBRARY_PATH=%s", okdir);
    snprintf(lp_broken, sizeof lp_broken, "LD_LIBRARY_PATH=%s", brokendir);
    int failed = 0;
    char *broken_env[] = {lp_broken, NULL};
    if (!dw_run(broken_env, "--dw-check", "cannot load libdw.so.1: ", 0)) {
        fprintf(stderr, "dw-sweep: libdw that cannot be loaded\n");
        failed++;
    }
    static const char *names[] = {
#define DW_NAME(name) #name,
        HANDLE__DW_FUNCS(DW_NAME)
#undef DW_NAME
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char missing[128], want[160];
        snprintf(missing, sizeof missing, "FAKE_DW_MISSING=%s", names[i]);
        snprintf(want, sizeof want, "libdw.so.1 has no symbol %s", names[i]);
        char *env[] = {lp_ok, missing, NULL};
        if (!dw_run(env, "--dw-check", want, 0)) {
            fprintf(stderr, "dw-sweep: libdw without %s\n", names[i]);
            failed++;
        }
    }
    char fake_exit[] = "FAKE_DW_EXIT=dwfl_begin";
    char *exit_env[] = {lp_ok, fake_exit, NULL};
    if (!dw_run(exit_env, "--dw-exit-check", NULL, 3)) {
        fprintf(stderr, "dw-sweep: libdw exiting: not status 3\n");
        failed++;
    }
    char crash[] = "FAKE_DW_CRASH=dwfl_begin";
    char *crash_env[] = {lp_ok, crash, NULL};
    if (!dw_run(crash_env, "--dw-crash-check", NULL, 0)) {
        fprintf(stderr, "dw-sweep: libdw whose dwfl_begin crashes\n");
        failed++;
    }
    /* libdw's own assert() failing (elfutils' hash tables under
     * allocation failure): SIGABRT raised inside the guarded call */
    char aborts[] = "FAKE_DW_ABORT=dwfl_begin";
    char *abort_env[] = {lp_ok, aborts, NULL};
    if (!dw_run(abort_env, "--dw-crash-check", NULL, 0)) {
        fprintf(stderr, "dw-sweep: libdw whose dwfl_begin aborts\n");
        failed++;
    }
    char foreign[] = "FAKE_DW_FOREIGN_CRASH=dwfl_begin";
    char *foreign_env[] = {lp_ok, foreign, NULL};
    if (!dw_run(foreign_env, "--dw-foreign-check", NULL, 0)) {
        fprintf(stderr, "dw-sweep: another thread's fault, then libdw's own\n");
        failed++;
    }
    printf("dw-sweep: %zu fake libdw.so.1, %d failed\n", sizeof names / sizeof names[0] + 5,
           failed);
    return failed != 0;
}
#endif

int main(int argc, char **argv)
{
#ifdef TEST_DW_DLOPEN
    if (argc == 3 && strcmp(argv[1], "--dw-check") == 0)
        return dw_check(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--dw-exit-check") == 0)
        return dw_exit_check();
    if (argc == 2 && strcmp(argv[1], "--dw-crash-check") == 0)
        return dw_crash_check();
    if (argc == 2 && strcmp(argv[1], "--dw-foreign-check") == 0)
        return dw_foreign_check();
    if (argc == 4 && strcmp(argv[1], "--dw-sweep") == 0)
        return dw_sweep(argv[2], argv[3]);
#else
    (void)argv;
#endif
    (void)argc;
    const struct CMUnitTest tests[] = {
        /* First: checks that nothing loaded libdw before it. */
        cmocka_unit_test(test_libdw_loaded_only_when_symbolizing_and_privately),
        cmocka_unit_test(test_plain_function_gives_its_name_and_the_calls_line),
        cmocka_unit_test(test_inline_chain_innermost_first_real_function_last),
        cmocka_unit_test(test_code_of_the_test_itself),
        cmocka_unit_test(test_cut_chain_keeps_innermost_and_real_function),
        cmocka_unit_test(test_cached_answers_share_strings),
        cmocka_unit_test(test_changed_build_id_gives_module_offset_only),
        cmocka_unit_test(test_missing_file_gives_module_offset_only),
        cmocka_unit_test(test_fifo_or_device_module_is_not_opened),
        cmocka_unit_test(test_unknown_pc_gives_an_empty_frame),
        cmocka_unit_test(test_overlapping_modules),
        cmocka_unit_test(test_without_libdw_frames_are_module_offset),
        cmocka_unit_test(test_separate_debug_file_found_by_build_id),
        cmocka_unit_test(test_gone_file_symbolized_from_debug_file),
        cmocka_unit_test(test_no_debuginfod_query_when_asked),
        cmocka_unit_test(test_symbolized_frames_print_as_sanitizer_lines),
        cmocka_unit_test(test_gone_file_symbolized_from_stored_frames),
        cmocka_unit_test(test_demangle_and_base_names),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
