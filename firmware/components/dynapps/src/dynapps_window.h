/*
 * The apps window: every app slot's flash mapped once, at its identity linear address
 * (MMU linear address == flash offset), which is where layout.py links XIP images.
 *
 * Portable: the algorithm runs over three MMU hooks a port supplies (dynapps_mmu_ops_t), so the
 * emulator port runs the same code as the ESP-IDF port, against an MMU device that allocates like
 * that IDF version's esp_mm (src/dynapps/emulator/devices.py). docs/design.md, "The apps window",
 * has the safety argument.
 *
 *   - With a map-at-address hook (ESP-IDF >= 6.1: esp_mmu_map_virt) the window is mapped there.
 *   - Without one (ESP-IDF 5.1 .. 6.0) esp_mmu_map allocates linear addresses first fit, from the
 *     lowest free one after the firmware's own pages. So every free page below the window is
 *     taken first by temporary FILLER mappings, the window is then mapped (first fit puts it at
 *     its start), and the fillers are unmapped. A window that does not land at its identity
 *     address is unmapped again and refused: nothing is ever run from a wrong address.
 *
 * Physical pages of the fillers: taken from flash offset 0 upwards, with the "physical range may
 * be shared" flag (they overlap the firmware's own image, which esp_mm does not list, and maybe a
 * table page someone maps). They all fit below the window's physical start (they cover less
 * linear space than that start), so no filler encloses or overlaps the window's flash, which is
 * then mapped without that flag: esp_mm's check that nobody else maps the apps' flash stays on.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dynapps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a port's MMU hook reports; anything else is a plain failure. */
typedef enum {
    DYNAPPS_MMU_OK = 0,
    DYNAPPS_MMU_PADDR_IN_USE, /* esp_mm: that flash range lies inside one mapped already */
    DYNAPPS_MMU_FAILED,       /* no room, bad argument, no memory for bookkeeping, ... */
} dynapps_mmu_status_t;

/* A port's MMU, in linear addresses (0 = the first page of the flash windows) and flash offsets. */
typedef struct {
    uint32_t page_size; /* MMU page size in bytes */
    /* esp_mmu_map: `size` bytes of flash from `paddr`, wherever the allocator puts them (first
     * fit); *laddr receives the linear address. `paddr_shared`: ESP_MMU_MMAP_FLAG_PADDR_SHARED. */
    dynapps_mmu_status_t (*map_first_fit)(uint32_t paddr, uint32_t size, bool paddr_shared,
                                          uint32_t *laddr);
    /* esp_mmu_map_virt: at exactly `laddr`. NULL where the IDF has none (< 6.1). */
    dynapps_mmu_status_t (*map_at)(uint32_t laddr, uint32_t paddr, uint32_t size);
    void (*unmap)(uint32_t laddr); /* esp_mmu_unmap of a mapping made by the hooks above */
} dynapps_mmu_ops_t;

/* How the window was mapped, for the port's log line. */
typedef enum {
    DYNAPPS_WINDOW_MAP_AT,  /* esp_mmu_map_virt (IDF >= 6.1) */
    DYNAPPS_WINDOW_FILLERS, /* first fit after filler mappings (IDF < 6.1) */
} dynapps_window_mechanism_t;

/* The outcome of dynapps_window_reserve, also when it refuses. */
typedef struct {
    dynapps_window_mechanism_t mechanism;
    uint32_t wanted;          /* linear address the window must have: its flash offset */
    uint32_t got;             /* where the allocator put it (only meaningful if mapped_elsewhere) */
    bool mapped_elsewhere;    /* the window landed at `got` != `wanted`: unmapped, refused */
    uint32_t first_free;      /* lowest free linear address found before the window was mapped */
    uint32_t fillers;         /* filler mappings made (and unmapped again) */
    const char *failed_step;  /* NULL on success; else what failed ("map_at", "filler", ...) */
    dynapps_mmu_status_t mmu; /* the failing hook's status */
} dynapps_window_report_t;

/* Most filler mappings one reservation makes (one per hole below the window, roughly). */
#define DYNAPPS_WINDOW_MAX_FILLERS 32

/*
 * Map the flash range [flash_start, flash_start + size) at linear address flash_start, once.
 * Both must be multiples of the page size. DYNAPPS_OK, or DYNAPPS_ERR_ADDRESS_UNAVAILABLE with
 * nothing left mapped (report says why), or DYNAPPS_ERR_INVALID_ARG.
 */
dynapps_err_t dynapps_window_reserve(const dynapps_mmu_ops_t *mmu, uint32_t flash_start, uint32_t size,
                                     dynapps_window_report_t *report);

#ifdef __cplusplus
}
#endif
