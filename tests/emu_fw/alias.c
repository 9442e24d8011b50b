/* The SRAM seen through its two aliases (esp32c3): code written through the DRAM alias runs at
 * the IRAM alias, a byte stored through DRAM is seen by a word load through IRAM, then one access
 * through the IRAM alias at access_site: ACCESS_INSN (-D, an asm string) at IRAM_BUF + 16 +
 * ACCESS_OFFSET. DRAM_BUF (-D): a free DRAM address (the emulator heap). */
#include "emu_test.h"
int main(void) {
    volatile uint32_t *dram = (volatile uint32_t *)DRAM_BUF;
    printf("call %d\n", write_code_and_call(55));
    volatile uint8_t *dram_bytes = (volatile uint8_t *)(DRAM_BUF + 16);
    dram[4] = 0;
    dram_bytes[1] = 0xAB;              /* byte store through the DRAM alias */
    uint32_t word;
    __asm__ volatile(".globl word_load\nword_load: lw %0, 0(%1)" : "=r"(word) : "r"(IRAM_BUF + 16));
    printf("word %08lx\n", (unsigned long)word);
    uint32_t value;
    __asm__ volatile(".globl access_site\naccess_site: " ACCESS_INSN
                     : "=r"(value) : "r"(IRAM_BUF + 16 + ACCESS_OFFSET) : "memory");
    printf("access went through %lx\n", (unsigned long)value);
    return 0;
}
