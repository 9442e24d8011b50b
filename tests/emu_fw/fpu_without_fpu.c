/* An FPU instruction at fpu_site, built for a chip without an FPU: it must trap. */
#include "emu_test.h"
int main(void) {
    __asm__ volatile(".option push\n.option arch, +f\n.globl fpu_site\nfpu_site: fmv.w.x ft0, zero\n.option pop");
    return 0;
}
