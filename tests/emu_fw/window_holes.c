/* A firmware that leaves mappings and holes below the apps window before the loader's first
 * lookup: three one-page mappings first fit, the first and the third unmapped again (a one-page
 * hole, the kept page, then free space up to the window). The loader must still map the window
 * at its own address: crc (IRAM) and fir (XIP) load and run. */
#include "emu_test.h"
#include "dynapps.h"
int main(void) {
    uintptr_t page[3];
    for (int i = 0; i < 3; i++) {
        page[i] = 0;
        if (dynapps_emu_mmu_esp(DYNAPPS_EMU_MMU_ESP_MAP, &page[i], TAKEN_FROM + i * DYNAPPS_EMU_MMU_PAGE_SIZE,
                                DYNAPPS_EMU_MMU_PAGE_SIZE, 0) != DYNAPPS_EMU_MMU_OK) {
            return 1;
        }
    }
    dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, page[0], 0, 0);
    dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, page[2], 0, 0);
    printf("kept %08lx\n", (unsigned long)page[1]);
    dynapps_app_t *crc = NULL, *fir = NULL;
    uint32_t (*crc32)(const uint8_t *, uint32_t) = NULL;
    uint32_t (*taps)(void) = NULL;
    dynapps_err_t e1 = dynapps_load("crc", &crc);
    dynapps_err_t e2 = dynapps_load("fir", &fir);
    if (e1 || e2 || dynapps_find_export(crc, "crc32_compute", (void **)&crc32) ||
        dynapps_find_export(fir, "fir_taps", (void **)&taps)) {
        printf("crc %s fir %s\n", dynapps_err_name(e1), dynapps_err_name(e2));
        return 2;
    }
    dynapps_app_info_t info;
    dynapps_get_info(fir, &info);
    printf("crc %08lx fir taps %lu at %08lx\n", (unsigned long)crc32((const uint8_t *)"123456789", 9),
           (unsigned long)taps(), (unsigned long)info.code_addr);
    return dynapps_unload(crc) || dynapps_unload(fir) ? 3 : 0;
}
