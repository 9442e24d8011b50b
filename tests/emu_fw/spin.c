/* Never exits: stopped by the time or instruction limit. */
#include "emu_test.h"
int main(void) { for (;;) { __asm__ volatile("nop"); } }
