/* Code rewritten through the DRAM alias and called again at the IRAM alias, with the second
 * sync (RESYNC=1) or without it (RESYNC=0). DRAM_BUF (-D): a free DRAM address. */
#include "emu_test.h"
int main(void) {
    volatile uint32_t *dram = (volatile uint32_t *)DRAM_BUF;
    int first = write_code_and_call(1);
    dram[0] = RV_LI_A0(2);
    if (RESYNC) dynapps_emu_sync_code(IRAM_BUF, 8);
    int second = ((int_fn)IRAM_BUF)();
    printf("%d %d\n", first, second);
    return 0;
}
