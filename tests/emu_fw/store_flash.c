/* One store into a flash window, at store_site; TARGET (-D) picks where. */
#include "emu_test.h"
static const char rodata_text[] = "read-only";
int main(void) {
    uintptr_t targets[] = {
        (uintptr_t)&main,                                           /* 0: firmware text (ibus) */
        (uintptr_t)rodata_text,                                     /* 1: firmware rodata */
        DYNAPPS_EMU_FLASH_DBUS_BASE + 0x200000,                     /* 2: data view of the flash */
        DYNAPPS_EMU_FLASH_IBUS_BASE + 0x300000,                     /* 3: unmapped ibus page */
    };
    uintptr_t target = targets[TARGET];
    printf("target %08lx\n", (unsigned long)target);
    __asm__ volatile(".globl store_site\nstore_site: sw %0, 0(%1)" :: "r"(0x1234), "r"(target) : "memory");
    puts("store went through");
    return 0;
}
