/*
 * What the ESP-IDF port does differently per ESP-IDF release: every version test of the port is
 * here (the emulator's side of the same facts: src/dynapps/idf_versions.py). Checked against the
 * headers and sources of v5.1.7, v5.3.5, v5.5.5, v6.0.2 and v6.1-beta1.
 */
#pragma once

#include "esp_idf_version.h" /* esp_common */

/*
 * Mapping the apps window (src/dynapps_window.h): esp_mmu_map_virt() (esp_mm/include/esp_mmu_map.h),
 * a mapping at a chosen address, first shipped in v6.1-beta1. Before it, esp_mmu_map() only
 * allocates first fit, so the window is reserved with filler mappings below it.
 * ESP_MMU_MMAP_FLAG_PADDR_SHARED, which the fillers use, exists in every release from 5.1.
 */
#ifndef DYNAPPS_HAVE_MMU_MAP_VIRT
#define DYNAPPS_HAVE_MMU_MAP_VIRT (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(6, 1, 0))
#endif

/*
 * SHA-256 through PSA (psa/crypto.h): ESP-IDF 6.0 ships Mbed TLS 4, where the legacy hash API is
 * private; before, mbedtls_sha256() (mbedtls/sha256.h, Mbed TLS 3.x).
 */
#ifndef DYNAPPS_SHA_PSA
#define DYNAPPS_SHA_PSA (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(6, 0, 0))
#endif

/*
 * Whether a heap region is the ROM's start-up stack: a field of soc_memory_region_t from v5.2 on
 * (heap/include/soc_memory_layout.h), a field of its memory type (soc_memory_type_desc_t) before.
 */
#ifndef DYNAPPS_REGION_HAS_STARTUP_STACK
#define DYNAPPS_REGION_HAS_STARTUP_STACK (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 2, 0))
#endif

/*
 * PSRAM under the PMP on esp32p4 (esp_hw_support/port/esp32p4/cpu_region_protect.c): from v5.5.5,
 * CONFIG_SPIRAM_PRE_CONFIGURE_MEMORY_PROTECTION alone makes the PSRAM heap non-executable; in
 * 5.3 .. 5.5.4 only together with CONFIG_SPIRAM_XIP_FROM_PSRAM (dynapps_port_idf.c says more).
 */
#ifndef DYNAPPS_PSRAM_PMP_NEEDS_XIP_FROM_PSRAM
#define DYNAPPS_PSRAM_PMP_NEEDS_XIP_FROM_PSRAM (ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 5, 5))
#endif

/* What the log says about how the window is mapped on this release. */
#if DYNAPPS_HAVE_MMU_MAP_VIRT
#define DYNAPPS_WINDOW_MECHANISM "esp_mmu_map_virt at its address (IDF>=6.1)"
#else
#define DYNAPPS_WINDOW_MECHANISM "fillers, then esp_mmu_map first fit (IDF<6.1)"
#endif
