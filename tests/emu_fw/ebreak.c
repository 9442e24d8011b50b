/* ebreak at brk: Unicorn stops the run. */
#include "emu_test.h"
int main(void) { __asm__ volatile(".globl brk\nbrk: ebreak"); return 0; }
