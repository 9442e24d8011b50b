/* The loader core with the emulator port loads the example apps crc (IRAM) and fir (XIP) from
 * the flash image twice, calls them, unloads them, and checks the heap is whole again. */
#include "emu_test.h"
#include "dynapps.h"
int main(void) {
    size_t before = dynapps_emu_heap_free();
    for (int round = 0; round < 2; round++) {  /* the second round reuses the same RAM and window */
        dynapps_app_t *crc, *fir;
        uint32_t (*crc32)(const uint8_t *, uint32_t);
        uint32_t (*taps)(void);
        dynapps_app_info_t crc_info, fir_info;
        dynapps_emu_mark(1);
        dynapps_err_t e = dynapps_load("crc", &crc);
        dynapps_emu_mark(2);
        if (e || dynapps_find_export(crc, "crc32_compute", (void **)&crc32)) return 10 + e;
        dynapps_emu_mark(3);
        e = dynapps_load("fir", &fir);
        dynapps_emu_mark(4);
        if (e || dynapps_find_export(fir, "fir_taps", (void **)&taps)) return 40 + e;
        dynapps_get_info(crc, &crc_info);
        dynapps_get_info(fir, &fir_info);
        printf("crc %08lx at %08lx, fir taps %lu at %08lx\n",
               (unsigned long)crc32((const uint8_t *)"123456789", 9), (unsigned long)crc_info.code_addr,
               (unsigned long)taps(), (unsigned long)fir_info.code_addr);
        if (dynapps_unload(crc) || dynapps_unload(fir)) return 70;
    }
    printf("heap back %d check %d\n", dynapps_emu_heap_free() == before, dynapps_emu_heap_check());
    return 0;
}
