/* printf through the UART (integer, string, double, hex) and an exit code from main. */
#include "emu_test.h"
int main(void) {
    volatile double half = 0.5;
    printf("hello %d %s %.3f %08x\n", -42, "emu", half * 5, 0xC0FFEEu);
    return 7;
}
