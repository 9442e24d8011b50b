/*
 * What a port supplies to the portable loader core. Two ports exist:
 * port/esp-idf (real chips) and port/emulator (the Unicorn machine used by the tests).
 * The host unit tests (tests/c/) carry a third, minimal one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dynapps.h"
#include "dynapps_image.h" /* DYNAPPS_IMAGE_SIGNATURE_SIZE, DYNAPPS_SIGNING_KEY_SIZE */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An app slot: where the image lies in flash and a mapping through which the CPU can read it.
 *
 * `bytes` is 4-aligned. After a successful dynapps_port_map_xip of the slot, the same `bytes`
 * view stays readable, at the same address, for as long as that XIP mapping lives (until
 * dynapps_port_unmap_xip), even after release_slot: an XIP app's export table and names are read
 * from there for as long as it is loaded. (Both ports map the apps window once, at the first
 * find_slot, with the core's dynapps_window_reserve (src/dynapps_window.h), and read every slot
 * and run every XIP app through it; the window stays mapped.)
 */
typedef struct {
    const uint8_t *bytes;   /* readable (data bus) view of the slot's image bytes, 4-aligned */
    uint32_t size;          /* slot size in bytes: the image must fit */
    uint32_t flash_offset;  /* offset of the slot in flash (for XIP mapping) */
    uintptr_t id;           /* identifies the slot: the same non-zero value every time find_slot
                               finds this slot, another one for every other slot */
    char label[16];         /* the slot's label (partition name), NUL-padded; the core loads only
                               an image whose name is this label */
    uintptr_t xip_vaddr;    /* the instruction-bus address at which map_xip maps this slot, the
                               only one it maps it at; 0 if the slot can't hold an XIP image (not
                               MMU-page aligned). The core refuses an XIP image linked elsewhere */
    void *port_handle;      /* port's own bookkeeping, released by release_slot */
} dynapps_slot_t;

/* Bookkeeping memory (byte-addressable data RAM). */
void *dynapps_port_malloc(size_t size);
void dynapps_port_free(void *ptr);

/*
 * Executable RAM for an IRAM image. On success *exec_addr is where the code runs and
 * *data_view is where the same memory is read and written with byte accesses. They are
 * equal except on chips with an IRAM/DRAM alias (esp32c3: exec_addr = data_view + 0x700000).
 * Returns DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE when memory protection forbids execution from RAM.
 */
dynapps_err_t dynapps_port_exec_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                      uint8_t **data_view);
void dynapps_port_exec_free(uint8_t *data_view);

/*
 * PSRAM for a PSRAM image (strategy psram), the same contract as dynapps_port_exec_alloc: the
 * PSRAM has one address for fetch and data on every chip that has it, so *exec_addr equals
 * *data_view. DYNAPPS_ERR_NO_PSRAM when the firmware has no PSRAM heap (the chip has none, or
 * PSRAM is not enabled), DYNAPPS_ERR_PSRAM_NOT_EXECUTABLE when memory protection forbids
 * fetching from it (the port says which option to change), DYNAPPS_ERR_NO_MEM when it is full.
 * Code placed there is synced with dynapps_port_sync_code like IRAM code.
 */
dynapps_err_t dynapps_port_psram_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                       uint8_t **data_view);
void dynapps_port_psram_free(uint8_t *data_view);

/* Make freshly written code visible to instruction fetch (cache write-back + invalidate). */
void dynapps_port_sync_code(uint8_t *data_view, uintptr_t exec_addr, size_t size);

/* Find the slot labelled `name` and map it for reading. DYNAPPS_ERR_NOT_FOUND if none. Must also
 * succeed for a slot from which an XIP app is loaded (the core then refuses the load with
 * DYNAPPS_ERR_ALREADY_LOADED by comparing `id`). */
dynapps_err_t dynapps_port_find_slot(const char *name, dynapps_slot_t *slot);
void dynapps_port_release_slot(dynapps_slot_t *slot);

/*
 * Map `size` bytes of the slot, from its start, for instruction fetch at exactly `vaddr`
 * (DESIGN constraint 1), which the core has checked is slot->xip_vaddr. Never anywhere else:
 * DYNAPPS_ERR_ADDRESS_UNAVAILABLE if vaddr is not slot->xip_vaddr or that window can't be had.
 */
dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping);
void dynapps_port_unmap_xip(void *mapping);

/* The RAM range the firmware reserves for XIP apps' data and bss (fixed addresses); size 0
 * when the firmware has none (or its arena failed the port's own checks). */
void dynapps_port_data_arena(uintptr_t *base, size_t *size);

/* The core refuses an XIP image (DYNAPPS_ERR_ADDRESS_UNAVAILABLE) because its data and bss,
 * [base, base + size), are not inside the arena [arena, arena + arena_size): the port tells the
 * user both ranges (the image was built for another firmware configuration). */
void dynapps_port_arena_refused(uint32_t base, uint64_t size, uintptr_t arena, size_t arena_size);

/*
 * SHA-256 of `size` bytes at `data` into `digest` (which may have any alignment). `data` is an
 * image in a slot's data view or in a RAM buffer. The ESP-IDF port uses the chip's SHA
 * accelerator through mbedtls / PSA; the emulator port an emulated SHA device; a port without
 * one may call the core's software dynapps_sha256() (src/dynapps_sha256.h). Called with the
 * loader lock held; it cannot fail (a port whose hardware path fails falls back to software).
 */
void dynapps_port_sha256(const void *data, size_t size, uint8_t digest[32]);

/*
 * Whether `signature` (DYNAPPS_IMAGE_SIGNATURE_SIZE bytes: ECDSA P-256 r || s, big-endian) is a
 * valid signature of the SHA-256 `hash` by the holder of the private key of `public_key`
 * (DYNAPPS_SIGNING_KEY_SIZE bytes: 0x04 || X || Y). The three may have any alignment; `signature`
 * may lie in a slot's data view. False for a malformed signature or key, never a crash. The
 * ESP-IDF port verifies through Mbed TLS (PSA on Mbed TLS 4), the emulator port through the
 * emulator's signature device, the host tests through OpenSSL. Called with the loader lock held.
 */
bool dynapps_port_verify_signature(const uint8_t hash[32], const uint8_t *signature, const uint8_t *public_key);

/*
 * Erase the 4 KiB flash sector at `offset` from the slot's start (a multiple of 4096, inside the
 * slot) and write `size` bytes of `mark` at its start: the slot's trust mark
 * (include/dynapps_trust_mark.h), written after an XIP image from this slot was verified in full.
 * The slot's data view must show the new bytes afterwards. On failure the port logs one line
 * (the slot, the cause, and that every load of it verifies the whole image) and returns false;
 * the load goes on. ESP-IDF: esp_partition_erase_range + esp_partition_write; the emulator: its
 * flash controller. Called with the loader lock held, at most once per load.
 */
bool dynapps_port_write_trust_mark(const dynapps_slot_t *slot, uint32_t offset, const void *mark, size_t size);

/* The loader lock: a plain, non-recursive mutex is enough (a FreeRTOS mutex on ESP-IDF). The
 * core never takes it twice and never holds it while app code runs (init, deinit, calls). */
void dynapps_port_lock(void);
void dynapps_port_unlock(void);

/* ---- tracing (optional: not called unless the core is built for it) ---------------------- */

/*
 * Which check refused an image. Several causes share one error code (nine header rules all
 * say DYNAPPS_ERR_BAD_HEADER: the user's action is the same, rebuild the app); the trace names
 * the rule. Compiled out unless the core is built with DYNAPPS_TRACE defined; then it calls this
 * function, which that build must provide (the host tests record the name).
 * `check` is a static string such as "header.size_sum", one per rule (docs/loader-api.md).
 */
void dynapps_trace_refusal(const char *check);

/*
 * The stages of a load, in order, for the bench (bench/loadcost.py): the core calls
 * dynapps_trace_phase(phase) as each one starts, and DYNAPPS_PHASE_DONE when the load has
 * finished (successfully or not). Compiled in only where DYNAPPS_TRACE_PHASES is defined: the
 * emulator firmware, whose build defines DYNAPPS_EMU_CTRL_BASE; its default does nothing, the
 * bench firmware's records an emulator mark. An ESP-IDF build has no call at all.
 */
#define DYNAPPS_PHASES(X)                                                                     \
    X(DYNAPPS_PHASE_LOOKUP)      /* finding the slot, "is it loaded already" */             \
    X(DYNAPPS_PHASE_HEADER)      /* header and identity checks */                           \
    X(DYNAPPS_PHASE_BOOKKEEPING) /* a place in the table of loaded apps, the app record */   \
    X(DYNAPPS_PHASE_RESERVE)     /* executable RAM (IRAM, PSRAM) or the arena range (XIP) */ \
    X(DYNAPPS_PHASE_HASH)        /* SHA-256 of the image, or its trust mark */              \
    X(DYNAPPS_PHASE_TABLES)      /* firmware id, import slots, export table */              \
    X(DYNAPPS_PHASE_COPY)        /* code/data copy, zeroing; the XIP mapping */             \
    X(DYNAPPS_PHASE_FIXUP)       /* the fix-up loop (IRAM) */                               \
    X(DYNAPPS_PHASE_BIND)        /* import binding */                                       \
    X(DYNAPPS_PHASE_EXPORTS)     /* the export table copied into the allocation (IRAM) */   \
    X(DYNAPPS_PHASE_MARK)        /* the trust mark written (XIP, after a full verification) */ \
    X(DYNAPPS_PHASE_INIT)        /* looking for and running init */                         \
    X(DYNAPPS_PHASE_DONE)

typedef enum {
#define DYNAPPS_PHASE_ENTRY(name) name,
    DYNAPPS_PHASES(DYNAPPS_PHASE_ENTRY)
#undef DYNAPPS_PHASE_ENTRY
} dynapps_phase_t;

void dynapps_trace_phase(dynapps_phase_t phase);

#ifdef __cplusplus
}
#endif
