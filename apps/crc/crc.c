#include <stdint.h>
#include <string.h>

static uint32_t table[256]; /* bss, filled by init */
static uint8_t staging[64];

int crc32_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
    return table[1] == 0x77073096u ? 0 : 1;
}

uint32_t crc32_compute(const uint8_t *data, uint32_t length)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < length; i++) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

uint32_t crc32_copy_and_compute(uint8_t *destination, const uint8_t *source, uint32_t length)
{
    memset(staging, 0, sizeof staging);
    memcpy(destination, source, length);
    memcpy(staging, source, length < sizeof staging ? length : sizeof staging);
    return crc32_compute(staging, length < sizeof staging ? length : sizeof staging);
}
