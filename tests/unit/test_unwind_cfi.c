/*
 * test_unwind_cfi.c - lib/debug/unwind.c from the inside (it includes
 * unwind.c, so the static parts are callable): the rule derived from
 * hand-made CFI in a fake module image (a .eh_frame_hdr table, a CIE and an
 * FDE in a static buffer, described by a fake dl_phdr_info), opcode by
 * opcode and encoding by encoding, and every malformed table, CIE or FDE
 * refused; the rule cache's probing and eviction; the walk's refusals when
 * a rule would leave the stack. test_unwind.c checks the walker against
 * libunwind on real code; this file checks what real compilers do not
 * emit.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* <libunwind.h> brings <sys/ucontext.h>'s REG_* names; unwind.c has its
 * own (DWARF numbers). */
#undef REG_RBP
#undef REG_RSP
#include "debug/unwind.c"

#if !defined(__x86_64__) || !defined(__linux__)
#error "test_unwind_cfi is built on x86-64 Linux only (see unwind.cmake)"
#endif

/* ---- writing CFI ------------------------------------------------------ */

struct out {
    uint8_t *p;
};

static void u8(struct out *o, uint64_t v)
{
    *o->p++ = (uint8_t)v;
}

static void un(struct out *o, uint64_t v, size_t n)
{
    memcpy(o->p, &v, n);
    o->p += n;
}

static void uleb(struct out *o, uint64_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if (v != 0)
            b |= 0x80;
        *o->p++ = b;
    } while (v != 0);
}

static void sleb(struct out *o, int64_t v)
{
    for (;;) {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7; /* arithmetic */
        bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
        if (!done)
            b |= 0x80;
        *o->p++ = b;
        if (done)
            return;
    }
}

static void raw(struct out *o, const void *b, size_t n)
{
    memcpy(o->p, b, n);
    o->p += n;
}

/* A fake module: [HDR] .eh_frame_hdr, [CIE_AT] a CIE, [FDE_AT] an FDE,
 * [CODE, CODE + CODE_LEN) the "function" the FDE covers (never run). */
enum { HDR = 0, CIE_AT = 0x100, FDE_AT = 0x400, CODE = 0x1000, CODE_LEN = 0x100, IMG = 0x2000 };
static _Alignas(64) uint8_t img[IMG];
#define A(off) ((uintptr_t)img + (uintptr_t)(off))

/* Starts a record with a 4-byte length to patch (or the 64-bit format's
 * 0xffffffff and an 8-byte length); end_len patches it. */
static uint8_t *begin_len(struct out *o, bool dw64)
{
    if (dw64)
        un(o, 0xffffffffu, 4);
    uint8_t *at = o->p;
    un(o, 0, dw64 ? 8 : 4);
    return at;
}

static void end_len(struct out *o, uint8_t *at, bool dw64)
{
    size_t n = dw64 ? 8 : 4;
    uint64_t len = (uint64_t)(o->p - at - (ptrdiff_t)n);
    memcpy(at, &len, n);
}

/* The .eh_frame_hdr: version 1, eh_frame_ptr pcrel|sdata4, count udata4,
 * table datarel|sdata4 with one entry CODE -> FDE_AT. */
static void std_hdr(void)
{
    struct out o = {img + HDR};
    u8(&o, 1);
    u8(&o, 0x1b);
    u8(&o, 0x03);
    u8(&o, 0x3b);
    un(&o, (uint64_t)(CIE_AT - 4), 4); /* eh_frame, relative to the field */
    un(&o, 1, 4);
    un(&o, CODE - HDR, 4);
    un(&o, FDE_AT - HDR, 4);
}

/* def_cfa rsp+8; offset r16 at cfa-8: what every x86-64 CIE says. */
static const uint8_t cie_insn[] = {0x0c, 0x07, 0x08, 0x90, 0x01};

/* A CIE "zR" (or "" when enc is 0), version 1, code align 1, data align
 * -8, RA column 16, the given instructions. */
static void put_cie(uint8_t enc, const uint8_t *insn, size_t n)
{
    struct out o = {img + CIE_AT};
    uint8_t *len = begin_len(&o, false);
    un(&o, 0, 4);
    u8(&o, 1);
    if (enc != 0) {
        raw(&o, "zR", 3);
    } else {
        u8(&o, 0);
    }
    uleb(&o, 1);
    sleb(&o, -8);
    u8(&o, 16);
    if (enc != 0) {
        uleb(&o, 1);
        u8(&o, enc);
    }
    raw(&o, insn, n);
    end_len(&o, len, false);
}

/* An FDE for [CODE, CODE + CODE_LEN) with pc_begin pcrel|sdata4 and an
 * empty augmentation, after a "zR" CIE of encoding 0x1b. */
static void put_fde(const uint8_t *insn, size_t n)
{
    struct out o = {img + FDE_AT};
    uint8_t *len = begin_len(&o, false);
    un(&o, (uint64_t)(o.p - (img + CIE_AT)), 4);
    un(&o, (uint64_t)(int64_t)(A(CODE) - (uintptr_t)o.p), 4);
    un(&o, CODE_LEN, 4);
    uleb(&o, 0);
    raw(&o, insn, n);
    end_len(&o, len, false);
}

/* The module's program headers: one readable PT_LOAD over img and the
 * PT_GNU_EH_FRAME at HDR (tests change them). */
static ElfW(Phdr) ph[24];
static struct dl_phdr_info info;

static void std_phdrs(void)
{
    memset(ph, 0, sizeof ph);
    ph[0].p_type = PT_LOAD;
    ph[0].p_flags = PF_R;
    ph[0].p_vaddr = A(0);
    ph[0].p_memsz = IMG;
    ph[1].p_type = PT_GNU_EH_FRAME;
    ph[1].p_flags = PF_R;
    ph[1].p_vaddr = A(HDR);
    ph[1].p_memsz = 12 + 8;
    memset(&info, 0, sizeof info);
    info.dlpi_addr = 0;
    info.dlpi_name = "fake";
    info.dlpi_phdr = ph;
    info.dlpi_phnum = 2;
}

/* A module with the standard header, CIE ("zR", pcrel sdata4) and an FDE
 * with these instructions. */
static void module(const uint8_t *fde_insn, size_t n)
{
    memset(img, 0, sizeof img);
    std_phdrs();
    std_hdr();
    put_cie(0x1b, cie_insn, sizeof cie_insn);
    put_fde(fde_insn, n);
}

/* The rule the fake module gives for address A(CODE + off), through
 * find_cb as dl_iterate_phdr would call it. */
static uint64_t rule_for_addr(uintptr_t addr)
{
    struct find f = {addr, 0, false, K_UNSUP};
    int stop = find_cb(&info, sizeof info, &f);
    assert_int_equal(stop, f.found ? 1 : 0);
    assert_true(f.found);
    assert_int_equal(f.rule & F_BOOT, 0); /* not a start-up module */
    return f.rule;
}

static uint64_t rule_at(uintptr_t off)
{
    return rule_for_addr(A(CODE + off));
}

/* The rule for an FDE with these instructions, at CODE + off. */
static uint64_t fde_rule(const uint8_t *insn, size_t n, uintptr_t off)
{
    module(insn, n);
    return rule_at(off);
}

#define FDE_RULE(off, ...)                                                                         \
    ({                                                                                             \
        static const uint8_t insn_[] = {__VA_ARGS__};                                              \
        fde_rule(insn_, sizeof insn_, (off));                                                      \
    })

#define STD(cfa_off) rule_make(K_STD, (cfa_off), 0)
#define STD_RBP_CFA(cfa_off) rule_make(K_STD | F_CFA_RBP, (cfa_off), 0)
#define STD_SAVED(cfa_off, rbp_off) rule_make(K_STD | F_RBP_SAVED, (cfa_off), (rbp_off))

/* ---- the fake module itself ------------------------------------------ */

static void test_plain_fde(void **state)
{
    (void)state;
    /* No instructions: the CIE's rule, CFA = RSP + 8. */
    assert_int_equal(FDE_RULE(0, 0x00), STD(8));
    /* push rbp; mov rbp, rsp: def_cfa_offset 16, offset rbp at cfa-16,
     * def_cfa_register rbp, as gcc emits them with advance_loc. */
    uint64_t r = FDE_RULE(0x10, 0x41, 0x0e, 0x10, 0x86, 0x02, 0x43, 0x0d, 0x06);
    assert_int_equal(r, rule_make(K_STD | F_CFA_RBP | F_RBP_SAVED, 16, -16));
    assert_int_equal(rule_cfa_off(r), 16);
    assert_int_equal(rule_rbp_off(r), -16);
    /* The rows before each advance. */
    assert_int_equal(rule_at(0), STD(8));
    assert_int_equal(rule_at(1), STD_SAVED(16, -16));
    assert_int_equal(rule_at(4), rule_make(K_STD | F_CFA_RBP | F_RBP_SAVED, 16, -16));
}

/* ---- opcodes ---------------------------------------------------------- */

static void test_advance_opcodes(void **state)
{
    (void)state;
    /* advance_loc1 0x20, def_cfa_offset 16, advance_loc2 0x20,
     * def_cfa_offset 24, advance_loc4 0x20, def_cfa_offset 32. */
    static const uint8_t insn[] = {0x02, 0x20, 0x0e, 0x10, 0x03, 0x20, 0x00, 0x0e, 0x18,
                                   0x04, 0x20, 0x00, 0x00, 0x00, 0x0e, 0x20};
    module(insn, sizeof insn);
    assert_int_equal(rule_at(0x1f), STD(8));
    assert_int_equal(rule_at(0x20), STD(16));
    assert_int_equal(rule_at(0x3f), STD(16));
    assert_int_equal(rule_at(0x40), STD(24));
    assert_int_equal(rule_at(0x60), STD(32));
    assert_int_equal(rule_at(0xff), STD(32));
}

static void test_set_loc(void **state)
{
    (void)state;
    /* set_loc in the FDE's encoding (pcrel sdata4) to CODE + 0x30. */
    uint8_t insn[16] = {0};
    struct out o = {insn};
    module(insn, 0); /* to know where the instructions go */
    uintptr_t at = A(FDE_AT) + 4 + 4 + 4 + 4 + 1; /* len, CIE ptr, begin, range, aug len */
    u8(&o, 0x01);
    un(&o, (uint64_t)(int64_t)(A(CODE + 0x30) - (at + 1)), 4);
    u8(&o, 0x0e);
    u8(&o, 0x30);
    module(insn, (size_t)(o.p - insn));
    assert_int_equal(rule_at(0x2f), STD(8));
    assert_int_equal(rule_at(0x30), STD(48));
    /* A set_loc whose operand is cut short: refused. */
    assert_int_equal(FDE_RULE(0x10, 0x01, 0x30, 0x00), K_UNSUP);
}

static void test_saved_rbp_opcodes(void **state)
{
    (void)state;
    /* offset_extended rbp, 2: saved at cfa-16. */
    assert_int_equal(FDE_RULE(0, 0x05, 0x06, 0x02), STD_SAVED(8, -16));
    /* offset_extended_sf rbp, -1: at cfa+8. */
    assert_int_equal(FDE_RULE(0, 0x11, 0x06, 0x7f), STD_SAVED(8, 8));
    /* GNU_negative_offset_extended rbp, 3: at cfa+24. */
    assert_int_equal(FDE_RULE(0, 0x2f, 0x06, 0x03), STD_SAVED(8, 24));
    /* Saved, then restore_extended / restore: unchanged again. */
    assert_int_equal(FDE_RULE(0, 0x86, 0x02, 0x06, 0x06), STD(8));
    assert_int_equal(FDE_RULE(0, 0x86, 0x02, 0xc6), STD(8));
    /* same_value after a save. */
    assert_int_equal(FDE_RULE(0, 0x86, 0x02, 0x08, 0x06), STD(8));
    /* Saved in another register, or undefined: libunwind would not trace
     * it the standard way. */
    assert_int_equal(FDE_RULE(0, 0x09, 0x06, 0x03), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x07, 0x06), K_UNSUP);
    /* Offsets the packed rule cannot hold, or -1 (libunwind's marker). */
    assert_int_equal(FDE_RULE(0, 0x05, 0x06, 0xad, 0x02), K_UNSUP);  /* cfa-2408 */
    assert_int_equal(FDE_RULE(0, 0x11, 0x06, 0xd3, 0x7d), K_UNSUP);  /* cfa+2408 */
    assert_int_equal(FDE_RULE(0, 0x05, 0x06, 0xff, 0x01), STD_SAVED(8, -2040));
    /* Restoring a register the CIE set restores the CIE's rule. */
    assert_int_equal(FDE_RULE(0, 0x90, 0x02, 0xd0), STD(8));
    assert_int_equal(FDE_RULE(0, 0x90, 0x02, 0x06, 0x10), STD(8));
}

static void test_cfa_opcodes(void **state)
{
    (void)state;
    /* def_cfa_sf rsp, -3 (times data align -8): RSP + 24. */
    assert_int_equal(FDE_RULE(0, 0x12, 0x07, 0x7d), STD(24));
    /* def_cfa_offset_sf -5: + 40. */
    assert_int_equal(FDE_RULE(0, 0x13, 0x7b), STD(40));
    /* def_cfa rbp, 16, then def_cfa_register rsp. */
    assert_int_equal(FDE_RULE(0, 0x0c, 0x06, 0x10), STD_RBP_CFA(16));
    assert_int_equal(FDE_RULE(0, 0x0c, 0x06, 0x10, 0x0d, 0x07), STD(16));
    /* def_cfa_sf rbp, -2. */
    assert_int_equal(FDE_RULE(0, 0x12, 0x06, 0x7e), STD_RBP_CFA(16));
    /* The CFA in another register (rbx): refused. */
    assert_int_equal(FDE_RULE(0, 0x0d, 0x03), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x0c, 0x03, 0x08), K_UNSUP);
    /* An offset too large for the packed rule. */
    assert_int_equal(FDE_RULE(0, 0x0e, 0xc0, 0xcf, 0x24), K_UNSUP); /* 600000 */
    assert_int_equal(FDE_RULE(0, 0x0e, 0xff, 0xff, 0x1f), STD(524287));
    assert_int_equal(FDE_RULE(0, 0x12, 0x07, 0xf0, 0xa2, 0x04), K_UNSUP); /* -560000 */
    /* GNU_args_size changes nothing. */
    assert_int_equal(FDE_RULE(0, 0x2e, 0x10, 0x0e, 0x10), STD(16));
}

static void test_expressions(void **state)
{
    (void)state;
    /* def_cfa_expression (DW_OP_breg7 8): refused while in force... */
    assert_int_equal(FDE_RULE(0, 0x0f, 0x02, 0x77, 0x08), K_UNSUP);
    /* ... and not once a def_cfa replaces it. */
    assert_int_equal(FDE_RULE(0x10, 0x0f, 0x02, 0x77, 0x08, 0x48, 0x0c, 0x07, 0x10), STD(16));
    assert_int_equal(rule_at(0x07), K_UNSUP);
    /* expression for rbx: refused (libunwind's slow path). */
    assert_int_equal(FDE_RULE(0, 0x10, 0x03, 0x02, 0x77, 0x08), K_UNSUP);
    /* An expression longer than the instructions left. */
    assert_int_equal(FDE_RULE(0, 0x0f, 0x09, 0x77), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x10, 0x03, 0x09, 0x77), K_UNSUP);
    /* expression for a register libunwind does not keep. */
    assert_int_equal(FDE_RULE(0, 0x10, 0x11, 0x01, 0x30), K_UNSUP);
}

static void test_return_address_rules(void **state)
{
    (void)state;
    /* Undefined return address: the end of the stack. */
    assert_int_equal(FDE_RULE(0, 0x07, 0x10), K_END);
    /* The return address anywhere but CFA-8. */
    assert_int_equal(FDE_RULE(0, 0x90, 0x02), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x08, 0x10), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x09, 0x10, 0x00), K_UNSUP);
    /* .cfi_register in force only for a while (as a leaf that keeps its
     * return address in a register would say). */
    static const uint8_t insn[] = {0x44, 0x09, 0x10, 0x00, 0x44, 0xd0};
    module(insn, sizeof insn);
    assert_int_equal(rule_at(3), STD(8));
    assert_int_equal(rule_at(4), K_UNSUP);
    assert_int_equal(rule_at(8), STD(8));
}

static void test_rsp_rules(void **state)
{
    (void)state;
    /* RSP saved at a CFA offset, undefined: still standard. */
    assert_int_equal(FDE_RULE(0, 0x87, 0x02), STD(8));
    assert_int_equal(FDE_RULE(0, 0x07, 0x07), STD(8));
    /* Too far from the CFA, or in a register, or an expression. */
    assert_int_equal(FDE_RULE(0, 0x05, 0x07, 0x80, 0x10), K_UNSUP);       /* cfa-16384 */
    assert_int_equal(FDE_RULE(0, 0x11, 0x07, 0x80, 0x70), K_UNSUP);       /* cfa+16384 */
    assert_int_equal(FDE_RULE(0, 0x05, 0x07, 0xff, 0x0f), STD(8));        /* cfa-16376 */
    assert_int_equal(FDE_RULE(0, 0x09, 0x07, 0x06), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x10, 0x07, 0x01, 0x30), K_UNSUP);
}

static void test_remember_restore(void **state)
{
    (void)state;
    /* remember; def_cfa_offset 32; advance 4; restore: the epilogue's
     * rule is the remembered one. */
    static const uint8_t insn[] = {0x0e, 0x10, 0x0a, 0x42, 0x0e, 0x20, 0x44, 0x0b};
    module(insn, sizeof insn);
    assert_int_equal(rule_at(0), STD(16));
    assert_int_equal(rule_at(2), STD(32));
    assert_int_equal(rule_at(6), STD(16));
    /* Eight levels are kept, a ninth is refused. */
    assert_int_equal(FDE_RULE(0, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0e, 0x10, 0x0b,
                              0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b),
                     STD(8));
    assert_int_equal(FDE_RULE(0, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a), K_UNSUP);
    /* restore_state with nothing remembered. */
    assert_int_equal(FDE_RULE(0, 0x0b), K_UNSUP);
}

static void test_refused_opcodes(void **state)
{
    (void)state;
    /* Register numbers libunwind rejects (>= 17), for every opcode that
     * takes one. */
    assert_int_equal(FDE_RULE(0, 0x91, 0x01), K_UNSUP);       /* offset */
    assert_int_equal(FDE_RULE(0, 0xd1), K_UNSUP);             /* restore */
    assert_int_equal(FDE_RULE(0, 0x05, 0x11, 0x01), K_UNSUP); /* offset_extended */
    assert_int_equal(FDE_RULE(0, 0x06, 0x11), K_UNSUP);       /* restore_extended */
    assert_int_equal(FDE_RULE(0, 0x07, 0x11), K_UNSUP);       /* undefined */
    assert_int_equal(FDE_RULE(0, 0x08, 0x11), K_UNSUP);       /* same_value */
    assert_int_equal(FDE_RULE(0, 0x09, 0x11, 0x00), K_UNSUP); /* register */
    assert_int_equal(FDE_RULE(0, 0x09, 0x03, 0x11), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x0c, 0x11, 0x08), K_UNSUP); /* def_cfa */
    assert_int_equal(FDE_RULE(0, 0x0d, 0x11), K_UNSUP);       /* def_cfa_register */
    assert_int_equal(FDE_RULE(0, 0x11, 0x11, 0x01), K_UNSUP); /* offset_extended_sf */
    assert_int_equal(FDE_RULE(0, 0x12, 0x11, 0x01), K_UNSUP); /* def_cfa_sf */
    assert_int_equal(FDE_RULE(0, 0x2f, 0x11, 0x01), K_UNSUP); /* GNU_negative_offset_ext */
    /* val_offset, val_offset_sf, val_expression, GNU_window_save, lo_user. */
    assert_int_equal(FDE_RULE(0, 0x14, 0x06, 0x01), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x15, 0x06, 0x01), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x16, 0x06, 0x01, 0x30), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x2d), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x1c), K_UNSUP);
    /* An operand cut short by the end of the FDE. */
    assert_int_equal(FDE_RULE(0, 0x0e, 0x80), K_UNSUP);
    assert_int_equal(FDE_RULE(0, 0x02), K_UNSUP);
    /* An opcode past the address is not run, valid or not. */
    assert_int_equal(FDE_RULE(0x10, 0x0e, 0x10, 0x60, 0x14, 0x06), STD(16));
    assert_int_equal(rule_at(0x20), K_UNSUP);
}

/* ---- numbers and pointer encodings ------------------------------------ */

static void test_leb128(void **state)
{
    (void)state;
    static const uint8_t big_u[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    struct rd r = {big_u, big_u + sizeof big_u, false};
    assert_true(rd_uleb(&r) == UINT64_MAX);
    assert_false(r.bad);
    /* 11 bytes: more than 64 bits. */
    static const uint8_t long_u[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x00};
    r = (struct rd){long_u, long_u + sizeof long_u, false};
    assert_int_equal(rd_uleb(&r), 0);
    assert_true(r.bad);
    r = (struct rd){long_u, long_u + sizeof long_u, false};
    assert_int_equal(rd_sleb(&r), 0);
    assert_true(r.bad);
    /* A 10-byte sleb (-1): the sign is in the last byte, no extension. */
    static const uint8_t minus1[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    r = (struct rd){minus1, minus1 + sizeof minus1, false};
    assert_int_equal(rd_sleb(&r), -1);
    assert_false(r.bad);
    /* Cut short. */
    r = (struct rd){big_u, big_u + 3, false};
    assert_int_equal(rd_uleb(&r), 0);
    assert_true(r.bad);
    r = (struct rd){minus1, minus1 + 3, false};
    assert_int_equal(rd_sleb(&r), 0);
    assert_true(r.bad);
    /* bad sticks: nothing more is read. */
    r = (struct rd){minus1, minus1 + sizeof minus1, true};
    assert_int_equal(rd_u(&r, 1), 0);
    assert_ptr_equal(r.p, minus1);
}

struct enc_case {
    uint8_t enc;
    uint8_t bytes[10];
    size_t n;
    uintptr_t datarel;
    bool indirect_ok, ok;
    uint64_t value; /* for pcrel: relative to the operand */
};

static void test_pointer_encodings(void **state)
{
    (void)state;
    static const struct enc_case cases[] = {
        {0x00, {1, 2, 3, 4, 5, 6, 7, 8}, 8, 0, false, true, 0x0807060504030201u},
        {0x01, {0xe5, 0x8e, 0x26}, 3, 0, false, true, 624485},
        {0x02, {0x34, 0x12}, 2, 0, false, true, 0x1234},
        {0x03, {0x78, 0x56, 0x34, 0x12}, 4, 0, false, true, 0x12345678},
        {0x04, {8, 7, 6, 5, 4, 3, 2, 1}, 8, 0, false, true, 0x0102030405060708u},
        {0x09, {0x9b, 0xf1, 0x59}, 3, 0, false, true, (uint64_t)-624485},
        {0x0a, {0xfe, 0xff}, 2, 0, false, true, (uint64_t)-2},
        {0x0b, {0xfc, 0xff, 0xff, 0xff}, 4, 0, false, true, (uint64_t)-4},
        {0x0c, {0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 8, 0, false, true, (uint64_t)-8},
        /* pcrel: added to the operand's address (checked below). */
        {0x1b, {0x10, 0, 0, 0}, 4, 0, false, true, 0x10},
        {0x12, {0x10, 0}, 2, 0, false, true, 0x10},
        /* datarel: added to the base, when there is one. */
        {0x3b, {0x10, 0, 0, 0}, 4, 0x1000, false, true, 0x1010},
        {0x3b, {0x10, 0, 0, 0}, 4, 0, false, false, 0},
        /* indirect: only where the caller ignores the value. */
        {0x9b, {0x10, 0, 0, 0}, 4, 0, true, true, 0x10},
        {0x9b, {0x10, 0, 0, 0}, 4, 0, false, false, 0},
        /* omit, unknown formats (udata/sdata "5"-"8", 0x0d..), textrel,
         * funcrel, aligned. */
        {0xff, {0}, 1, 0, true, false, 0},
        {0x05, {0, 0, 0, 0}, 4, 0, false, false, 0},
        {0x0d, {0, 0, 0, 0}, 4, 0, false, false, 0},
        {0x23, {0, 0, 0, 0}, 4, 0, false, false, 0},
        {0x43, {0, 0, 0, 0}, 4, 0, false, false, 0},
        {0x53, {0, 0, 0, 0}, 4, 0, false, false, 0},
        /* Cut short. */
        {0x04, {1, 2, 3}, 3, 0, false, false, 0},
        {0x01, {0x80}, 1, 0, false, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct enc_case *c = &cases[i];
        struct rd r = {c->bytes, c->bytes + c->n, false};
        uint64_t v = 0;
        bool ok = rd_enc(&r, c->enc, c->datarel, c->indirect_ok, &v);
        if (ok != c->ok)
            fprintf(stderr, "encoding %#x (case %zu): %d, wanted %d\n", c->enc, i, ok, c->ok);
        assert_int_equal(ok, c->ok);
        if (!ok)
            continue;
        uint64_t want = c->value;
        if ((c->enc & 0x70) == 0x10)
            want += (uintptr_t)c->bytes;
        assert_true(v == want);
        assert_ptr_equal(r.p, c->bytes + c->n);
    }
}

/* An FDE whose pc_begin/range use encoding `enc` (set by the CIE's R). */
static void fde_in_encoding(uint8_t enc)
{
    memset(img, 0, sizeof img);
    std_phdrs();
    std_hdr();
    put_cie(enc, cie_insn, sizeof cie_insn);
    struct out o = {img + FDE_AT};
    uint8_t *len = begin_len(&o, false);
    un(&o, (uint64_t)(o.p - (img + CIE_AT)), 4);
    uint64_t begin = (enc & 0x70) == 0x10 ? A(CODE) - (uintptr_t)o.p : A(CODE);
    switch (enc & 0x0f) {
    case 0x00: case 0x04: case 0x0c: un(&o, begin, 8); un(&o, CODE_LEN, 8); break;
    case 0x01: uleb(&o, begin); uleb(&o, CODE_LEN); break;
    case 0x09: sleb(&o, (int64_t)begin); sleb(&o, CODE_LEN); break;
    case 0x02: case 0x0a: un(&o, begin, 2); un(&o, CODE_LEN, 2); break;
    default: un(&o, begin, 4); un(&o, CODE_LEN, 4); break;
    }
    uleb(&o, 0);
    u8(&o, 0x0e);
    u8(&o, 0x20);
    end_len(&o, len, false);
}

static void test_fde_pointer_encodings(void **state)
{
    (void)state;
    /* Every encoding gcc, clang or a hand-written CIE may use for
     * pc_begin: absolute 8-byte forms and pcrel ones. */
    static const uint8_t encs[] = {0x00, 0x04, 0x0c, 0x10, 0x11, 0x12, 0x13,
                                   0x14, 0x19, 0x1a, 0x1b, 0x1c};
    for (size_t i = 0; i < sizeof encs; i++) {
        fde_in_encoding(encs[i]);
        uint64_t r = rule_at(0x10);
        if (r != STD(32))
            fprintf(stderr, "FDE encoding %#x: rule %#llx\n", encs[i], (unsigned long long)r);
        assert_int_equal(r, STD(32));
    }
    /* datarel (no base for FDEs), indirect, omitted: refused. */
    static const uint8_t bad[] = {0x3b, 0x9b, 0xff, 0x05};
    for (size_t i = 0; i < sizeof bad; i++) {
        fde_in_encoding(bad[i]);
        assert_int_equal(rule_at(0x10), K_UNSUP);
    }
}

/* ---- CIE augmentations and malformed CIEs ------------------------------ */

/* A CIE at CIE_AT written by hand: version, augmentation string, RA
 * column, augmentation data (when z), instructions; and the standard FDE
 * after it (its augmentation data `fde_aug`, when z). */
struct cie_spec {
    uint8_t version;
    const char *aug;
    uint64_t ra;
    const uint8_t *augdata;
    size_t naugdata;
    bool dw64;
    uint64_t id;
    const uint8_t *insn;
    size_t ninsn;
    const uint8_t *fde_aug;
    size_t nfde_aug;
    int64_t data_align; /* 0: -8 */
    const uint8_t *fde_insn;
    size_t nfde_insn;
};

static uint64_t cie_rule(const struct cie_spec *s)
{
    memset(img, 0, sizeof img);
    std_phdrs();
    std_hdr();
    struct out o = {img + CIE_AT};
    uint8_t *len = begin_len(&o, s->dw64);
    un(&o, s->id, s->dw64 ? 8 : 4);
    u8(&o, s->version ? s->version : 1);
    const char *aug = s->aug ? s->aug : "zR";
    raw(&o, aug, strlen(aug) + 1);
    uleb(&o, 1);
    sleb(&o, s->data_align ? s->data_align : -8);
    if ((s->version ? s->version : 1) == 1)
        u8(&o, s->ra ? s->ra : 16);
    else
        uleb(&o, s->ra ? s->ra : 16);
    bool z = aug[0] == 'z';
    if (s->augdata) {
        raw(&o, s->augdata, s->naugdata);
    } else if (z) {
        uleb(&o, 1);
        u8(&o, 0x1b);
    }
    if (s->insn)
        raw(&o, s->insn, s->ninsn);
    else
        raw(&o, cie_insn, sizeof cie_insn);
    end_len(&o, len, s->dw64);

    /* The FDE: pcrel sdata4 when the CIE has R (all these do, or none). */
    o.p = img + FDE_AT;
    len = begin_len(&o, s->dw64);
    un(&o, (uint64_t)(o.p - (img + CIE_AT)), s->dw64 ? 8 : 4);
    if (strchr(aug, 'R') != NULL) {
        un(&o, (uint64_t)(int64_t)(A(CODE) - (uintptr_t)o.p), 4);
        un(&o, CODE_LEN, 4);
    } else {
        un(&o, A(CODE), 8);
        un(&o, CODE_LEN, 8);
    }
    if (z) {
        if (s->fde_aug) {
            raw(&o, s->fde_aug, s->nfde_aug);
        } else {
            uleb(&o, 0);
        }
    }
    if (s->fde_insn) {
        raw(&o, s->fde_insn, s->nfde_insn);
    } else {
        u8(&o, 0x0e);
        u8(&o, 0x10);
    }
    end_len(&o, len, s->dw64);
    return rule_at(0);
}

static void test_cie_augmentations(void **state)
{
    (void)state;
    /* No augmentation: pc_begin absolute udata8. */
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = ""}), STD(16));
    /* Version 3: the RA column is a uleb. */
    assert_int_equal(cie_rule(&(struct cie_spec){.version = 3}), STD(16));
    /* The 64-bit DWARF format for both records. */
    assert_int_equal(cie_rule(&(struct cie_spec){.dw64 = true}), STD(16));
    /* zPLR: a personality (pcrel sdata4, indirect), an LSDA. */
    static const uint8_t plr[] = {7, 0x9b, 0, 0, 0, 0, 0x1b, 0x1b};
    static const uint8_t lsda[] = {4, 0x10, 0, 0, 0};
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zPLR", .augdata = plr,
                                                 .naugdata = sizeof plr, .fde_aug = lsda,
                                                 .nfde_aug = sizeof lsda}),
                     STD(16));
    /* Personality as udata8 absolute, LSDA indirect. */
    static const uint8_t p8[] = {11, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x9b, 0x1b};
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zPLR", .augdata = p8,
                                                 .naugdata = sizeof p8, .fde_aug = lsda,
                                                 .nfde_aug = sizeof lsda}),
                     STD(16));
    /* An LSDA encoding libunwind may not read: refused. */
    static const uint8_t lbad[] = {2, 0x05, 0x1b};
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zLR", .augdata = lbad,
                                                 .naugdata = sizeof lbad, .fde_aug = lsda,
                                                 .nfde_aug = sizeof lsda}),
                     K_UNSUP);
    /* An LSDA explicitly omitted. */
    static const uint8_t lomit[] = {2, 0xff, 0x1b};
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zLR", .augdata = lomit,
                                                 .naugdata = sizeof lomit}),
                     STD(16));
    /* FDE augmentation data longer than the FDE. */
    static const uint8_t fde_long[] = {0x7f};
    assert_int_equal(cie_rule(&(struct cie_spec){.fde_aug = fde_long, .nfde_aug = 1}), K_UNSUP);
    /* A personality encoding that cannot be read (datarel, no base). */
    static const uint8_t pbad[] = {6, 0x3b, 0, 0, 0, 0, 0x1b};
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zPR", .augdata = pbad,
                                                 .naugdata = sizeof pbad}),
                     K_UNSUP);

    /* Data alignment -1: offsets in bytes. RBP or RSP "saved" at CFA-1 is
     * libunwind's own marker value (-1): refused. */
    static const uint8_t cie1[] = {0x0c, 0x07, 0x08, 0x90, 0x08};
    static const uint8_t rbp16[] = {0x86, 0x10}, rbp1[] = {0x86, 0x01}, rsp1[] = {0x87, 0x01};
    assert_int_equal(cie_rule(&(struct cie_spec){.data_align = -1, .insn = cie1,
                                                 .ninsn = sizeof cie1, .fde_insn = rbp16,
                                                 .nfde_insn = sizeof rbp16}),
                     STD_SAVED(8, -16));
    assert_int_equal(cie_rule(&(struct cie_spec){.data_align = -1, .insn = cie1,
                                                 .ninsn = sizeof cie1, .fde_insn = rbp1,
                                                 .nfde_insn = sizeof rbp1}),
                     K_UNSUP);
    assert_int_equal(cie_rule(&(struct cie_spec){.data_align = -1, .insn = cie1,
                                                 .ninsn = sizeof cie1, .fde_insn = rsp1,
                                                 .nfde_insn = sizeof rsp1}),
                     K_UNSUP);
}

static void test_malformed_cies(void **state)
{
    (void)state;
    /* Versions other than 1 and 3. */
    assert_int_equal(cie_rule(&(struct cie_spec){.version = 2}), K_UNSUP);
    assert_int_equal(cie_rule(&(struct cie_spec){.version = 4}), K_UNSUP);
    /* Return address not in column 16. */
    assert_int_equal(cie_rule(&(struct cie_spec){.ra = 15}), K_UNSUP);
    assert_int_equal(cie_rule(&(struct cie_spec){.version = 3, .ra = 300}), K_UNSUP);
    /* Not a CIE (its id is not 0). */
    assert_int_equal(cie_rule(&(struct cie_spec){.id = 7}), K_UNSUP);
    /* 'S' (a signal frame), an unknown letter, no leading z, too long. */
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zRS"}), K_UNSUP);
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zRB"}), K_UNSUP);
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "eh"}), K_UNSUP);
    static const uint8_t five[] = {3, 0x1b, 0xff, 0xff};
    assert_int_equal(cie_rule(&(struct cie_spec){.aug = "zRLLL", .augdata = five,
                                                 .naugdata = sizeof five}),
                     K_UNSUP);
    /* Augmentation data longer than the fields in it, or than the CIE. */
    static const uint8_t longer[] = {3, 0x1b, 0, 0};
    assert_int_equal(cie_rule(&(struct cie_spec){.augdata = longer, .naugdata = sizeof longer}),
                     K_UNSUP);
    static const uint8_t huge[] = {0x7f, 0x1b};
    assert_int_equal(cie_rule(&(struct cie_spec){.augdata = huge, .naugdata = sizeof huge}),
                     K_UNSUP);
    /* An R field cut by the end of the augmentation data. */
    static const uint8_t cut[] = {0};
    assert_int_equal(cie_rule(&(struct cie_spec){.augdata = cut, .naugdata = sizeof cut}),
                     K_UNSUP);
    /* A CIE instruction that is refused. */
    static const uint8_t bad_insn[] = {0x14, 0x06, 0x01};
    assert_int_equal(cie_rule(&(struct cie_spec){.insn = bad_insn, .ninsn = sizeof bad_insn}),
                     K_UNSUP);

    /* Lengths: 0 (a terminator), past the segment; the string unterminated
     * at the end of the CIE. */
    module((const uint8_t[]){0}, 1);
    memset(img + CIE_AT, 0, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    module((const uint8_t[]){0}, 1);
    uint32_t far = IMG;
    memcpy(img + CIE_AT, &far, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    module((const uint8_t[]){0}, 1);
    uint32_t six = 6; /* id and version, then the string runs out */
    memcpy(img + CIE_AT, &six, 4);
    memset(img + CIE_AT + 9, 'z', 8);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* The standard CIE cut inside its augmentation length, or right after
     * it (before the R field). */
    module((const uint8_t[]){0}, 1);
    memcpy(img + CIE_AT, &(uint32_t){12}, 4);
    img[CIE_AT + 15] = 0x80;
    assert_int_equal(rule_at(0), K_UNSUP);
    module((const uint8_t[]){0}, 1);
    memcpy(img + CIE_AT, &(uint32_t){12}, 4);
    img[CIE_AT + 15] = 0;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* The CIE's length cut by the end of its segment. */
    module((const uint8_t[]){0}, 1);
    ph[0].p_memsz = CIE_AT + 2;
    ph[2] = ph[0];
    ph[2].p_vaddr = A(FDE_AT);
    ph[2].p_memsz = IMG - FDE_AT;
    info.dlpi_phnum = 3;
    assert_int_equal(rule_at(0), K_UNSUP);
    ph[0].p_memsz = CIE_AT + 0x40;
    assert_int_equal(rule_at(0), STD(8));
    /* Cut inside the code alignment factor. */
    module((const uint8_t[]){0}, 1);
    memcpy(img + CIE_AT, &(uint32_t){9}, 4);
    img[CIE_AT + 4 + 4 + 1 + 3] = 0x80;
    assert_int_equal(rule_at(0), K_UNSUP);
}

/* ---- the table and the FDE -------------------------------------------- */

static void test_eh_frame_hdr_refusals(void **state)
{
    (void)state;
    static const uint8_t nop[] = {0x0e, 0x10};
    module(nop, sizeof nop);
    assert_int_equal(rule_at(0), STD(16));

    /* No PT_GNU_EH_FRAME. */
    info.dlpi_phnum = 1;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* The header outside the readable segments. */
    module(nop, sizeof nop);
    ph[1].p_memsz = IMG + 1;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* Version, table encoding, pointer and count encodings. */
    module(nop, sizeof nop);
    img[HDR] = 2;
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    img[HDR + 3] = 0x1b;
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    img[HDR + 1] = 0xff;
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    img[HDR + 2] = 0x07;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* datarel for eh_frame_ptr is fine (relative to the header). */
    module(nop, sizeof nop);
    img[HDR + 1] = 0x3b;
    assert_int_equal(rule_at(0), STD(16));
    /* Header cut before its fields. */
    module(nop, sizeof nop);
    ph[1].p_memsz = 3;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* Count 0, or more entries than the header holds. */
    module(nop, sizeof nop);
    memset(img + HDR + 8, 0, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    memcpy(img + HDR + 8, &(uint32_t){2}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* An address before the first entry, or past the FDE's range. */
    module(nop, sizeof nop);
    assert_int_equal(rule_for_addr(A(CODE - 1)), K_UNSUP);
    assert_int_equal(rule_for_addr(A(CODE + CODE_LEN)), K_UNSUP);
    assert_int_equal(rule_for_addr(A(CODE + CODE_LEN - 1)), STD(16));
}

static void test_table_binary_search(void **state)
{
    (void)state;
    /* 200 entries, each FDE covering 8 bytes with its own CFA offset. */
    enum { NF = 200, FDES = 0x1000, FDE_SIZE = 24 };
    static uint8_t big[0x4000] __attribute__((aligned(64)));
    memset(big, 0, sizeof big);
    struct out o = {big};
    u8(&o, 1);
    u8(&o, 0x1b);
    u8(&o, 0x03);
    u8(&o, 0x3b);
    un(&o, 0x100, 4);
    un(&o, NF, 4);
    uintptr_t code = 0x3000; /* [0x3000, 0x3640): addresses only */
    for (int i = 0; i < NF; i++) {
        un(&o, code + (uint64_t)i * 8, 4);
        un(&o, FDES + (uint64_t)i * FDE_SIZE, 4);
    }
    /* The CIE between the table (12 + 1600 bytes) and the FDEs. */
    uint8_t *cie = big + 0x800;
    o.p = cie;
    uint8_t *len = begin_len(&o, false);
    un(&o, 0, 4);
    u8(&o, 1);
    raw(&o, "zR", 3);
    uleb(&o, 1);
    sleb(&o, -8);
    u8(&o, 16);
    uleb(&o, 1);
    u8(&o, 0x1b);
    raw(&o, cie_insn, sizeof cie_insn);
    end_len(&o, len, false);
    for (int i = 0; i < NF; i++) {
        o.p = big + FDES + i * FDE_SIZE;
        len = begin_len(&o, false);
        un(&o, (uint64_t)(o.p - cie), 4);
        un(&o, (uint64_t)(int64_t)((uintptr_t)big + code + (uint64_t)i * 8 - (uintptr_t)o.p), 4);
        un(&o, 8, 4);
        uleb(&o, 0);
        u8(&o, 0x0e);
        uleb(&o, 16 + (uint64_t)i * 8);
        end_len(&o, len, false);
    }
    std_phdrs();
    ph[0].p_vaddr = (uintptr_t)big;
    ph[0].p_memsz = sizeof big;
    ph[1].p_vaddr = (uintptr_t)big;
    ph[1].p_memsz = 12 + NF * 8;
    for (int i = 0; i < NF; i++)
        for (int at = 0; at < 8; at += 7)
            assert_int_equal(rule_for_addr((uintptr_t)big + code + (uint64_t)i * 8 + (uint64_t)at),
                             STD(16 + i * 8));
}

static void test_malformed_fdes(void **state)
{
    (void)state;
    static const uint8_t nop[] = {0x0e, 0x10};
    /* The table points outside the module. */
    module(nop, sizeof nop);
    memcpy(img + HDR + 16, &(int32_t){-0x100000}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* Length 0, and past the segment. */
    module(nop, sizeof nop);
    memset(img + FDE_AT, 0, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    memcpy(img + FDE_AT, &(uint32_t){IMG}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* A 64-bit length cut by the end of the segment. */
    module(nop, sizeof nop);
    memcpy(img + HDR + 16, &(int32_t){IMG - 8}, 4);
    memset(img + IMG - 8, 0xff, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* CIE pointer 0 (the record is a CIE), or before the module. */
    module(nop, sizeof nop);
    memset(img + FDE_AT + 4, 0, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    memcpy(img + FDE_AT + 4, &(uint32_t){FDE_AT + 0x1000}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* A (64-bit) CIE pointer past the address space's start. */
    module(nop, sizeof nop);
    struct out o = {img + FDE_AT};
    un(&o, 0xffffffffu, 4);
    un(&o, 40, 8);
    un(&o, UINT64_MAX, 8);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* The FDE cut inside its CIE pointer. */
    module(nop, sizeof nop);
    memcpy(img + FDE_AT, &(uint32_t){2}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* An FDE that starts after the table says it does. */
    module(nop, sizeof nop);
    int32_t begin;
    memcpy(&begin, img + FDE_AT + 8, 4);
    begin += 0x10;
    memcpy(img + FDE_AT + 8, &begin, 4);
    assert_int_equal(rule_at(0x0f), K_UNSUP);
    assert_int_equal(rule_at(0x10), STD(16));
    /* The FDE cut inside pc_begin / the range. */
    module(nop, sizeof nop);
    memcpy(img + FDE_AT, &(uint32_t){6}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    module(nop, sizeof nop);
    memcpy(img + FDE_AT, &(uint32_t){10}, 4);
    assert_int_equal(rule_at(0), K_UNSUP);
    /* Cut inside the augmentation length. */
    module(nop, sizeof nop);
    memcpy(img + FDE_AT, &(uint32_t){13}, 4);
    img[FDE_AT + 16] = 0x80;
    assert_int_equal(rule_at(0), K_UNSUP);
}

/* ---- program headers ------------------------------------------------- */

static void test_segments(void **state)
{
    (void)state;
    static const uint8_t nop[] = {0x0e, 0x10};
    module(nop, sizeof nop);
    /* An address in no segment of this module: not found (0, go on). */
    struct find f = {A(IMG + 0x10000), 0, false, K_UNSUP};
    assert_int_equal(find_cb(&info, sizeof info, &f), 0);
    assert_false(f.found);
    /* The image split into an unreadable segment holding the code and a
     * readable one with the CFI: found, but the CIE/FDE are read only
     * where readable. */
    ph[2] = ph[1];
    ph[0].p_memsz = CODE;
    ph[1].p_type = PT_LOAD;
    ph[1].p_flags = PF_X;
    ph[1].p_vaddr = A(CODE);
    ph[1].p_memsz = IMG - CODE;
    info.dlpi_phnum = 3;
    assert_int_equal(rule_at(0), STD(16));
    /* The FDE in the unreadable part: refused. */
    ph[0].p_memsz = CIE_AT;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* More readable segments than the view keeps (16): the rest are not
     * readable to the parser. */
    module(nop, sizeof nop);
    for (int i = 0; i < 20; i++) {
        ph[i].p_type = PT_LOAD;
        ph[i].p_flags = PF_R;
        ph[i].p_vaddr = A(IMG + 0x100000 * (uintptr_t)(i + 1));
        ph[i].p_memsz = 16;
    }
    ph[20].p_type = PT_LOAD;
    ph[20].p_flags = PF_R;
    ph[20].p_vaddr = A(0);
    ph[20].p_memsz = IMG;
    ph[21].p_type = PT_GNU_EH_FRAME;
    ph[21].p_vaddr = A(HDR);
    ph[21].p_memsz = 20;
    info.dlpi_phnum = 22;
    assert_int_equal(rule_at(0), K_UNSUP);
    /* The code more than 2 GiB from the header: the table cannot say. */
    module(nop, sizeof nop);
    ph[2].p_type = PT_LOAD;
    ph[2].p_flags = PF_X;
    ph[2].p_vaddr = A(0) + (UINT64_C(1) << 33);
    ph[2].p_memsz = 0x1000;
    info.dlpi_phnum = 3;
    assert_int_equal(rule_for_addr(A(0) + (UINT64_C(1) << 33) + 0x10), K_UNSUP);
    ph[2].p_vaddr = A(0) - (UINT64_C(1) << 33);
    assert_int_equal(rule_for_addr(A(0) - (UINT64_C(1) << 33) + 0x10), K_UNSUP);
}

/* ---- the rule cache ---------------------------------------------------- */

/* n keys (none a real pc: below 1 GiB) from `from` on that hash to the
 * same slot. */
static void colliding_keys(uint64_t from, uint64_t *keys, int n)
{
    uint32_t want = UINT32_MAX;
    int k = 0;
    for (uint64_t key = from; k < n; key++) {
        if (want == UINT32_MAX)
            want = slot_of(key);
        if (slot_of(key) == want)
            keys[k++] = key;
        assert_true(key < 0x40000000u);
    }
}

static void test_cache_probing_and_eviction(void **state)
{
    (void)state;
    uint64_t keys[PROBES + 2];
    colliding_keys(0x2000, keys, PROBES + 2);
    uint32_t epoch = 7;
    uint64_t cur = rule_make(K_STD, 16, 0) | ((uint64_t)epoch << 40);
    uint64_t boot = rule_make(K_STD, 24, 0) | F_BOOT;
    assert_int_equal(cache_get(keys[0]), 0);
    /* A window of PROBES current rules. */
    for (int i = 0; i < PROBES; i++)
        cache_put(keys[i], i == 0 ? boot : cur + (uint64_t)i * (1u << 20), epoch);
    for (int i = 0; i < PROBES; i++)
        assert_int_equal(cache_get(keys[i]), i == 0 ? boot : cur + (uint64_t)i * (1u << 20));
    /* A full window of current rules: the new key is not stored (a miss
     * after PROBES probes, not an error). */
    cache_put(keys[PROBES], cur, epoch);
    assert_int_equal(cache_get(keys[PROBES]), 0);
    /* Replacing a key's own rule. */
    cache_put(keys[3], cur + (40u << 20), epoch);
    assert_int_equal(cache_get(keys[3]), cur + (40u << 20));
    /* Once the epoch moves, the first out-of-epoch, non-boot slot is
     * reused: keys[1] (keys[0] is a start-up rule, valid forever). */
    cache_put(keys[PROBES], cur, epoch + 1);
    assert_int_equal(cache_get(keys[PROBES]), cur);
    assert_int_equal(cache_get(keys[0]), boot);
    assert_int_equal(cache_get(keys[1]), 0);
    assert_int_equal(cache_get(keys[2]), cur + 2u * (1u << 20));
    /* A slot a writer holds (BUSY) is skipped by readers and writers. */
    uint32_t s1 = slot_of(keys[0]) + 1;
    uint64_t was = atomic_load(&table[s1 & (TABLE_SIZE - 1)].key);
    assert_int_equal(was, keys[PROBES]);
    atomic_store(&table[s1 & (TABLE_SIZE - 1)].key, BUSY);
    assert_int_equal(cache_get(keys[PROBES]), 0);
    cache_put(keys[PROBES + 1], cur, epoch + 2);
    assert_int_equal(cache_get(keys[PROBES + 1]), cur); /* took keys[2]'s slot */
    assert_int_equal(cache_get(keys[2]), 0);
    atomic_store(&table[s1 & (TABLE_SIZE - 1)].key, was);
    assert_int_equal(cache_get(keys[PROBES]), cur);

    /* An out-of-epoch slot is reused before the empty one after it. */
    uint64_t k2[2];
    uint64_t from = 0x100000;
    do {
        colliding_keys(from, k2, 2);
        from = k2[1] + 1;
    } while (atomic_load(&table[slot_of(k2[0])].key) != 0 ||
             atomic_load(&table[(slot_of(k2[0]) + 1) & (TABLE_SIZE - 1)].key) != 0);
    cache_put(k2[0], cur, epoch);
    cache_put(k2[1], cur + (1u << 20), epoch + 1);
    assert_int_equal(cache_get(k2[0]), 0);
    assert_int_equal(cache_get(k2[1]), cur + (1u << 20));
    assert_int_equal(atomic_load(&table[slot_of(k2[0])].key), k2[1]);
    assert_int_equal(atomic_load(&table[(slot_of(k2[0]) + 1) & (TABLE_SIZE - 1)].key), 0);
}

/* ---- the walk ---------------------------------------------------------- */

#define N 128

static void bounds(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    assert_int_equal(pthread_getattr_np(pthread_self(), &a), 0);
    assert_int_equal(pthread_attr_getstack(&a, &addr, &size), 0);
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    pthread_attr_destroy(&a);
}

struct cap {
    uintptr_t lo, hi; /* 0: the thread's bounds */
    uint32_t max;
    int nref, nlib;
    uintptr_t ref[N], lib[N];
};

__attribute__((noinline)) static void capture(struct cap *c)
{
    uintptr_t lo, hi;
    bounds(&lo, &hi);
    if (c->hi != 0) {
        lo = c->lo;
        hi = c->hi;
    }
    c->nref = unw_backtrace((void **)c->ref, N);
    c->nlib = handle__unwind(c->lib, c->max, lo, hi);
}

/* capture() with the memo slot it will use held (so every frame's rule
 * comes from the cache); with `short_hi`, a stack bound just above
 * capture()'s frame. */
__attribute__((noinline)) static void capture_no_memo_bounded(struct cap *c, bool short_hi)
{
    uintptr_t lo, hi;
    bounds(&lo, &hi);
    if (short_hi) {
        c->lo = lo;
        c->hi = hi = (uintptr_t)__builtin_frame_address(0);
    }
    struct memo_slot *m =
        &memos[(uint32_t)((hi * UINT64_C(0x9e3779b97f4a7c15)) >> 58) % MEMO_SLOTS];
    assert_int_equal(atomic_exchange(&m->busy, 1), 0);
    capture(c);
    atomic_store(&m->busy, 0);
    c->lo = c->hi = 0;
}

static void capture_no_memo(struct cap *c)
{
    capture_no_memo_bounded(c, false);
}

/* The rule with F_BOOT cleared and epoch e. */
static uint64_t later_rule(uint64_t rule, uint32_t e)
{
    return (rule & (SUBS_MASK & ~(uint64_t)F_BOOT)) | ((uint64_t)(e & 0xffffffu) << 40);
}

static void assert_same_as_libunwind(const struct cap *c)
{
    assert_int_equal(c->nlib, c->nref);
    for (int i = 1; i < c->nref; i++)
        assert_true(c->lib[i] == c->ref[i]);
}

static void test_walk_limits(void **state)
{
    (void)state;
    uintptr_t pcs[4], lo, hi;
    bounds(&lo, &hi);
    struct handle__unwind_stats a, b;
    handle__unwind_stats(&a);
    /* max 0: nothing to write. */
    assert_int_equal(handle__unwind(pcs, 0, lo, hi), 0);
    /* Bounds that cannot hold a frame: refused at once. */
    assert_int_equal(handle__unwind(pcs, 4, lo, 8), -1);
    assert_int_equal(handle__unwind(pcs, 4, hi - 16, hi), -1);
    assert_int_equal(handle__unwind(pcs, 4, 0, lo + 32), -1);
    handle__unwind_stats(&b);
    assert_int_equal(b.unsupported - a.unsupported, 3);
    /* Calling the initializer again changes nothing. */
    uint32_t n = atomic_load(&boot_count);
    handle__unwind_init();
    assert_int_equal(atomic_load(&boot_count), n);
    assert_true(n > 0);
}

static void test_walk_without_memo(void **state)
{
    (void)state;
    static struct cap c;
    for (int i = 0; i < 3; i++) {
        memset(&c, 0, sizeof c);
        c.max = N;
        capture_no_memo(&c);
        assert_true(c.nref > 3);
        assert_same_as_libunwind(&c);
    }
}

/* A stack bound just above the walker's first frames: the CFA leaves it. */
__attribute__((noinline)) static void capture_short_stack(struct cap *c)
{
    uintptr_t lo, hi;
    bounds(&lo, &hi);
    c->lo = lo;
    c->hi = (uintptr_t)__builtin_frame_address(0);
    capture(c);
    c->lo = c->hi = 0;
}

static void test_walk_refuses_cfa_past_stack(void **state)
{
    (void)state;
    static struct cap c;
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_short_stack(&c);
    assert_int_equal(c.nlib, -1);
    assert_true(c.nref > 3);
}

/* Rules planted for capture()'s own frame (the key of the return address
 * into capture) must be obeyed: each makes the walk leave the stack. */
static void test_walk_refuses_bad_rules(void **state)
{
    (void)state;
    static struct cap c;
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo(&c);
    assert_same_as_libunwind(&c);
    uint64_t key = c.lib[0] - 1;
    uint64_t good = cache_get(key);
    assert_int_equal(good & K_MASK, K_STD);
    uint32_t epoch = state_epoch(atomic_load(&dl_state));
    const uint64_t bad[] = {
        rule_make(K_STD | F_BOOT, 0, 0),                           /* CFA = RSP: no progress */
        rule_make(K_STD | F_BOOT, -64, 0),                         /* CFA below RSP */
        rule_make(K_STD | F_BOOT | F_RBP_SAVED, 16, -2040),        /* RBP below the stack */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cache_put(key, bad[i], epoch);
        assert_int_equal(cache_get(key), bad[i]);
        memset(&c, 0, sizeof c);
        c.max = N;
        capture_no_memo(&c);
        assert_int_equal(c.nlib, -1);
    }
    /* RBP saved above the stack's bound (here just above the frame). */
    cache_put(key, rule_make(K_STD | F_BOOT | F_RBP_SAVED, 16, 2000), epoch);
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo_bounded(&c, true);
    assert_int_equal(c.nlib, -1);
    /* With the right rule, the same bound ends the walk one frame up. */
    cache_put(key, good, epoch);
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo_bounded(&c, true);
    assert_int_equal(c.nlib, -1);
    /* An undefined return address ends the stack there. */
    cache_put(key, K_END | F_BOOT, epoch);
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo(&c);
    assert_int_equal(c.nlib, 1);
    /* Unsupported: refused. */
    cache_put(key, K_UNSUP | F_BOOT, epoch);
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo(&c);
    assert_int_equal(c.nlib, -1);

    /* A rule of a module loaded later, of the current epoch: used, and
     * the walk checks the unload counter. */
    struct handle__unwind_stats a, b;
    for (int round = 0; round < 2; round++) { /* 0: the call site's own rule is computed */
        cache_put(key, later_rule(good, epoch), epoch);
        handle__unwind_stats(&a);
        memset(&c, 0, sizeof c);
        c.max = N;
        capture_no_memo(&c);
        handle__unwind_stats(&b);
        assert_same_as_libunwind(&c);
        assert_int_equal(cache_get(key), later_rule(good, epoch)); /* not recomputed */
    }
    assert_int_equal(b.computed, a.computed);
    assert_int_equal(b.checked, a.checked + 1);
    /* The same of an older epoch: recomputed. */
    cache_put(key, later_rule(good, epoch - 1), epoch);
    handle__unwind_stats(&a);
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo(&c);
    handle__unwind_stats(&b);
    assert_same_as_libunwind(&c);
    assert_true(b.computed > a.computed);
    assert_int_equal(cache_get(key), good); /* recomputed, as a start-up rule */
}

/* The unload counter moves between the start of a walk and a rule's
 * computation: the walk starts over and still gives the right stack. */
static void test_walk_retries_when_a_module_goes(void **state)
{
    (void)state;
    void *h = dlopen(HANDLE_UNWFX_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    assert_int_equal(dlclose(h), 0);
    unsigned long long subs = 0;
    dl_iterate_phdr(subs_cb, &subs);
    assert_true(subs > 0);
    static struct cap c;
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo(&c);
    assert_same_as_libunwind(&c);
    /* Make the walker believe it saw one unload fewer, and make it compute
     * capture()'s rule again (a stale non-boot rule in the cache). */
    uint64_t key = c.lib[0] - 1, good = cache_get(key);
    uint64_t s = atomic_load(&dl_state);
    uint32_t epoch = state_epoch(s);
    atomic_store(&dl_state, (s & ~SUBS_MASK) | ((subs - 1) & SUBS_MASK));
    cache_put(key, later_rule(good, epoch - 1), epoch);
    struct handle__unwind_stats a, b;
    handle__unwind_stats(&a);
    memset(&c, 0, sizeof c);
    c.max = N;
    capture_no_memo(&c);
    handle__unwind_stats(&b);
    assert_same_as_libunwind(&c);
    assert_true(b.retried > a.retried);
    /* A new epoch was started. */
    assert_int_equal(state_epoch(atomic_load(&dl_state)), epoch + 1);
    assert_int_equal(atomic_load(&dl_state) & SUBS_MASK, subs & SUBS_MASK);
    /* A smaller count than the one seen changes nothing. */
    observe_subs(subs - 1);
    assert_int_equal(state_epoch(atomic_load(&dl_state)), epoch + 1);
}

/* ---- memos ------------------------------------------------------------ */

static struct memo_slot *my_memo_slot(void)
{
    uintptr_t lo, hi;
    bounds(&lo, &hi);
    return &memos[(uint32_t)((hi * UINT64_C(0x9e3779b97f4a7c15)) >> 58) % MEMO_SLOTS];
}

static struct memo *last_memo(struct memo_slot *ms)
{
    return ms->way[0].used >= ms->way[1].used ? &ms->way[0] : &ms->way[1];
}

/* A remembered stack whose saved RBP no longer checks out is not trusted
 * past that step: the walk goes on from there and remembers the fresh
 * frames. */
static void test_memo_that_does_not_check_out(void **state)
{
    (void)state;
    static struct cap c;
    struct memo_slot *ms = my_memo_slot();
    memset(ms->way, 0, sizeof ms->way);
    uint32_t s = 0;
    uintptr_t right = 0;
    for (int round = 0; round < 3; round++) {
        if (round == 2) {
            /* Round 1 used round 0's memo as it was (no new memo). */
            struct memo *m = last_memo(ms);
            struct memo *other = m == &ms->way[0] ? &ms->way[1] : &ms->way[0];
            assert_int_equal(other->n, 0);
            while (s + 1 < m->n && m->f[s].rbp_at == 0)
                s++;
            assert_true(s + 1 < m->n);
            right = m->f[s + 1].rbp;
            m->f[s + 1].rbp ^= 0x40;
        }
        memset(&c, 0, sizeof c);
        c.max = N;
        capture(&c);
        assert_same_as_libunwind(&c);
    }
    /* The walk remembered the stack again, with the right RBP. */
    struct memo *m = last_memo(ms);
    assert_int_equal(m->n, (uint32_t)c.nlib);
    assert_true(m->f[s + 1].rbp == right);
}

/* A memo made with rules of a module loaded later is not used once the
 * epoch has moved. */
static void test_memo_of_an_old_epoch(void **state)
{
    (void)state;
    static struct cap c;
    struct memo_slot *ms = my_memo_slot();
    memset(ms->way, 0, sizeof ms->way);
    for (int round = 0; round < 3; round++) {
        if (round == 2) {
            struct memo *m = last_memo(ms);
            m->later = true;
            m->epoch = state_epoch(atomic_load(&dl_state)) - 1;
        }
        memset(&c, 0, sizeof c);
        c.max = N;
        capture(&c);
        assert_same_as_libunwind(&c);
        /* Round 1 used round 0's memo; round 2 could not and wrote one. */
        assert_int_equal(ms->way[0].n != 0, 1);
        assert_int_equal(ms->way[1].n != 0, round == 2);
    }
}

/* A walk that starts at frame 1 of the stack a previous walk remembered
 * (same pc, RSP and RBP: an indirect call that called a deeper function,
 * then the walker itself) takes the rest from the memo. */
typedef int (*unwind_fn)(uintptr_t *, uint32_t, uintptr_t, uintptr_t);
static volatile int sink;

__attribute__((noinline)) static int one_deeper(uintptr_t *pcs, uint32_t max, uintptr_t lo,
                                                uintptr_t hi)
{
    int n = handle__unwind(pcs, max, lo, hi);
    sink += n;
    return n;
}

__attribute__((noinline)) static void capture_via(unwind_fn fn, struct cap *c)
{
    uintptr_t lo, hi;
    bounds(&lo, &hi);
    c->nref = unw_backtrace((void **)c->ref, N);
    c->nlib = fn(c->lib, c->max, lo, hi);
    sink += c->nlib;
}

static void test_walk_joins_memo_below_its_first_frame(void **state)
{
    (void)state;
    static struct cap c[2];
    struct memo_slot *ms = my_memo_slot();
    memset(ms->way, 0, sizeof ms->way);
    /* Both calls from one call site of one copy of capture_via (volatile:
     * no clone per function, no unrolled loop). */
    static unwind_fn volatile fns[2] = {one_deeper, handle__unwind};
    static volatile int calls = 2;
    for (int i = 0; i < calls; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].max = N;
        capture_via(fns[i], &c[i]);
    }
    /* c[1] is c[0] without its first frame, and libunwind's. */
    assert_int_equal(c[1].nlib, c[0].nlib - 1);
    for (int i = 0; i < c[1].nlib; i++)
        assert_true(c[1].lib[i] == c[0].lib[i + 1]);
    assert_same_as_libunwind(&c[1]);
    /* Both ways now hold a memo: the second walk remembered its own. */
    assert_true(ms->way[0].n != 0 && ms->way[1].n != 0);
    assert_int_equal(last_memo(ms)->n, (uint32_t)c[1].nlib);
}

/* A frame whose return address is below 0x4000 ends the stack
 * (TAIL_STOP), from a fresh walk and from the memo of one; if the value
 * has changed since, the memo's end is not trusted. The rule for
 * capture_marker's frame is planted so that its return address is read
 * from `marker`. */
struct marker_cap {
    uintptr_t lo, hi;
    volatile uintptr_t *marker;
    uintptr_t marker_value;
    int n;
    uintptr_t pcs[N];
};

__attribute__((noinline)) static void capture_marker(struct marker_cap *c)
{
    volatile uintptr_t marker = c->marker_value;
    c->marker = &marker;
    c->n = handle__unwind(c->pcs, N, c->lo, c->hi);
    sink += (int)marker;
}

static void test_memo_ending_below_0x4000(void **state)
{
    (void)state;
    static struct marker_cap c;
    struct memo_slot *ms = my_memo_slot();
    bounds(&c.lo, &c.hi);
    uint64_t key = 0, good = 0;
    uint32_t epoch = state_epoch(atomic_load(&dl_state));
    static const uintptr_t values[] = {0, 1, 1, 0x5000};
    static const int want[] = {0, 1, 1, -1};
    for (int round = 0; round < 4; round++) {
        c.marker_value = values[round];
        if (round == 1) {
            struct memo *m = last_memo(ms);
            assert_true(m->n > 1 && m->f[0].pc == c.pcs[0]);
            key = c.pcs[0] - 1;
            good = cache_get(key);
            uintptr_t cfa_off = (uintptr_t)c.marker + 8 - m->rsp0;
            assert_true(cfa_off > 0 && cfa_off < 4096);
            cache_put(key, rule_make(K_STD | F_BOOT, (int64_t)cfa_off, 0), epoch);
            memset(ms->way, 0, sizeof ms->way);
        }
        capture_marker(&c);
        if (round == 0) {
            assert_true(c.n > 2);
        } else {
            assert_int_equal(c.n, want[round]);
        }
        if (round == 1) {
            assert_int_equal(last_memo(ms)->tail, TAIL_STOP);
            assert_int_equal(last_memo(ms)->n, 1);
        }
    }
    cache_put(key, good, epoch);
}

/* memo_check on a hand-made memo over a local array: a step checks out
 * when the return address at CFA-8 and the saved RBP (if its rule saves
 * one) are the next frame's; a saved-RBP slot below the walk's readable
 * bound is never read. */
static void test_memo_check(void **state)
{
    (void)state;
    uintptr_t mem[4] = {0x1111, 0xabc0, 0x2222, 0};
    struct memo_frame f[2] = {
        {.pc = 0x1000, .rbp = 0, .cfa = (uintptr_t)&mem[2], .rbp_at = (uintptr_t)&mem[2]},
        {.pc = 0xabc0, .rbp = 0x2222, .cfa = 0, .rbp_at = 0},
    };
    uintptr_t out[2] = {0, 0};
    assert_int_equal(memo_check(f, 1, out, (uintptr_t)&mem[0]), 1);
    assert_int_equal(out[1], 0xabc0);
    out[1] = 0;
    assert_int_equal(memo_check(f, 0, out, (uintptr_t)&mem[0]), 0);
    /* The saved-RBP slot below the bound. */
    assert_int_equal(memo_check(f, 1, out, (uintptr_t)&mem[3]), 0);
    assert_int_equal(out[1], 0);
    /* Another saved RBP, another return address. */
    f[1].rbp = 0x3333;
    assert_int_equal(memo_check(f, 1, out, (uintptr_t)&mem[0]), 0);
    /* RBP unchanged by the rule: not compared. */
    f[0].rbp_at = 0;
    assert_int_equal(memo_check(f, 1, out, (uintptr_t)&mem[0]), 1);
    f[1].pc = 0xabc8;
    assert_int_equal(memo_check(f, 1, out, (uintptr_t)&mem[0]), 0);
}

__attribute__((noinline)) static void recurse(int depth, struct cap *c)
{
    if (depth > 0)
        recurse(depth - 1, c);
    else
        capture(c);
    sink += depth;
}

/* Stacks longer than a memo holds (64 frames), and memos of truncated
 * walks that lie wholly below the next walk's frames. */
static void test_long_and_truncated_memos(void **state)
{
    (void)state;
    static struct cap c;
    struct memo_slot *ms = my_memo_slot();
    memset(ms->way, 0, sizeof ms->way);
    for (int round = 0; round < 2; round++) {
        memset(&c, 0, sizeof c);
        c.max = N;
        recurse(100, &c);
        assert_true(c.nlib > 100);
        assert_same_as_libunwind(&c);
        /* The first 64 frames are remembered; the walk went on past them. */
        struct memo *m = last_memo(ms);
        assert_int_equal(m->n, MEMO_FRAMES);
        assert_int_equal(m->tail, TAIL_MAX);
        assert_true(m->f[MEMO_FRAMES - 1].pc == c.lib[MEMO_FRAMES - 1]);
    }

    /* A 3-frame walk deep in a recursion, then a full walk from a
     * shallower point: its frames are all above the memo's. */
    memset(ms->way, 0, sizeof ms->way);
    memset(&c, 0, sizeof c);
    c.max = 3;
    recurse(12, &c);
    assert_int_equal(c.nlib, 3);
    assert_int_equal(last_memo(ms)->n, 3);
    memset(&c, 0, sizeof c);
    c.max = N;
    recurse(2, &c);
    assert_same_as_libunwind(&c);
    assert_int_equal(last_memo(ms)->n, (uint32_t)c.nlib);
}

/* ---- concurrency ------------------------------------------------------ */

/* Writers keep evicting each other's rules from one probe window (12
 * keys for 8 slots, each writer with its own epochs); readers must only
 * ever get a key's own rule (its index in cfa_off) or a miss. */
enum { RACE_KEYS = 12, RACE_WRITES = 200000 };
static uint64_t race_keys[RACE_KEYS];
static atomic_int race_writers, race_wrong;
static atomic_long race_hits;
static pthread_barrier_t race_start;

static void *race_writer(void *arg)
{
    uint32_t epoch = (uint32_t)(uintptr_t)arg * 1000000u;
    pthread_barrier_wait(&race_start);
    for (int i = 0; i < RACE_WRITES; i++) {
        int k = i % RACE_KEYS;
        if (k == 0)
            epoch++;
        cache_put(race_keys[k], rule_make(K_STD, k + 1, 0) | ((uint64_t)epoch << 40), epoch);
    }
    atomic_fetch_sub(&race_writers, 1);
    return NULL;
}

static void *race_reader(void *arg)
{
    (void)arg;
    long hits = 0;
    pthread_barrier_wait(&race_start);
    /* While the writers run, then one last pass over every key (the
     * window then holds some of them: at least one hit whatever the
     * scheduling). */
    bool last = false;
    for (unsigned i = 0; !last || i % RACE_KEYS != 0; i++) {
        if (!last && i % RACE_KEYS == 0)
            last = atomic_load(&race_writers) == 0;
        int k = (int)(i % RACE_KEYS);
        uint64_t r = cache_get(race_keys[k]);
        if (r == 0)
            continue;
        hits++;
        if (rule_cfa_off(r) != k + 1 || (r & K_MASK) != K_STD)
            atomic_fetch_add(&race_wrong, 1);
    }
    atomic_fetch_add(&race_hits, hits);
    return NULL;
}

static void test_cache_readers_race_writers(void **state)
{
    (void)state;
    colliding_keys(0x1000000, race_keys, RACE_KEYS);
    atomic_store(&race_writers, 2);
    assert_int_equal(pthread_barrier_init(&race_start, NULL, 4), 0);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, i < 2 ? race_writer : race_reader,
                                        (void *)(i + 1)),
                         0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&race_start);
    assert_int_equal(atomic_load(&race_wrong), 0);
    assert_true(atomic_load(&race_hits) > 0);
}

/* Threads reporting ever larger unload counts at once: the largest one
 * wins, and the epoch moves at most once per count. */
static void *subs_reporter(void *arg)
{
    unsigned long long base = *(const unsigned long long *)arg;
    pthread_barrier_wait(&race_start);
    for (unsigned long long v = 1; v <= 20000; v++)
        observe_subs(base + v);
    return NULL;
}

static void test_unload_counter_observed_concurrently(void **state)
{
    (void)state;
    uint64_t saved = atomic_load(&dl_state);
    unsigned long long base = saved & SUBS_MASK;
    pthread_t t[3];
    assert_int_equal(pthread_barrier_init(&race_start, NULL, 3), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, subs_reporter, &base), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&race_start);
    uint64_t now = atomic_load(&dl_state);
    assert_int_equal(now & SUBS_MASK, base + 20000);
    uint32_t moved = (state_epoch(now) - state_epoch(saved)) & ((1u << EPOCH_BITS) - 1u);
    assert_true(moved >= 1 && moved <= 20000);
    atomic_store(&dl_state, saved); /* the real count again, for later walks */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_fde),
        cmocka_unit_test(test_advance_opcodes),
        cmocka_unit_test(test_set_loc),
        cmocka_unit_test(test_saved_rbp_opcodes),
        cmocka_unit_test(test_cfa_opcodes),
        cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_return_address_rules),
        cmocka_unit_test(test_rsp_rules),
        cmocka_unit_test(test_remember_restore),
        cmocka_unit_test(test_refused_opcodes),
        cmocka_unit_test(test_leb128),
        cmocka_unit_test(test_pointer_encodings),
        cmocka_unit_test(test_fde_pointer_encodings),
        cmocka_unit_test(test_cie_augmentations),
        cmocka_unit_test(test_malformed_cies),
        cmocka_unit_test(test_eh_frame_hdr_refusals),
        cmocka_unit_test(test_table_binary_search),
        cmocka_unit_test(test_malformed_fdes),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_cache_probing_and_eviction),
        cmocka_unit_test(test_walk_limits),
        cmocka_unit_test(test_walk_without_memo),
        cmocka_unit_test(test_walk_refuses_cfa_past_stack),
        cmocka_unit_test(test_walk_refuses_bad_rules),
        cmocka_unit_test(test_walk_retries_when_a_module_goes),
        cmocka_unit_test(test_memo_that_does_not_check_out),
        cmocka_unit_test(test_memo_of_an_old_epoch),
        cmocka_unit_test(test_walk_joins_memo_below_its_first_frame),
        cmocka_unit_test(test_memo_ending_below_0x4000),
        cmocka_unit_test(test_long_and_truncated_memos),
        cmocka_unit_test(test_memo_check),
        cmocka_unit_test(test_cache_readers_race_writers),
        cmocka_unit_test(test_unload_counter_observed_concurrently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
