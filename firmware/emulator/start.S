/*
 * Emulator firmware start-up and trap handler.
 *
 * _start: gp (the firmware's own small-data pointer; apps never use gp), sp, mtvec, FPU on
 * ilp32f builds, .data copied when it has a separate load address, .bss and .tbss zeroed,
 * tp = the TLS block (picolibc keeps errno there), constructors, main(); main's return value
 * is written to the control block's EXIT register.
 *
 * Trap handler: prints "TRAP mcause=0x... mepc=0x... mtval=0x..." on the UART without using
 * the stack or any C code, then exits with DYNAPPS_EMU_EXIT_TRAP_BASE | (mcause & 0x7f).
 * (Memory faults the emulator catches itself, such as a store into flash, stop the machine
 * before any trap is taken: the Python side reports those.)
 */
#include "dynapps_emu.h"

    .option norelax

    .section .text.dynapps_emu_start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    la      gp, __global_pointer$
    la      sp, __stack_top
    la      t0, dynapps_emu_trap_entry
    csrw    mtvec, t0
#ifdef __riscv_flen
    li      t0, 0x2000              /* mstatus.FS = Initial: FPU instructions allowed */
    csrs    mstatus, t0
    fscsr   zero
#endif
    /* .data (and .tdata): copy when the load address differs from the run address */
    la      a0, __data_start
    la      a1, __data_source
    la      a2, __data_end
    beq     a0, a1, 2f
1:  bgeu    a0, a2, 2f
    lbu     t0, 0(a1)
    sb      t0, 0(a0)
    addi    a0, a0, 1
    addi    a1, a1, 1
    j       1b
2:  /* .tbss and .bss */
    la      a0, __bss_start
    la      a1, __bss_end
3:  bgeu    a0, a1, 4f
    sb      zero, 0(a0)
    addi    a0, a0, 1
    j       3b
4:  la      tp, __tls_base
    call    __libc_init_array
    call    main
    li      t0, DYNAPPS_EMU_CTRL_BASE
    sw      a0, DYNAPPS_EMU_REG_EXIT(t0)
5:  j       5b
    .size _start, . - _start

    .section .text.dynapps_emu_trap, "ax", @progbits
    .balign 4
    .globl dynapps_emu_trap_entry
    .type dynapps_emu_trap_entry, @function
dynapps_emu_trap_entry:
    la      a0, trap_text_cause
    jal     t6, trap_puts
    csrr    a0, mcause
    jal     t6, trap_puthex
    la      a0, trap_text_mepc
    jal     t6, trap_puts
    csrr    a0, mepc
    jal     t6, trap_puthex
    la      a0, trap_text_mtval
    jal     t6, trap_puts
    csrr    a0, mtval
    jal     t6, trap_puthex
    la      a0, trap_text_end
    jal     t6, trap_puts
    csrr    a0, mcause
    andi    a0, a0, 0x7f
    ori     a0, a0, DYNAPPS_EMU_EXIT_TRAP_BASE
    li      t0, DYNAPPS_EMU_CTRL_BASE
    sw      a0, DYNAPPS_EMU_REG_EXIT(t0)
1:  j       1b

/* a0 = NUL-terminated string; returns through t6; uses t0, t1 */
trap_puts:
    li      t0, DYNAPPS_EMU_UART_BASE
1:  lbu     t1, 0(a0)
    beqz    t1, 2f
    sw      t1, 0(t0)
    addi    a0, a0, 1
    j       1b
2:  jr      t6

/* a0 = value, printed as 8 hex digits; returns through t6; uses t0-t3 */
trap_puthex:
    li      t0, DYNAPPS_EMU_UART_BASE
    li      t2, 8
    li      t3, 9
1:  srli    t1, a0, 28
    slli    a0, a0, 4
    bleu    t1, t3, 2f
    addi    t1, t1, 'a' - '0' - 10
2:  addi    t1, t1, '0'
    sw      t1, 0(t0)
    addi    t2, t2, -1
    bnez    t2, 1b
    jr      t6
    .size dynapps_emu_trap_entry, . - dynapps_emu_trap_entry

    .section .rodata.dynapps_emu_trap, "a", @progbits
trap_text_cause:
    .asciz  "\nTRAP mcause=0x"
trap_text_mepc:
    .asciz  " mepc=0x"
trap_text_mtval:
    .asciz  " mtval=0x"
trap_text_end:
    .asciz  "\n"
