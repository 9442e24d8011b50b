/* Calls code written at DRAM_BUF (-D) through the DRAM alias itself, which does not execute. */
#include "emu_test.h"
int main(void) {
    volatile uint32_t *dram = (volatile uint32_t *)DRAM_BUF;
    dram[0] = RV_LI_A0(1);
    dram[1] = RV_RET;
    return ((int_fn)DRAM_BUF)();
}
