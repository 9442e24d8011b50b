/*
 * Trust marks: an XIP image verified in full once is not rehashed on later loads from the same
 * slot (include/dynapps_trust_mark.h; docs/design.md, "Trust marks", for what that trusts).
 *
 * A valid mark says: the image now in this slot, at this flash offset, with this size and this
 * stored SHA-256, was hashed in full and matched. The header, identity, tables and (when the
 * image is signed and the firmware holds a key) the signature over that stored SHA-256 are still
 * checked on every load; only the body's hash is taken from the mark. With required signing the
 * marks are off: every load hashes the whole image and checks the signature over that hash.
 */
#include "dynapps_stages.h"
#include "dynapps_trust_mark.h"

/* ESP-IDF: CONFIG_DYNAPPS_TRUST_MARKS; the emulator firmware: on unless signing is required. */
#ifndef DYNAPPS_TRUST_MARKS
#define DYNAPPS_TRUST_MARKS 0
#endif
#ifndef DYNAPPS_REQUIRE_SIGNED_IMAGES
#define DYNAPPS_REQUIRE_SIGNED_IMAGES 0
#endif
#define MARKS_ON (DYNAPPS_TRUST_MARKS && !DYNAPPS_REQUIRE_SIGNED_IMAGES)

#define MARK_CRC_BYTES (uint32_t)offsetof(dynapps_trust_mark_t, crc32)

/* CRC-32 (IEEE, reflected 0xEDB88320, as zlib's) a nibble at a time: 48 bytes on every load
 * from a marked slot, so a 64-byte table (two cache lines) rather than a bit loop (about 3,300
 * instructions, most of an XIP load) or a 1 KB table (up to 32 lines to read from flash). The
 * live agent checks its frames with it too. */
static const uint32_t crc_nibbles[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t dynapps_crc32(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *bytes = data;
    crc = ~crc;
    for (size_t i = 0; i < size; i++) {
        crc ^= bytes[i];
        crc = (crc >> 4) ^ crc_nibbles[crc & 15u];
        crc = (crc >> 4) ^ crc_nibbles[crc & 15u];
    }
    return ~crc;
}

/* The mark's offset in the slot: the sector after the image; 0 when the slot has no room for
 * it there (an image the build did not make: it is verified in full every time). */
static uint32_t mark_offset(const image_t *img, const dynapps_slot_t *slot)
{
    uint64_t at = dynapps_trust_mark_at(img->h.image_size);
    return at + DYNAPPS_TRUST_MARK_SECTOR <= slot->size ? (uint32_t)at : 0u;
}

/* The mark this image in this slot would have. */
static void expected_mark(const image_t *img, const dynapps_slot_t *slot, dynapps_trust_mark_t *mark)
{
    memset(mark, 0, sizeof *mark);
    mark->magic = DYNAPPS_TRUST_MARK_MAGIC;
    mark->flash_offset = slot->flash_offset;
    mark->image_size = img->h.image_size;
    for (uint32_t i = 0; i < DYNAPPS_IMAGE_HASH_SIZE; i += 4u) {
        store_word(mark->image_hash + i, image_word(img, img->hash + i));
    }
    mark->crc32 = dynapps_crc32(0, mark, MARK_CRC_BYTES);
}

static bool marks_apply(const image_t *img, const dynapps_slot_t *slot)
{
    return MARKS_ON && slot != NULL && img->h.strategy == DYNAPPS_STRATEGY_XIP && img->aligned;
}

bool dynapps_trust_mark_valid(const image_t *img, const dynapps_slot_t *slot)
{
    if (!marks_apply(img, slot)) {
        return false;
    }
    uint32_t at = mark_offset(img, slot);
    if (at == 0) {
        return false;
    }
    dynapps_trust_mark_t expected;
    expected_mark(img, slot, &expected);
    const uint8_t *stored = slot->bytes + at; /* the slot view and the sector are 4-aligned */
    uint32_t diff = 0;
    for (uint32_t i = 0; i < sizeof expected; i += 4u) {
        diff |= load_word(stored + i) ^ load_word((const uint8_t *)&expected + i);
    }
    return diff == 0;
}

void dynapps_trust_mark_write(const image_t *img, const dynapps_slot_t *slot)
{
    if (!marks_apply(img, slot)) {
        return;
    }
    uint32_t at = mark_offset(img, slot);
    if (at == 0) {
        return;
    }
    PHASE(DYNAPPS_PHASE_MARK);
    dynapps_trust_mark_t mark;
    expected_mark(img, slot, &mark);
    /* A mark that could not be written costs speed, never safety: the port says so, and the next
     * load verifies in full again. */
    (void)dynapps_port_write_trust_mark(slot, at, &mark, sizeof mark);
}
