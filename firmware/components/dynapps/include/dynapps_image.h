/*
 * dynapps image format, version 3 (docs/image-format.md is the reference).
 *
 * Written by src/dynapps/image.py; read by the loader core.
 * Everything is little-endian. The file is:
 *
 *   [header 104][code segment][data segment][fix-ups][imports][exports][strtab][SHA-256 32]
 *   [signature 64, only with DYNAPPS_IMAGE_FLAG_SIGNED]
 *
 * every part starting on a 4-byte boundary. The SHA-256 covers every byte before it; the
 * signature (ECDSA P-256 over that SHA-256, raw r || s, 32 bytes each, big-endian) follows it.
 */
#pragma once

#include <stdint.h>

/* Whether the firmware uses a hard-float ABI (an image's ABI must match it). The compiler knows,
 * so unless the build says (ESP-IDF: CMakeLists.txt, from CONFIG_SOC_CPU_HAS_FPU), ask it. */
#ifndef DYNAPPS_FPU_ABI
#if defined(__riscv_float_abi_single) || defined(__riscv_float_abi_double)
#define DYNAPPS_FPU_ABI 1
#else
#define DYNAPPS_FPU_ABI 0
#endif
#endif

#define DYNAPPS_IMAGE_MAGIC 0x50504144u /* "DAPP" read as a little-endian word */
#define DYNAPPS_IMAGE_FORMAT_VERSION 3u
#define DYNAPPS_IMAGE_HEADER_SIZE 104u
#define DYNAPPS_IMAGE_NAME_SIZE 16u /* an ESP-IDF partition label: the app's slot is named so */
#define DYNAPPS_IMAGE_HASH_SIZE 32u
#define DYNAPPS_IMAGE_SIGNATURE_SIZE 64u  /* ECDSA P-256: r || s, each 32 bytes big-endian */
#define DYNAPPS_SIGNING_KEY_SIZE 65u      /* its public key: 0x04 || X || Y (uncompressed point) */

typedef enum {
    DYNAPPS_STRATEGY_IRAM = 1,  /* copied into executable RAM, relocated by fix-ups */
    DYNAPPS_STRATEGY_XIP = 2,   /* mapped in place from flash, linked at final addresses */
    DYNAPPS_STRATEGY_PSRAM = 3, /* an IRAM-layout image copied into PSRAM, run through the cache */
} dynapps_strategy_t;

/* IRAM and PSRAM images are the same relocatable layout; only where the loader copies them differs. */
#define DYNAPPS_STRATEGY_IS_COPIED(strategy) \
    ((strategy) == DYNAPPS_STRATEGY_IRAM || (strategy) == DYNAPPS_STRATEGY_PSRAM)

/* Header flags. */
#define DYNAPPS_IMAGE_FLAG_FPU_ABI 0x0001u /* built for ilp32f: the firmware must be too */
#define DYNAPPS_IMAGE_FLAG_SIGNED 0x0002u  /* version 3: a signature follows the SHA-256 */

typedef struct {
    uint32_t magic;              /* DYNAPPS_IMAGE_MAGIC */
    uint16_t format_version;     /* DYNAPPS_IMAGE_FORMAT_VERSION */
    uint16_t header_size;        /* DYNAPPS_IMAGE_HEADER_SIZE */
    uint16_t chip_id;            /* esp_chip_id_t value of the target chip */
    uint8_t strategy;            /* dynapps_strategy_t */
    uint8_t align_log2;          /* IRAM: the load address must be aligned to 1 << align_log2 */
    uint32_t image_size;         /* whole file, hash included */
    uint32_t code_size;          /* code segment bytes, at file offset header_size */
    uint32_t data_size;          /* initialised data bytes, right after the code segment */
    uint32_t bss_size;           /* zeroed RAM after the data segment */
    uint32_t code_vaddr;         /* link address of the code segment */
    uint32_t data_vaddr;         /* link address of the data segment; bss follows it */
    uint32_t fixup_count;        /* IRAM only: uint32_t offsets, see below */
    uint32_t import_count;       /* dynapps_image_import_t records */
    uint32_t import_slots_vaddr; /* link address of import_count uint32_t slots in the data segment */
    uint32_t export_count;       /* dynapps_image_export_t records */
    uint32_t strtab_size;        /* bytes of NUL-terminated names, padded to 4 */
    uint32_t exports_id;         /* id of the prefix of the firmware export table the app needs */
    uint16_t flags;              /* DYNAPPS_IMAGE_FLAG_* */
    uint16_t exports_count;      /* that prefix's length: the table's first exports_count entries.
                                  * Version 3: a firmware whose table extends it loads the image
                                  * (dynapps_firmware.prefix_ids[exports_count - 1] == exports_id);
                                  * 0: the app imports nothing, exports_id is 0 */
    /* Version 2: which app this is. The loader loads an image only from the slot labelled
     * `name`; the version is the manifest's, for people and tools (the loader ignores it). */
    char name[DYNAPPS_IMAGE_NAME_SIZE]; /* the app's name, NUL-padded, as its slot's label */
    uint16_t version_major;             /* manifest `version: major.minor.patch` */
    uint16_t version_minor;
    uint16_t version_patch;
    uint16_t reserved2; /* 0 */
    /* Version 3: static constructors and destructors (C++ static objects, C's
     * __attribute__((constructor))). Each array is `count` words in the data segment, each the
     * link address of a void (void) function in the code segment (a copied image, IRAM or PSRAM, fixes them up
     * like any pointer). The loader calls the init array in order after placing the app, before
     * its init; the fini array last entry first at unload, after its deinit. count 0: the
     * address means nothing. */
    uint32_t init_array_vaddr;
    uint32_t init_count;
    uint32_t fini_array_vaddr;
    uint32_t fini_count;
} dynapps_image_header_t;

/*
 * A fix-up is a uint32_t: the offset, from the start of the loaded region (code segment,
 * then the data segment at code_size), of a 32-bit word to which the loader adds the load
 * bias (executable load address - code_vaddr). IRAM images link data at
 * code_vaddr + code_size - i_d_offset, so that one bias is right for both aliases.
 */
typedef uint32_t dynapps_image_fixup_t;

typedef struct {
    uint32_t name_offset;    /* into strtab */
    uint32_t firmware_index; /* index into the firmware export table; its name must match */
} dynapps_image_import_t;

#define DYNAPPS_EXPORT_FLAG_INIT 0x1u   /* int init(void), called after load; non-zero fails it */
#define DYNAPPS_EXPORT_FLAG_DEINIT 0x2u /* void deinit(void), called before unload */

typedef struct {
    uint32_t name_offset; /* into strtab */
    uint32_t vaddr;       /* link address of the function (inside the code segment) */
    uint32_t flags;       /* DYNAPPS_EXPORT_FLAG_* */
} dynapps_image_export_t;

_Static_assert(sizeof(dynapps_image_header_t) == DYNAPPS_IMAGE_HEADER_SIZE, "header layout");
_Static_assert(sizeof(dynapps_image_import_t) == 8, "import layout");
_Static_assert(sizeof(dynapps_image_export_t) == 12, "export layout");
