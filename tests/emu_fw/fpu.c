/* One single-precision multiply on the FPU, at fpu_site. */
#include "emu_test.h"
int main(void) {
    volatile float a = 1.5f, b = 2.25f;
    float product;
    __asm__ volatile(".globl fpu_site\nfpu_site: fmul.s %0, %1, %2" : "=f"(product) : "f"(a), "f"(b));
    printf("product %d\n", (int)(product * 1000));
    return 0;
}
