/* Digests of RAM and flash ranges (odd lengths and alignments, 128 KB over two slots from
 * APP_SLOT, -D) with the SHA engine, each with the instructions it took. */
#include "emu_test.h"
static uint8_t buffer[320] __attribute__((aligned(4)));
int main(void) {
    for (unsigned i = 0; i < sizeof buffer; i++) buffer[i] = (uint8_t)(i * 7u + 3u);
    const struct { uintptr_t address; uint32_t size; } cases[] = {
        {(uintptr_t)buffer, 0}, {(uintptr_t)buffer + 1, 0}, {(uintptr_t)buffer, 1},
        {(uintptr_t)buffer + 1, 55}, {(uintptr_t)buffer + 2, 56}, {(uintptr_t)buffer + 3, 64},
        {(uintptr_t)buffer + 1, 119}, {(uintptr_t)buffer, 320},
        {DYNAPPS_EMU_FLASH_DBUS_BASE + APP_SLOT + 5, 4000},  /* the flash data view */
        {DYNAPPS_EMU_FLASH_DBUS_BASE + APP_SLOT, 0x20000},   /* 128 KB, over two slots */
    };
    uint8_t digest[33];
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t *out = digest + (c & 1);  /* the digest may be unaligned too */
        uint64_t before = dynapps_emu_instructions();
        dynapps_emu_sha256((const void *)cases[c].address, cases[c].size, out);
        uint64_t cost = dynapps_emu_instructions() - before;
        printf("sha %08lx %lu %lu ", (unsigned long)cases[c].address, (unsigned long)cases[c].size,
               (unsigned long)cost);
        for (int i = 0; i < 32; i++) printf("%02x", out[i]);
        printf("\n");
    }
    return 0;
}
