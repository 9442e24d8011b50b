/* An illegal instruction at bad_site: the platform's trap handler reports it and exits. */
#include "emu_test.h"
int main(void) {
    puts("before");
    __asm__ volatile(".globl bad_site\nbad_site: .word 0xffffffff");
    puts("after");
    return 0;
}
