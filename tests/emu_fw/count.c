/* A block of a known number of instructions between marks 1 and 2, and the firmware's own
 * reading of the instruction counter around it. */
#include "emu_test.h"
int main(void) {
    uint64_t before = dynapps_emu_instructions();
    __asm__ volatile(
        "li t0, %0\n"
        "li t1, 1\n"
        "sw t1, %1(t0)\n"           /* mark 1 */
        ".rept 100\n addi t2, t2, 1\n .endr\n"
        "li t3, 50\n"
        "1: addi t3, t3, -1\n bnez t3, 1b\n"
        "li t1, 2\n"
        "sw t1, %1(t0)\n"           /* mark 2 */
        :: "i"(DYNAPPS_EMU_CTRL_BASE), "i"(DYNAPPS_EMU_REG_MARK) : "t0", "t1", "t2", "t3", "memory");
    uint64_t after = dynapps_emu_instructions();
    printf("counter %lu\n", (unsigned long)(after - before));
    return 0;
}
