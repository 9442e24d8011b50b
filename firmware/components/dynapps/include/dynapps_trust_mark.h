/*
 * The trust mark of an XIP slot (docs/image-format.md, "Trust mark"; docs/design.md, "Trust
 * marks"): a record the loader writes into flash after it has verified an XIP image in full, so
 * that later loads from the same slot skip hashing the image's body.
 *
 * It lies at the start of the flash sector right after the image (slot offset + image_size
 * rounded up to DYNAPPS_TRUST_MARK_SECTOR); the build leaves that sector inside the slot and
 * flash-apps writes it erased together with the image, so rewriting the image destroys the mark.
 * Everything is little-endian.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "dynapps_image.h" /* DYNAPPS_IMAGE_HASH_SIZE */

#define DYNAPPS_TRUST_MARK_MAGIC 0x4D525444u /* "DTRM" read as a little-endian word */
#define DYNAPPS_TRUST_MARK_SECTOR 4096u      /* the flash erase unit the mark owns */

typedef struct {
    uint32_t magic;                            /* DYNAPPS_TRUST_MARK_MAGIC */
    uint32_t flash_offset;                     /* the slot's flash offset: a copied mark is refused */
    uint32_t image_size;                       /* the image's header field */
    uint32_t reserved;                         /* 0 */
    uint8_t image_hash[DYNAPPS_IMAGE_HASH_SIZE]; /* the SHA-256 the image carries, which its body
                                                  * hashed to when the loader checked it */
    uint32_t crc32;                            /* CRC-32 (IEEE, as zlib's) of the 48 bytes above */
} dynapps_trust_mark_t;

_Static_assert(sizeof(dynapps_trust_mark_t) == 52, "trust mark layout");

/* Where the mark of an image of `image_size` bytes lies in its slot: the start of the sector
 * after the image (64-bit: a header's size is not trusted yet when the loader asks). */
static inline uint64_t dynapps_trust_mark_at(uint32_t image_size)
{
    return ((uint64_t)image_size + DYNAPPS_TRUST_MARK_SECTOR - 1u) & ~(uint64_t)(DYNAPPS_TRUST_MARK_SECTOR - 1u);
}

/* CRC-32 (IEEE, as zlib's) of `size` bytes, continuing `crc` (0 to start): the mark's check, and
 * the live agent's frames and pushes (src/dynapps_trust.c). */
uint32_t dynapps_crc32(uint32_t crc, const void *data, size_t size);
