/* int32_t asmfn_mac(const int32_t *a, const int32_t *b, uint32_t count): sum of a[i] * b[i]. */
    .section .text.asmfn_mac,"ax",@progbits
    .globl asmfn_mac
    .type asmfn_mac, @function
    .balign 2
asmfn_mac:
    li t0, 0
1:  beqz a2, 2f
    lw t1, 0(a0)
    lw t2, 0(a1)
    mul t1, t1, t2
    add t0, t0, t1
    addi a0, a0, 4
    addi a1, a1, 4
    addi a2, a2, -1
    j 1b
2:  mv a0, t0
    ret
    .size asmfn_mac, . - asmfn_mac
