/*
 * cfi.S - frames described by hand-written CFI, for test_unwind.c: each
 * fx_cfi_* (fx_leaf leaf, void *arg) calls leaf(arg) from a frame whose
 * CFI uses opcodes and augmentations compilers seldom or never emit.
 * Accepted ones (the walker must give libunwind's stack): fx_cfi_sf,
 * fx_cfi_rbp, fx_cfi_personality, fx_cfi_end. Refused ones (the walker
 * must say -1; libunwind's slow path still walks them): fx_cfi_cfa_expr,
 * fx_cfi_reg_expr, fx_cfi_ra_in_reg, fx_cfi_signal.
 */
    .text

/* The _sf forms, offset/restore_extended, GNU_args_size,
 * GNU_negative_offset_extended, advance_loc2 and advance_loc4 (gaps of 300
 * and 70000 bytes between rows), remember/restore_state around an early
 * epilogue. */
    .globl fx_cfi_sf
    .type fx_cfi_sf, @function
fx_cfi_sf:
    .cfi_startproc
    push %rbp
    .cfi_escape 0x12, 0x07, 0x7e        /* def_cfa_sf rsp, -2: CFA = rsp + 16 */
    .cfi_escape 0x05, 0x06, 0x02        /* offset_extended rbp, 2: CFA - 16 */
    mov %rsp, %rbp
    push %r15
    .cfi_def_cfa_offset 24
    .cfi_escape 0x11, 0x0f, 0x03        /* offset_extended_sf r15, 3: CFA - 24 */
    push %rbx
    .cfi_escape 0x13, 0x7c              /* def_cfa_offset_sf -4: CFA = rsp + 32 */
    .cfi_offset rbx, -32
    .cfi_escape 0x2f, 0x0e, 0x01        /* GNU_negative_offset_extended r14, 1 */
    .cfi_escape 0x06, 0x0e              /* restore_extended r14: unchanged again */
    jmp 1f
    .skip 300, 0xcc
1:  sub $16, %rsp
    .cfi_def_cfa_offset 48
    .cfi_escape 0x2e, 0x10              /* GNU_args_size 16 */
    mov %rdi, %rax
    mov %rsi, %rdi
    jmp 2f
    .skip 70000, 0xcc
2:  call *%rax
    add $16, %rsp
    .cfi_def_cfa_offset 32
    .cfi_remember_state
    test %rax, %rax
    jz 3f
    pop %rbx
    .cfi_def_cfa_offset 24
    .cfi_restore rbx
    pop %r15
    .cfi_def_cfa_offset 16
    .cfi_escape 0x06, 0x0f              /* restore_extended r15 */
    pop %rbp
    .cfi_def_cfa rsp, 8
    .cfi_restore rbp
    ret
3:  .cfi_restore_state
    pop %rbx
    .cfi_def_cfa_offset 24
    pop %r15
    .cfi_def_cfa_offset 16
    pop %rbp
    .cfi_def_cfa rsp, 8
    ret
    .cfi_endproc
    .size fx_cfi_sf, . - fx_cfi_sf

/* CFA = RBP + 16 by def_cfa_sf, the stack realigned to 32 bytes. */
    .globl fx_cfi_rbp
    .type fx_cfi_rbp, @function
fx_cfi_rbp:
    .cfi_startproc
    push %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset rbp, -16
    mov %rsp, %rbp
    .cfi_escape 0x12, 0x06, 0x7e        /* def_cfa_sf rbp, -2: CFA = rbp + 16 */
    sub $64, %rsp
    and $-32, %rsp
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    leave
    .cfi_def_cfa rsp, 8
    ret
    .cfi_endproc
    .size fx_cfi_rbp, . - fx_cfi_rbp

/* A personality (indirect, pcrel sdata8) and an LSDA (pcrel sdata4): a
 * CIE "zPLR", an FDE with augmentation data. Neither is ever used. */
    .globl fx_cfi_personality
    .type fx_cfi_personality, @function
fx_cfi_personality:
    .cfi_startproc
    .cfi_personality 0x9c, fx_cfi_personality_ref
    .cfi_lsda 0x1b, fx_cfi_lsda
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size fx_cfi_personality, . - fx_cfi_personality

fx_cfi_never_called_personality:
    ud2

/* The return address undefined: the outermost frame, for both unwinders. */
    .globl fx_cfi_end
    .type fx_cfi_end, @function
fx_cfi_end:
    .cfi_startproc
    .cfi_undefined rip
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size fx_cfi_end, . - fx_cfi_end

/* CFA by def_cfa_expression (DW_OP_breg7 32): refused. */
    .globl fx_cfi_cfa_expr
    .type fx_cfi_cfa_expr, @function
fx_cfi_cfa_expr:
    .cfi_startproc
    sub $24, %rsp
    .cfi_escape 0x0f, 0x02, 0x77, 0x20  /* def_cfa_expression: rsp + 32 */
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    add $24, %rsp
    .cfi_def_cfa rsp, 8
    ret
    .cfi_endproc
    .size fx_cfi_cfa_expr, . - fx_cfi_cfa_expr

/* RBP saved where an expression says (DW_CFA_expression rbp, breg7 0):
 * refused. */
    .globl fx_cfi_reg_expr
    .type fx_cfi_reg_expr, @function
fx_cfi_reg_expr:
    .cfi_startproc
    push %rbp
    .cfi_def_cfa_offset 16
    .cfi_escape 0x10, 0x06, 0x02, 0x77, 0x00 /* expression rbp: [rsp + 0] */
    xor %ebp, %ebp
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    pop %rbp
    .cfi_def_cfa_offset 8
    .cfi_restore rbp
    ret
    .cfi_endproc
    .size fx_cfi_reg_expr, . - fx_cfi_reg_expr

/* The return address copied to RBX and described there (.cfi_register):
 * refused. */
    .globl fx_cfi_ra_in_reg
    .type fx_cfi_ra_in_reg, @function
fx_cfi_ra_in_reg:
    .cfi_startproc
    push %rbx
    .cfi_def_cfa_offset 16
    .cfi_offset rbx, -16
    mov 8(%rsp), %rbx
    .cfi_register rip, rbx
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    .cfi_restore rip
    pop %rbx
    .cfi_def_cfa_offset 8
    .cfi_restore rbx
    ret
    .cfi_endproc
    .size fx_cfi_ra_in_reg, . - fx_cfi_ra_in_reg

/* A CIE with 'S' (a signal frame) for an ordinary frame: refused. */
    .globl fx_cfi_signal
    .type fx_cfi_signal, @function
fx_cfi_signal:
    .cfi_startproc
    .cfi_signal_frame
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size fx_cfi_signal, . - fx_cfi_signal

    .section .rodata
fx_cfi_lsda:
    .byte 0xff, 0xff, 0x01, 0x00

    .data
    .balign 8
fx_cfi_personality_ref:
    .quad fx_cfi_never_called_personality

    .section .note.GNU-stack, "", @progbits
