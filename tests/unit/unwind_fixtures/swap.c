/*
 * swap.c - built twice, as libhandle_unwfx_a.so and (with FX_B)
 * libhandle_unwfx_b.so: fx_swap(leaf, arg) calls leaf(arg) from the same
 * offset in both, but A's frame is 16 bytes (CFA = RSP + 16) and B's is 48
 * (CFA = RSP + 48), and B stores 0 where A's rule would look for the
 * return address. A walker that kept A's cached rule after dlclose(A) and
 * dlopen(B) at the same address would stop at B's frame (return address
 * 0) instead of walking on: test_unwind.c checks that it does not.
 */
#ifdef FX_B
#define FRAME "40"
#define CFA "48"
#define ZERO_AT "8"
#else
#define FRAME "8"
#define CFA "16"
#define ZERO_AT "-8" /* below RSP: the call overwrites it; same length */
#endif

__asm__(".text\n"
        ".globl fx_swap\n"
        ".type fx_swap, @function\n"
        "fx_swap:\n"
        ".cfi_startproc\n"
        "subq $" FRAME ", %rsp\n"
        ".cfi_def_cfa_offset " CFA "\n"
        "movq $0, " ZERO_AT "(%rsp)\n"
        "movq %rdi, %rax\n"
        "movq %rsi, %rdi\n"
        "call *%rax\n"
        "addq $" FRAME ", %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size fx_swap, .-fx_swap\n");
