/*
 * dynapps port for ESP-IDF >= 5.1 (esp32c3, esp32c6, esp32h2; esp32p4 needs >= 5.3).
 *
 * PSRAM apps (dynapps_port_psram_alloc): heap_caps_aligned_alloc(MALLOC_CAP_SPIRAM), refused
 * with the option to change when this configuration's PMP forbids fetching from PSRAM.
 *
 * One small function per hook of dynapps_port.h. Every ESP-IDF call is written against the
 * signature in the header named next to it (docs/adding-a-chip.md lists them). The core calls
 * every hook from task context with dynapps_port_lock() held, except lock/unlock themselves.
 *
 * Flash mapping (DESIGN constraint 1): an XIP image is linked for the instruction-bus address
 * SOC_IROM_LOW + (flash offset of its slot), i.e. MMU linear address == flash address. One MMU
 * entry is seen by both buses at the same linear address (esp32c3: data bus at SOC_DROM_LOW + l,
 * instruction bus at SOC_IROM_LOW + l; esp32c6/h2/p4: one address). At the first slot lookup the
 * port maps the APPS WINDOW (the flash every app slot covers) once, at that identity address, with
 * the loader core's dynapps_window_reserve (src/dynapps_window.c) over three esp_mm hooks:
 *   - ESP-IDF >= 6.1: esp_mmu_map_virt() at the identity address;
 *   - ESP-IDF 5.1 .. 6.0: esp_mmu_map() allocates first fit only, so filler mappings first take
 *     every free linear page below the window, esp_mmu_map() of the window then lands at its
 *     start, and the fillers are unmapped. A window that lands elsewhere is unmapped and refused.
 * (dynapps_idf_version.h is the one place that tells the releases apart.) Every slot is then read
 * through the window's data-bus view and its XIP apps run at its instruction-bus view: no second
 * mapping of the same flash, which esp_mm would refuse (ESP_ERR_INVALID_STATE). The window stays
 * mapped for as long as the firmware runs. If it can't be had (something else is mapped over its
 * linear range first), the port logs both addresses once, maps a slot by itself with
 * esp_partition_mmap for each lookup (IRAM apps still load) and refuses XIP loads with
 * DYNAPPS_ERR_ADDRESS_UNAVAILABLE. docs/design.md, "The apps window", has the safety argument.
 *
 * SHA-256 (dynapps_port_sha256): the chip's SHA accelerator, through mbedtls_sha256()
 * (mbedtls/sha256.h, Mbed TLS 3.x, ESP-IDF < 6.0) or psa_hash_compute() (psa/crypto.h: ESP-IDF
 * 6.0 ships Mbed TLS 4, where the legacy hash API is private and PSA reaches the accelerator
 * through ESP-IDF's PSA driver). With CONFIG_MBEDTLS_HARDWARE_SHA (the default) both run on the
 * SHA peripheral; from flash, which DMA can't read, ESP-IDF feeds it block by block.
 *
 * Signatures (dynapps_port_verify_signature): ECDSA P-256 through the same Mbed TLS, by the same
 * version switch: mbedtls_ecdsa_verify() (mbedtls/ecdsa.h, Mbed TLS 3.x: needs
 * CONFIG_MBEDTLS_ECDSA_C and CONFIG_MBEDTLS_ECP_DP_SECP256R1_ENABLED, both on by default) or
 * psa_verify_hash() (Mbed TLS 4, ESP-IDF >= 6.0). Mbed TLS 3.x has no Ed25519, hence P-256.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <inttypes.h>

#include "sdkconfig.h"
#include "esp_idf_version.h"  /* esp_common */
#include "esp_err.h"          /* esp_common */
#include "esp_log.h"          /* log */
#include "esp_heap_caps.h"    /* heap */
#include "esp_memory_utils.h" /* esp_hw_support */
#include "esp_partition.h"    /* esp_partition */
#include "esp_cache.h"        /* esp_mm */
#include "soc/soc.h"          /* soc: SOC_IROM_LOW, SOC_DROM_LOW */
#include "soc/soc_caps.h"     /* soc: SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE */
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"

#include "dynapps_partition.h"
#include "dynapps_port.h"
#include "dynapps_trust_mark.h" /* DYNAPPS_TRUST_MARK_SECTOR */
#include "dynapps_sha256.h" /* the core's software SHA-256 (src/, PRIV_INCLUDE_DIRS) */

#include "dynapps_idf_version.h" /* per-release behaviour: DYNAPPS_HAVE_MMU_MAP_VIRT, DYNAPPS_SHA_PSA, ... */
#include "dynapps_window.h"      /* the core's apps window reservation (src/, PRIV_INCLUDE_DIRS) */
#include "esp_mmu_map.h"         /* esp_mm: esp_mmu_map, esp_mmu_unmap (esp_mmu_map_virt from 6.1) */

#if DYNAPPS_SHA_PSA
#include "psa/crypto.h"     /* mbedtls (TF-PSA-Crypto) */
#else
#include "mbedtls/sha256.h" /* mbedtls */
#include "mbedtls/ecdsa.h"  /* mbedtls: mbedtls_ecdsa_verify, mbedtls_ecp_*, mbedtls_mpi_* */
#include "mbedtls/error.h"  /* mbedtls: MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE */
#endif

static const char *TAG = "dynapps";

#define ALIGN_UP(value, align) (((value) + (align) - 1) & ~((uintptr_t)(align) - 1))
#define ALIGN_DOWN(value, align) ((value) & ~((uintptr_t)(align) - 1))

/* CMakeLists.txt passes DYNAPPS_FPU_ABI (CONFIG_SOC_CPU_HAS_FPU); it must match the -mabi in use. */
#if defined(DYNAPPS_FPU_ABI) && \
    ((DYNAPPS_FPU_ABI) != 0) != (defined(__riscv_float_abi_single) || defined(__riscv_float_abi_double))
#error "DYNAPPS_FPU_ABI does not match the compiler's -mabi"
#endif

/* ---- memory protection (DESIGN constraint 5) ----------------------------------------------- */

/*
 * The option that forbids executing from RAM, if it is on. Names checked in
 * esp_system/Kconfig: IDF <= 5.5 ESP_SYSTEM_MEMPROT_FEATURE (esp32c3, PMS) and
 * ESP_SYSTEM_PMP_IDRAM_SPLIT (esp32c6/h2/p4, PMP); IDF >= 6.0 ESP_SYSTEM_MEMPROT for all
 * (esp_system/sdkconfig.rename maps the old names to it, and heap/Kconfig then drops
 * HEAP_HAS_EXEC_HEAP, which removes MALLOC_CAP_EXEC from esp_heap_caps.h).
 */
#if CONFIG_ESP_SYSTEM_MEMPROT
#define MEMPROT_OPTION "CONFIG_ESP_SYSTEM_MEMPROT"
#elif CONFIG_ESP_SYSTEM_MEMPROT_FEATURE
#define MEMPROT_OPTION "CONFIG_ESP_SYSTEM_MEMPROT_FEATURE"
#elif CONFIG_ESP_SYSTEM_PMP_IDRAM_SPLIT
#define MEMPROT_OPTION "CONFIG_ESP_SYSTEM_PMP_IDRAM_SPLIT"
#elif CONFIG_ESP_SYSTEM_MEMPROT_FEATURE_VIA_TEE
#define MEMPROT_OPTION "CONFIG_SECURE_ENABLE_TEE (memory protection through the TEE)"
#elif !defined(MALLOC_CAP_EXEC)
#define MEMPROT_OPTION "CONFIG_ESP_SYSTEM_MEMPROT (no MALLOC_CAP_EXEC heap)"
#endif

static void log_no_exec_ram(void)
{
#ifdef MEMPROT_OPTION
    ESP_LOGE(TAG, "no executable RAM for IRAM apps: memory protection is on; set %s=n "
                  "(firmware/sdkconfig.defaults.<chip> has the right options)", MEMPROT_OPTION);
#else
    ESP_LOGE(TAG, "no executable RAM for IRAM apps: the heap has no MALLOC_CAP_EXEC region");
#endif
}

/* ---- bookkeeping memory -------------------------------------------------------------------- */

void *dynapps_port_malloc(size_t size)
{
    return heap_caps_malloc(size, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
}

void dynapps_port_free(void *ptr)
{
    heap_caps_free(ptr);
}

/* ---- executable RAM (DESIGN constraint 4) -------------------------------------------------- */

/*
 * esp32p4 reaches internal RAM through its L1 cache: code allocations are cache-line aligned
 * and sized so that syncing them never touches a line shared with someone else's data.
 */
#if SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE
#ifndef ESP_CACHE_MSYNC_FLAG_TYPE_INST
#error "dynapps on a chip with cached internal RAM (esp32p4) needs ESP-IDF >= 5.3 (esp_cache_msync types)"
#endif
#ifdef CONFIG_CACHE_L1_CACHE_LINE_SIZE
#define CODE_LINE ((size_t)CONFIG_CACHE_L1_CACHE_LINE_SIZE)
#else
#define CODE_LINE ((size_t)128) /* a multiple of every L1 line size */
#endif
#else
#define CODE_LINE ((size_t)4)
#endif
/* PSRAM sits behind the L2 cache as well (esp32p4: CONFIG_CACHE_L2_CACHE_LINE_SIZE, 64 or
 * 128 B): PSRAM code is allocated and synced in whole lines of the larger size. */
#define PSRAM_LINE ((size_t)128)

/* The word just below the returned code holds what heap_caps_malloc returned, for exec_free. */
#define EXEC_HEADER sizeof(uintptr_t)

dynapps_err_t dynapps_port_exec_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                      uint8_t **data_view)
{
#if defined(MEMPROT_OPTION)
    (void)size;
    (void)align;
    (void)exec_addr;
    (void)data_view;
    log_no_exec_ram();
    return DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE;
#else
    const uint32_t caps = MALLOC_CAP_EXEC | MALLOC_CAP_INTERNAL; /* never 8BIT: see heap_caps_base.c */
    if (align < CODE_LINE) {
        align = CODE_LINE;
    }
    if ((align & (align - 1)) != 0 || size > SIZE_MAX / 2 || align > SIZE_MAX / 4) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    size_t span = ALIGN_UP(size, CODE_LINE);
    uint8_t *raw = heap_caps_malloc(span + align + EXEC_HEADER, caps); /* instruction-bus address */
    if (raw == NULL) {
        if (heap_caps_get_total_size(caps) == 0) {
            log_no_exec_ram();
            return DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE;
        }
        return DYNAPPS_ERR_NO_MEM;
    }
    uintptr_t exec = ALIGN_UP((uintptr_t)raw + EXEC_HEADER, align);
    uint8_t *view = NULL;
    if (esp_dram_match_iram()) {
        view = (uint8_t *)exec; /* esp32c6/h2/p4: one address for both buses */
    } else if (esp_ptr_in_diram_iram(raw)) {
        view = esp_ptr_diram_iram_to_dram((const void *)exec); /* esp32c3: exec - SOC_I_D_OFFSET */
    } else {
        /* e.g. RTC fast memory on esp32c3: no IRAM/DRAM alias, which the image layout assumes */
        heap_caps_free(raw);
        ESP_LOGE(TAG, "executable RAM at %p has no DRAM alias; free some D/IRAM", (void *)raw);
        return DYNAPPS_ERR_NO_MEM;
    }
    uintptr_t raw_word = (uintptr_t)raw;
    memcpy(view - EXEC_HEADER, &raw_word, sizeof raw_word); /* byte-accessible data view */
    *exec_addr = exec;
    *data_view = view;
    return DYNAPPS_OK;
#endif
}

/* Stale instruction-cache lines of the range (esp32p4) are harmless once it is data again, and
 * sync_code drops them before code is placed there next. */
void dynapps_port_exec_free(uint8_t *data_view)
{
    if (data_view == NULL) {
        return;
    }
    uintptr_t raw_word = 0;
    memcpy(&raw_word, data_view - EXEC_HEADER, sizeof raw_word);
    heap_caps_free((void *)raw_word);
}

void dynapps_port_sync_code(uint8_t *data_view, uintptr_t exec_addr, size_t size)
{
#if SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE /* esp32p4: its internal RAM and its PSRAM are cached */
    /* exec_alloc and psram_alloc made the block line aligned and sized, so the rounded ranges
     * stay inside it. */
    const size_t line = esp_ptr_external_ram(data_view) ? PSRAM_LINE : CODE_LINE;
    uintptr_t dstart = ALIGN_DOWN((uintptr_t)data_view, line);
    uintptr_t istart = ALIGN_DOWN(exec_addr, line);
    size_t len = ALIGN_UP((uintptr_t)data_view + size, line) - dstart;
    /* 1: write the copied code back from the data cache to RAM */
    esp_err_t err = esp_cache_msync((void *)dstart, len,
                                    ESP_CACHE_MSYNC_FLAG_DIR_C2M | ESP_CACHE_MSYNC_FLAG_TYPE_DATA);
    if (err == ESP_OK || err == ESP_ERR_NOT_SUPPORTED) { /* NOT_SUPPORTED: uncached, e.g. LP RAM */
        /* 2: drop stale lines from the instruction cache */
        err = esp_cache_msync((void *)istart, len,
                              ESP_CACHE_MSYNC_FLAG_DIR_M2C | ESP_CACHE_MSYNC_FLAG_TYPE_INST);
    }
    if (err != ESP_OK && err != ESP_ERR_NOT_SUPPORTED) {
        ESP_LOGE(TAG, "esp_cache_msync(%p, %" PRIu32 "): %s", (void *)dstart, (uint32_t)len,
                 esp_err_to_name(err));
    }
#else
    (void)data_view;
    (void)exec_addr;
    (void)size;
#endif
    __asm__ __volatile__("fence.i" ::: "memory"); /* this hart's fetch sees the stores */
}

/* ---- PSRAM (strategy psram; DESIGN constraint 10) ------------------------------------------ */

/*
 * PSRAM images: the IRAM layout, copied into the PSRAM heap (MALLOC_CAP_SPIRAM) and run from
 * its cached address, which is the same for fetch and data (esp32p4: SOC_EXTRAM_LOW..HIGH).
 *
 * Whether the PMP lets code run there, per ESP-IDF version (esp_hw_support/port/esp32p4/
 * cpu_region_protect.c, esp_cpu_configure_region_protection). The PMA never forbids the PSRAM
 * range (it only closes the gaps around it); the PMP does, when memory protection is on
 * (MEMPROT_OPTION above) and:
 *   - ESP-IDF >= 5.5.5 and 6.x: CONFIG_SPIRAM_PRE_CONFIGURE_MEMORY_PROTECTION (default y with
 *     CONFIG_SPIRAM_BOOT_INIT): the PSRAM heap after the firmware's own PSRAM segments is RW, not X.
 *   - ESP-IDF 5.3 .. 5.5.4: the same, only with CONFIG_SPIRAM_XIP_FROM_PSRAM as well.
 * With memory protection off, 5.5.5+ maps all of PSRAM RWX and older versions leave it unlocked
 * (machine mode may then fetch from it). esp_ptr_executable() does not know the PMP, so the
 * refusal is decided here, from the configuration, before anything is allocated.
 */
#if DYNAPPS_PSRAM_PMP_NEEDS_XIP_FROM_PSRAM
#define PSRAM_PMP_RW_ONLY (CONFIG_SPIRAM_PRE_CONFIGURE_MEMORY_PROTECTION && CONFIG_SPIRAM_XIP_FROM_PSRAM)
#else
#define PSRAM_PMP_RW_ONLY CONFIG_SPIRAM_PRE_CONFIGURE_MEMORY_PROTECTION
#endif

#if CONFIG_SPIRAM && defined(MEMPROT_OPTION) && PSRAM_PMP_RW_ONLY
#define PSRAM_NOEXEC_REASON                                                                     \
    "memory protection makes the PSRAM heap read/write only: set "                              \
    "CONFIG_SPIRAM_PRE_CONFIGURE_MEMORY_PROTECTION=n (PSRAM is then left outside the PMP), or " \
    MEMPROT_OPTION "=n"
#endif

dynapps_err_t dynapps_port_psram_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                       uint8_t **data_view)
{
#if !CONFIG_SPIRAM
    (void)size;
    (void)align;
    (void)exec_addr;
    (void)data_view;
    ESP_LOGE(TAG, "PSRAM app: this firmware has no PSRAM (CONFIG_SPIRAM is off, or the chip has none)");
    return DYNAPPS_ERR_NO_PSRAM;
#elif defined(PSRAM_NOEXEC_REASON)
    (void)size;
    (void)align;
    (void)exec_addr;
    (void)data_view;
    ESP_LOGE(TAG, "PSRAM app: %s", PSRAM_NOEXEC_REASON);
    return DYNAPPS_ERR_PSRAM_NOT_EXECUTABLE;
#else
    if (align < PSRAM_LINE) {
        align = PSRAM_LINE;
    }
    if ((align & (align - 1)) != 0 || size > SIZE_MAX / 2) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    uint8_t *memory = heap_caps_aligned_alloc(align, ALIGN_UP(size, PSRAM_LINE), MALLOC_CAP_SPIRAM);
    if (memory == NULL) {
        if (heap_caps_get_total_size(MALLOC_CAP_SPIRAM) == 0) {
            ESP_LOGE(TAG, "PSRAM app: PSRAM is not in the heap; set CONFIG_SPIRAM_USE_CAPS_ALLOC=y "
                          "or CONFIG_SPIRAM_USE_MALLOC=y");
            return DYNAPPS_ERR_NO_PSRAM;
        }
        return DYNAPPS_ERR_NO_MEM;
    }
    if (!esp_ptr_external_ram(memory)) { /* the heap's caps say otherwise: never run from it */
        ESP_LOGE(TAG, "PSRAM app: MALLOC_CAP_SPIRAM gave %p, outside PSRAM", (void *)memory);
        heap_caps_free(memory);
        return DYNAPPS_ERR_NO_PSRAM;
    }
    *exec_addr = (uintptr_t)memory; /* one address for fetch and data */
    *data_view = memory;
    return DYNAPPS_OK;
#endif
}

/* heap_caps_aligned_alloc memory goes back with heap_caps_free (esp_heap_caps.h, IDF >= 5.0). */
void dynapps_port_psram_free(uint8_t *data_view)
{
    heap_caps_free(data_view);
}

/* ---- the apps window (DESIGN constraints 1, 6) ------------------------------------------- */

/* Caps of every mapping the window makes: executable and readable; esp_mm puts them in the flash
 * region (esp_mm/port/<chip>/ext_mem_layout.c) and returns instruction-bus addresses. */
#define WINDOW_CAPS (MMU_MEM_CAP_EXEC | MMU_MEM_CAP_READ | MMU_MEM_CAP_32BIT)

static dynapps_mmu_status_t mmu_status(esp_err_t err, const char *what)
{
    if (err == ESP_OK) {
        return DYNAPPS_MMU_OK;
    }
    ESP_LOGD(TAG, "%s: %s", what, esp_err_to_name(err));
    /* esp_mm: ESP_ERR_INVALID_STATE = the flash range lies inside one mapped already */
    return err == ESP_ERR_INVALID_STATE ? DYNAPPS_MMU_PADDR_IN_USE : DYNAPPS_MMU_FAILED;
}

static dynapps_mmu_status_t mmu_map_first_fit(uint32_t paddr, uint32_t size, bool paddr_shared,
                                              uint32_t *laddr)
{
    void *ptr = NULL;
    esp_err_t err = esp_mmu_map(paddr, size, MMU_TARGET_FLASH0, WINDOW_CAPS,
                                paddr_shared ? ESP_MMU_MMAP_FLAG_PADDR_SHARED : 0, &ptr);
    *laddr = (uint32_t)((uintptr_t)ptr - SOC_IROM_LOW);
    return mmu_status(err, "esp_mmu_map");
}

#if DYNAPPS_HAVE_MMU_MAP_VIRT
static dynapps_mmu_status_t mmu_map_at(uint32_t laddr, uint32_t paddr, uint32_t size)
{
    void *ptr = NULL;
    return mmu_status(esp_mmu_map_virt(SOC_IROM_LOW + laddr, paddr, size, MMU_TARGET_FLASH0, WINDOW_CAPS, 0, &ptr),
                      "esp_mmu_map_virt");
}
#endif

static void mmu_unmap(uint32_t laddr)
{
    esp_err_t err = esp_mmu_unmap((void *)(SOC_IROM_LOW + laddr));
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_mmu_unmap(0x%08" PRIx32 "): %s", (uint32_t)(SOC_IROM_LOW + laddr), esp_err_to_name(err));
    }
}

static const dynapps_mmu_ops_t s_mmu = {
    .page_size = CONFIG_MMU_PAGE_SIZE,
    .map_first_fit = mmu_map_first_fit,
#if DYNAPPS_HAVE_MMU_MAP_VIRT
    .map_at = mmu_map_at,
#endif
    .unmap = mmu_unmap,
};

/* Reserved at the first slot lookup; guarded by the loader lock. */
static struct {
    bool tried;
    dynapps_err_t err;   /* DYNAPPS_OK: flash [start, end) is mapped at linear address start */
    uint32_t start, end; /* MMU-page aligned flash offsets */
} s_window;

/* The flash every app slot covers, page aligned; false if there is no slot. */
static bool apps_region(uint32_t *start, uint32_t *end)
{
    *start = UINT32_MAX;
    *end = 0;
    esp_partition_iterator_t it = esp_partition_find(
        ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)DYNAPPS_SLOT_PARTITION_SUBTYPE, NULL);
    for (; it != NULL; it = esp_partition_next(it)) {
        const esp_partition_t *part = esp_partition_get(it);
        *start = part->address < *start ? part->address : *start;
        *end = part->address + part->size > *end ? part->address + part->size : *end;
    }
    esp_partition_iterator_release(it); /* accepts NULL */
    *start = ALIGN_DOWN(*start, CONFIG_MMU_PAGE_SIZE);
    *end = ALIGN_UP(*end, CONFIG_MMU_PAGE_SIZE);
    return *start < *end;
}

static void window_reserve(void)
{
    s_window.tried = true;
    s_window.err = DYNAPPS_ERR_NOT_FOUND;
    if (!apps_region(&s_window.start, &s_window.end)) {
        return;
    }
    dynapps_window_report_t report;
    s_window.err = dynapps_window_reserve(&s_mmu, s_window.start, s_window.end - s_window.start, &report);
    if (s_window.err == DYNAPPS_OK) {
        ESP_LOGI(TAG, "apps window: flash 0x%08" PRIx32 "..0x%08" PRIx32 " at 0x%08" PRIx32 " (%s, %" PRIu32
                      " fillers)", s_window.start, s_window.end, (uint32_t)(SOC_IROM_LOW + s_window.start),
                 DYNAPPS_WINDOW_MECHANISM, report.fillers);
    } else if (report.mapped_elsewhere) {
        ESP_LOGE(TAG, "apps window (flash 0x%08" PRIx32 "..0x%08" PRIx32 ") must be mapped at 0x%08" PRIx32
                      ", first fit put it at 0x%08" PRIx32 ": something else is mapped there; XIP apps are refused",
                 s_window.start, s_window.end, (uint32_t)(SOC_IROM_LOW + report.wanted),
                 (uint32_t)(SOC_IROM_LOW + report.got));
    } else {
        ESP_LOGE(TAG, "apps window (flash 0x%08" PRIx32 "..0x%08" PRIx32 ") not mapped at 0x%08" PRIx32
                      ": %s failed (%s; %s; the debug log has esp_mm's error); XIP apps are refused",
                 s_window.start, s_window.end, (uint32_t)(SOC_IROM_LOW + report.wanted),
                 report.failed_step ? report.failed_step : "?",
                 report.mmu == DYNAPPS_MMU_PADDR_IN_USE ? "its flash is mapped already" : "esp_mm refused it",
                 DYNAPPS_WINDOW_MECHANISM);
    }
}

static bool in_window(uint32_t offset, uint32_t size)
{
    return s_window.err == DYNAPPS_OK && offset >= s_window.start && offset <= s_window.end &&
           size <= s_window.end - offset;
}

/* ---- app slots ----------------------------------------------------------------------------- */

/* A slot mapped by itself, when there is no window (port_handle of such a slot; NULL in the window). */
typedef struct {
    esp_partition_mmap_handle_t handle;
} lone_slot_t;

static dynapps_err_t map_slot_alone(const esp_partition_t *part, dynapps_slot_t *slot)
{
    lone_slot_t *lone = heap_caps_calloc(1, sizeof *lone, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    if (lone == NULL) {
        return DYNAPPS_ERR_NO_MEM;
    }
    const void *bytes = NULL;
    esp_err_t err = esp_partition_mmap(part, 0, part->size, ESP_PARTITION_MMAP_DATA, &bytes, &lone->handle);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "slot '%s' at flash 0x%08" PRIx32 ": can't map it (%s)", part->label, part->address,
                 esp_err_to_name(err));
        heap_caps_free(lone);
        return err == ESP_ERR_NO_MEM ? DYNAPPS_ERR_NO_MEM : DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    slot->bytes = bytes;
    slot->port_handle = lone;
    return DYNAPPS_OK;
}

dynapps_err_t dynapps_port_find_slot(const char *name, dynapps_slot_t *slot)
{
    const esp_partition_t *part =
        esp_partition_find_first(ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)DYNAPPS_SLOT_PARTITION_SUBTYPE,
                                 name);
    if (part == NULL) {
        return DYNAPPS_ERR_NOT_FOUND;
    }
    if (!s_window.tried) {
        window_reserve();
    }
    slot->size = part->size;
    slot->flash_offset = part->address;
    slot->id = (uintptr_t)part; /* one esp_partition_t per partition, never freed */
    memset(slot->label, 0, sizeof slot->label);
    memcpy(slot->label, part->label, strnlen(part->label, sizeof slot->label));
    /* The identity address layout.py links XIP images for; map_xip maps nowhere else. */
    slot->xip_vaddr = part->address % CONFIG_MMU_PAGE_SIZE == 0 ? SOC_IROM_LOW + part->address : 0;
    if (in_window(part->address, part->size)) {
        slot->bytes = (const uint8_t *)(SOC_DROM_LOW + part->address); /* the window's data view */
        slot->port_handle = NULL;
        return DYNAPPS_OK;
    }
    return map_slot_alone(part, slot);
}

void dynapps_port_release_slot(dynapps_slot_t *slot)
{
    if (slot == NULL || slot->port_handle == NULL) {
        return; /* in the window, which stays */
    }
    lone_slot_t *lone = slot->port_handle;
    esp_partition_munmap(lone->handle);
    heap_caps_free(lone);
    slot->port_handle = NULL;
    slot->bytes = NULL;
}

/* ---- trust marks (src/dynapps_trust.c) ---------------------------------------------------- */

/* slot->id is the slot's esp_partition_t. esp_flash invalidates the cache over what it erases
 * and writes, so the window's data view shows the mark at once. */
bool dynapps_port_write_trust_mark(const dynapps_slot_t *slot, uint32_t offset, const void *mark, size_t size)
{
    const esp_partition_t *part = (const esp_partition_t *)slot->id;
    esp_err_t err = esp_partition_erase_range(part, offset, DYNAPPS_TRUST_MARK_SECTOR);
    if (err == ESP_OK) {
        err = esp_partition_write(part, offset, mark, size);
    }
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "slot %s: trust mark not written at +0x%" PRIx32 " (%s): every load of it hashes the whole image",
                 part->label, offset, esp_err_to_name(err));
        return false;
    }
    return true;
}

/* ---- flash XIP (DESIGN constraints 1, 6) --------------------------------------------------- */

/* Drop instruction-cache lines left from an earlier app at these addresses (IDF >= 5.3). */
static void invalidate_icache(uintptr_t vaddr, size_t size)
{
#ifdef ESP_CACHE_MSYNC_FLAG_DIR_M2C
    uintptr_t start = ALIGN_DOWN(vaddr, CONFIG_MMU_PAGE_SIZE); /* whole mapped pages */
    size_t len = ALIGN_UP(vaddr + size, CONFIG_MMU_PAGE_SIZE) - start;
    esp_err_t err = esp_cache_msync((void *)start, len,
                                    ESP_CACHE_MSYNC_FLAG_DIR_M2C | ESP_CACHE_MSYNC_FLAG_TYPE_INST);
    if (err != ESP_OK) {
        ESP_LOGD(TAG, "esp_cache_msync(0x%08" PRIx32 "): %s", (uint32_t)start, esp_err_to_name(err));
    }
#else
    (void)vaddr;
    (void)size;
#endif
}

/* The window holds every slot at its identity address already: mapping an XIP app is checking
 * that its slot is in the window (the core has checked that the image was linked for
 * slot->xip_vaddr). The window is shared, so a mapping is just that address. */
dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping)
{
    if (slot == NULL || mapping == NULL || size == 0 || size > slot->size) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (vaddr == 0 || vaddr != slot->xip_vaddr || !in_window(slot->flash_offset, (uint32_t)size)) {
        ESP_LOGE(TAG, "XIP app in slot '%.16s' (flash 0x%08" PRIx32 ") refused: the apps window is not mapped "
                      "at its own address (see the 'apps window' line above)", slot->label, slot->flash_offset);
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    invalidate_icache(vaddr, size);
    *mapping = (void *)vaddr;
    return DYNAPPS_OK;
}

void dynapps_port_unmap_xip(void *mapping)
{
    (void)mapping; /* the window stays; map_xip drops stale cache lines before the next app runs */
}

/* ---- data arena ---------------------------------------------------------------------------- */

/*
 * XIP apps' data and bss live at fixed addresses in [CONFIG_DYNAPPS_DATA_ARENA_ADDRESS,
 * + CONFIG_DYNAPPS_DATA_ARENA_SIZE): internal RAM that SOC_RESERVE_MEMORY_REGION
 * (heap/include/heap_memory_layout.h, the same macro in IDF 5.1 .. 6.1) takes out of the heap
 * before the heap is created. The app build reads both numbers from the firmware's sdkconfig
 * (src/dynapps/sdkconfig.py), so apps need no firmware ELF, and a firmware rebuild that moves
 * the firmware's own RAM does not move the arena.
 *
 * The reservation alone does not keep the firmware's static data out of the range (the linker
 * knows nothing of it), so arena_usable() checks once, at the first XIP load, that the range lies
 * inside one heap region of the chip (soc_memory_regions[], not a start-up stack region) and
 * clear of the firmware's static data and IRAM code; when it is not, it says which option to
 * change and every XIP image is refused (the arena reads as empty).
 */
#if CONFIG_DYNAPPS_DATA_ARENA_SIZE > 0
#include "heap_memory_layout.h" /* heap: SOC_RESERVE_MEMORY_REGION, soc_memory_regions */

#define ARENA_START ((intptr_t)CONFIG_DYNAPPS_DATA_ARENA_ADDRESS)
#define ARENA_END (ARENA_START + (intptr_t)CONFIG_DYNAPPS_DATA_ARENA_SIZE)
_Static_assert(CONFIG_DYNAPPS_DATA_ARENA_SIZE % 16 == 0, "CONFIG_DYNAPPS_DATA_ARENA_SIZE: multiple of 16");
_Static_assert(CONFIG_DYNAPPS_DATA_ARENA_ADDRESS % 16 == 0, "CONFIG_DYNAPPS_DATA_ARENA_ADDRESS: multiple of 16");
_Static_assert(CONFIG_DYNAPPS_DATA_ARENA_ADDRESS >= SOC_DRAM_LOW &&
                   CONFIG_DYNAPPS_DATA_ARENA_ADDRESS + CONFIG_DYNAPPS_DATA_ARENA_SIZE <= SOC_DRAM_HIGH,
               "CONFIG_DYNAPPS_DATA_ARENA_ADDRESS/_SIZE: the arena must lie in internal data RAM "
               "(SOC_DRAM_LOW .. SOC_DRAM_HIGH)");

SOC_RESERVE_MEMORY_REGION(ARENA_START, ARENA_END, dynapps_data_arena);

/* The firmware's static RAM, from ESP-IDF's linker scripts (esp_system/ld/<chip>/sections.ld.in),
 * the symbols heap/port/<chip>/memory_layout.c reserves too. A firmware for esp32p4 rev < 3 splits
 * its static data in two, _data_start_low/_heap_start_low and _high: every build of ESP-IDF 5.3 ..
 * 5.5.0 (rev < 3 only) and of 5.4.x/5.5.x with ESP32P4_SELECTS_REV_LESS_V3. ESP32P4_REV_MIN_FULL
 * < 300 says exactly that in each of them (the Kconfig's arena default keys on it too). */
#define DYNAPPS_P4_SPLIT_DATA (CONFIG_IDF_TARGET_ESP32P4 && CONFIG_ESP32P4_REV_MIN_FULL < 300)
extern int _iram_start, _iram_end;
#if DYNAPPS_P4_SPLIT_DATA
extern int _data_start_low, _heap_start_low, _data_start_high, _heap_start_high;
#else
extern int _data_start, _heap_start;
#endif

#ifdef SOC_I_D_OFFSET
#define IRAM_AS_DRAM(addr) ((intptr_t)(addr) - SOC_I_D_OFFSET) /* esp32c3: the DRAM alias */
#else
#define IRAM_AS_DRAM(addr) ((intptr_t)(addr))
#endif

static bool arena_overlaps(intptr_t start, intptr_t end)
{
    return start < ARENA_END && ARENA_START < end;
}

/* Whether a heap region is the ROM's start-up stack (given to the heap only once the scheduler
 * runs): a field of the region from ESP-IDF 5.2 on, of its memory type before. */
static bool startup_stack_region(const soc_memory_region_t *r)
{
#if DYNAPPS_REGION_HAS_STARTUP_STACK
    return r->startup_stack;
#else
    return soc_memory_types[r->type].startup_stack;
#endif
}

static bool arena_in_heap_region(void)
{
    for (size_t i = 0; i < soc_memory_region_count; i++) {
        const soc_memory_region_t *r = &soc_memory_regions[i];
        if (!startup_stack_region(r) && ARENA_START >= r->start && ARENA_END <= (intptr_t)(r->start + r->size)) {
            return true;
        }
    }
    return false;
}

static bool arena_clear_of_static_ram(void)
{
#if DYNAPPS_P4_SPLIT_DATA
    bool data = arena_overlaps((intptr_t)&_data_start_low, (intptr_t)&_heap_start_low) ||
                arena_overlaps((intptr_t)&_data_start_high, (intptr_t)&_heap_start_high);
#else
    bool data = arena_overlaps((intptr_t)&_data_start, (intptr_t)&_heap_start);
#endif
    return !data && !arena_overlaps(IRAM_AS_DRAM(&_iram_start), IRAM_AS_DRAM(&_iram_end));
}

/* 0: not checked yet, 1: usable, -1: refused (logged once). */
static int arena_state;

static bool arena_usable(void)
{
    if (arena_state == 0) {
        arena_state = 1;
        if (!arena_in_heap_region()) {
            ESP_LOGE(TAG, "data arena 0x%08x..0x%08x is not in heap RAM of this chip: set "
                          "CONFIG_DYNAPPS_DATA_ARENA_ADDRESS inside a heap region (idf.py menuconfig, dynapps); "
                          "XIP apps are refused", (unsigned)ARENA_START, (unsigned)ARENA_END);
            arena_state = -1;
        } else if (!arena_clear_of_static_ram()) {
            ESP_LOGE(TAG, "data arena 0x%08x..0x%08x overlaps the firmware's static RAM (ends at 0x%08x): "
                          "move CONFIG_DYNAPPS_DATA_ARENA_ADDRESS up or lower CONFIG_DYNAPPS_DATA_ARENA_SIZE; "
                          "XIP apps are refused", (unsigned)ARENA_START, (unsigned)ARENA_END,
#if DYNAPPS_P4_SPLIT_DATA
                     (unsigned)(intptr_t)&_heap_start_high
#else
                     (unsigned)(intptr_t)&_heap_start
#endif
            );
            arena_state = -1;
        }
    }
    return arena_state > 0;
}
#endif

void dynapps_port_data_arena(uintptr_t *base, size_t *size)
{
    *base = 0;
    *size = 0;
#if CONFIG_DYNAPPS_DATA_ARENA_SIZE > 0
    if (arena_usable()) {
        *base = (uintptr_t)ARENA_START;
        *size = CONFIG_DYNAPPS_DATA_ARENA_SIZE;
    }
#endif
}

void dynapps_port_arena_refused(uint32_t base, uint64_t size, uintptr_t arena, size_t arena_size)
{
    ESP_LOGE(TAG, "XIP image's data and bss 0x%08" PRIx32 "..0x%08" PRIx32 " are not inside the data arena "
                  "0x%08" PRIx32 "..0x%08" PRIx32 ": rebuild the app with this "
                  "firmware's sdkconfig (CONFIG_DYNAPPS_DATA_ARENA_ADDRESS / _SIZE)",
             base, (uint32_t)(base + size), (uint32_t)arena, (uint32_t)(arena + arena_size));
}

/* ---- SHA-256 -------------------------------------------------------------------------------- */

/* The SHA accelerator through Mbed TLS; should that ever fail (no PSA, no DMA channel), the
 * core's software SHA-256 gives the same digest, only slower. */
void dynapps_port_sha256(const void *data, size_t size, uint8_t digest[32])
{
#if DYNAPPS_SHA_PSA
    size_t length = 0;
    psa_status_t status = psa_crypto_init(); /* idempotent; required before any PSA call */
    if (status == PSA_SUCCESS) {
        status = psa_hash_compute(PSA_ALG_SHA_256, data, size, digest, DYNAPPS_SHA256_SIZE, &length);
    }
    if (status == PSA_SUCCESS && length == DYNAPPS_SHA256_SIZE) {
        return;
    }
    ESP_LOGW(TAG, "psa_hash_compute: %d; hashing in software", (int)status);
#else
    int ret = mbedtls_sha256(data, size, digest, 0);
    if (ret == 0) {
        return;
    }
    ESP_LOGW(TAG, "mbedtls_sha256: -0x%04x; hashing in software", (unsigned)-ret);
#endif
    dynapps_sha256(data, size, digest);
}

/* ---- signatures ----------------------------------------------------------------------------- */

#define SIGNATURE_OPTIONS "CONFIG_MBEDTLS_ECDSA_C and CONFIG_MBEDTLS_ECP_DP_SECP256R1_ENABLED"

#if DYNAPPS_SHA_PSA
/* The key is imported for each check (65 bytes, a few loads per boot) and destroyed after. */
bool dynapps_port_verify_signature(const uint8_t hash[32], const uint8_t *signature, const uint8_t *public_key)
{
    psa_key_attributes_t attributes = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&attributes, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attributes, 256);
    psa_set_key_usage_flags(&attributes, PSA_KEY_USAGE_VERIFY_HASH);
    psa_set_key_algorithm(&attributes, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    psa_key_id_t key = 0;
    psa_status_t status = psa_crypto_init();
    if (status == PSA_SUCCESS) {
        status = psa_import_key(&attributes, public_key, DYNAPPS_SIGNING_KEY_SIZE, &key);
    }
    if (status == PSA_SUCCESS) {
        status = psa_verify_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, DYNAPPS_SHA256_SIZE, signature,
                                 DYNAPPS_IMAGE_SIGNATURE_SIZE);
        psa_destroy_key(key);
    }
    if (status == PSA_ERROR_NOT_SUPPORTED) {
        ESP_LOGE(TAG, "ECDSA P-256 is not in this firmware's Mbed TLS: enable " SIGNATURE_OPTIONS);
    } else if (status != PSA_SUCCESS && status != PSA_ERROR_INVALID_SIGNATURE) {
        ESP_LOGW(TAG, "psa_verify_hash: %d", (int)status);
    }
    return status == PSA_SUCCESS;
}
#else
bool dynapps_port_verify_signature(const uint8_t hash[32], const uint8_t *signature, const uint8_t *public_key)
{
    mbedtls_ecp_group group;
    mbedtls_ecp_point point;
    mbedtls_mpi r, s;
    mbedtls_ecp_group_init(&group);
    mbedtls_ecp_point_init(&point);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int ret = mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_SECP256R1);
    if (ret == 0) {
        ret = mbedtls_ecp_point_read_binary(&group, &point, public_key, DYNAPPS_SIGNING_KEY_SIZE);
    }
    if (ret == 0) {
        ret = mbedtls_mpi_read_binary(&r, signature, DYNAPPS_IMAGE_SIGNATURE_SIZE / 2);
    }
    if (ret == 0) {
        ret = mbedtls_mpi_read_binary(&s, signature + DYNAPPS_IMAGE_SIGNATURE_SIZE / 2, DYNAPPS_IMAGE_SIGNATURE_SIZE / 2);
    }
    if (ret == 0) {
        ret = mbedtls_ecdsa_verify(&group, hash, DYNAPPS_SHA256_SIZE, &point, &r, &s);
    }
    if (ret == MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE) {
        ESP_LOGE(TAG, "ECDSA P-256 is not in this firmware's Mbed TLS: enable " SIGNATURE_OPTIONS);
    }
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_ecp_point_free(&point);
    mbedtls_ecp_group_free(&group);
    return ret == 0;
}
#endif

/* ---- lock ---------------------------------------------------------------------------------- */

/* A standard FreeRTOS mutex, not a recursive one: the core never takes it twice, and runs the
 * apps' init and deinit without it, so an init that calls a wrapper or the loader takes it
 * afresh (tests/c/handles/test_handles.c checks this against a non-recursive pthread mutex). */

static portMUX_TYPE s_mutex_init_lock = portMUX_INITIALIZER_UNLOCKED;
static StaticSemaphore_t s_mutex_storage;
static SemaphoreHandle_t s_mutex;

/* Created on first use; the spinlock makes two first users on two cores agree. */
static SemaphoreHandle_t port_mutex(void)
{
    portENTER_CRITICAL(&s_mutex_init_lock);
    if (s_mutex == NULL) {
        s_mutex = xSemaphoreCreateMutexStatic(&s_mutex_storage);
    }
    SemaphoreHandle_t mutex = s_mutex;
    portEXIT_CRITICAL(&s_mutex_init_lock);
    return mutex;
}

void dynapps_port_lock(void)
{
    xSemaphoreTake(port_mutex(), portMAX_DELAY);
}

void dynapps_port_unlock(void)
{
    xSemaphoreGive(port_mutex());
}
