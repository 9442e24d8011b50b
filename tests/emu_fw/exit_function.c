/* exit() with a negative code. */
#include <stdlib.h>
#include "emu_test.h"
int main(void) { puts("bye"); exit(-3); }
