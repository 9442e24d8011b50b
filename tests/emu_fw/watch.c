/* A byte store and a word load at BUF (-D), and ten calls of add3: what the watches record. */
#include "emu_test.h"
__attribute__((noipa)) int add3(int x) { return x + 3; }
int main(void) {
    volatile uint8_t *bytes = (volatile uint8_t *)BUF;
    volatile uint32_t *words = (volatile uint32_t *)BUF;
    bytes[1] = 0x5A;
    uint32_t w = words[0];
    int sum = 0;
    for (int i = 0; i < 10; i++) sum += add3(i);
    return (int)(w >> 8) + sum - 0x5A - 75;
}
