/* Initialised data in the chip's SRAM: loading it on another chip's map must be refused. */
#include "emu_test.h"
volatile int in_ram = 5;
int main(void) { return in_ram - 5; }
