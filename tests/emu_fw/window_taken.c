/* A firmware that maps flash of its own first (TAKEN bytes from flash offset TAKEN_FROM, first fit, as a
 * big data partition mounted at boot would be), over the linear addresses of the apps window.
 * Then the loader: the IRAM app crc still loads (its slot mapped by itself), the XIP app fir is
 * refused, and the port says where the window had to be and where it landed. */
#include "emu_test.h"
#include "dynapps.h"
int main(void) {
    uintptr_t taken = 0;
    uint32_t status = dynapps_emu_mmu_esp(DYNAPPS_EMU_MMU_ESP_MAP, &taken, TAKEN_FROM, TAKEN, 0);
    printf("firmware mapped %lu bytes at %08lx: %lu\n", (unsigned long)TAKEN, (unsigned long)taken,
           (unsigned long)status);
    size_t before = dynapps_emu_heap_free();
    dynapps_app_t *crc = NULL, *fir = NULL;
    dynapps_err_t iram = dynapps_load("crc", &crc);
    dynapps_err_t xip = dynapps_load("fir", &fir);
    printf("crc %s fir %s\n", dynapps_err_name(iram), dynapps_err_name(xip));
    if (crc) {
        dynapps_unload(crc);
    }
    printf("heap back %d\n", dynapps_emu_heap_free() == before);
    return 0;
}
