/* MMU requests through the control block, one line per request with its status; the slot at
 * APP_SLOT (-D, a flash offset) holds `li a0, 7; ret`. AFTER_UNMAP=1 then calls the unmapped
 * address from call_site. */
#include "emu_test.h"
int main(void) {
    uintptr_t vaddr = DYNAPPS_EMU_FLASH_IBUS_BASE + APP_SLOT;
    const uint32_t exec = DYNAPPS_EMU_MMU_MAP_EXEC, page = DYNAPPS_EMU_MMU_PAGE_SIZE;
    printf("misaligned vaddr %lu\n", (unsigned long)dynapps_emu_mmu(exec, vaddr + 0x100, APP_SLOT, 64));
    printf("misaligned offset %lu\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, APP_SLOT + 0x100, 64));
    printf("outside %lu\n", (unsigned long)dynapps_emu_mmu(exec, DYNAPPS_EMU_FLASH_IBUS_BASE + DYNAPPS_EMU_FLASH_IBUS_SIZE,
                                                           APP_SLOT, 64));
    printf("beyond %lu\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, dynapps_emu_flash_size(), 64));
    printf("map %lu\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, APP_SLOT, 64));
    printf("overlap %lu\n", (unsigned long)dynapps_emu_mmu(exec, vaddr, APP_SLOT, page));
    printf("call %d\n", ((int_fn)vaddr)());
    printf("unmap %lu\n", (unsigned long)dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, vaddr, 0, 0));
    printf("unmap again %lu\n", (unsigned long)dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, vaddr, 0, 0));
    if (AFTER_UNMAP) {
        __asm__ volatile(".globl call_site\ncall_site: jalr %0" :: "r"(vaddr) : "ra", "memory");
    }
    return 0;
}
