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

#ifdef __cplusplus
extern "C" {
#endif

/* An app slot: where the image lies in flash and a mapping through which the CPU can read it. */
typedef struct {
    const uint8_t *bytes;   /* readable (data bus) view of the slot's image bytes */
    uint32_t size;          /* slot size in bytes: the image must fit */
    uint32_t flash_offset;  /* offset of the slot in flash (for XIP mapping) */
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

/* Make freshly written code visible to instruction fetch (cache write-back + invalidate). */
void dynapps_port_sync_code(uint8_t *data_view, uintptr_t exec_addr, size_t size);

/* Find the slot labelled `name` and map it for reading. DYNAPPS_ERR_NOT_FOUND if none. */
dynapps_err_t dynapps_port_find_slot(const char *name, dynapps_slot_t *slot);
void dynapps_port_release_slot(dynapps_slot_t *slot);

/*
 * Map `size` bytes of the slot, from its start, for instruction fetch at exactly `vaddr`
 * (DESIGN constraint 1). DYNAPPS_ERR_ADDRESS_UNAVAILABLE if that window can't be had.
 */
dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping);
void dynapps_port_unmap_xip(void *mapping);

/* The RAM range the firmware reserves for XIP apps' data and bss (fixed addresses). */
void dynapps_port_data_arena(uintptr_t *base, size_t *size);

/* Serialise load/unload (FreeRTOS mutex on ESP-IDF). */
void dynapps_port_lock(void);
void dynapps_port_unlock(void);

#ifdef __cplusplus
}
#endif
