/* Does nothing: a firmware to look at the machine's memory map with. */
#include "emu_test.h"
int main(void) { return 0; }
