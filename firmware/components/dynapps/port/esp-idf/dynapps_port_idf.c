/*
 * dynapps port for ESP-IDF >= 5.1 (esp32c3, esp32c6, esp32h2; esp32p4 needs >= 5.3).
 *
 * One small function per hook of dynapps_port.h. Every ESP-IDF call is written against the
 * signature in the header named next to it (docs/adding-a-chip.md lists them). The core calls
 * every hook from task context with dynapps_port_lock() held, except lock/unlock themselves.
 *
 * Flash mapping (DESIGN constraint 1): an XIP image is linked for the instruction-bus address
 * SOC_IROM_LOW + (flash offset of its slot), i.e. MMU linear address == flash address. One MMU
 * entry is seen by both buses at the same linear address (esp32c3: data bus at SOC_DROM_LOW + l,
 * instruction bus at SOC_IROM_LOW + l; esp32c6/h2/p4: one address), so a single mapping of the
 * slot serves both the loader's reads and the app's instruction fetch. It has to be a single
 * one: esp_mm refuses to map flash that an existing mapping already covers (esp_mmu_map.c,
 * ENABLE_PADDR_CHECK: ESP_ERR_INVALID_STATE / ESP_ERR_INVALID_ARG), so "read it through
 * esp_partition_mmap, then map it again for execution" cannot work while the slot is mapped.
 *   - ESP-IDF >= 6.1: find_slot maps the slot at its identity address with esp_mmu_map_virt();
 *     map_xip checks the address and keeps that mapping alive (reference count). find_slot
 *     reports that identity address as dynapps_slot_t.xip_vaddr, so the core refuses an XIP
 *     image linked for any other (DYNAPPS_ERR_WRONG_ADDRESS) before asking to map it.
 * A slot is mapped once however often it is looked up: find_slot of a slot whose mapping is alive
 * (an XIP app from it is loaded) takes another reference to that mapping instead of mapping the
 * flash a second time, which esp_mm would refuse. So the slot's data view (slot.bytes) stays
 * readable for as long as an XIP app from it is loaded, which the core relies on (it reads the
 * app's export table there).
 *   - ESP-IDF < 6.1 has no way to choose the address of a mapping: find_slot uses
 *     esp_partition_mmap(ESP_PARTITION_MMAP_DATA), which puts the slot wherever esp_mm finds
 *     room, and map_xip refuses with DYNAPPS_ERR_ADDRESS_UNAVAILABLE (explaining why) unless
 *     that happens to be the linked address. IRAM images work on every version.
 *
 * SHA-256 (dynapps_port_sha256): the chip's SHA accelerator, through mbedtls_sha256()
 * (mbedtls/sha256.h, Mbed TLS 3.x, ESP-IDF < 6.0) or psa_hash_compute() (psa/crypto.h: ESP-IDF
 * 6.0 ships Mbed TLS 4, where the legacy hash API is private and PSA reaches the accelerator
 * through ESP-IDF's PSA driver). With CONFIG_MBEDTLS_HARDWARE_SHA (the default) both run on the
 * SHA peripheral; from flash, which DMA can't read, ESP-IDF feeds it block by block.
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
#include "dynapps_sha256.h" /* the core's software SHA-256 (src/, PRIV_INCLUDE_DIRS) */

/* Mbed TLS 4 (ESP-IDF >= 6.0): hashing through PSA. */
#ifndef DYNAPPS_SHA_PSA
#define DYNAPPS_SHA_PSA (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(6, 0, 0))
#endif
#if DYNAPPS_SHA_PSA
#include "psa/crypto.h"     /* mbedtls (TF-PSA-Crypto) */
#else
#include "mbedtls/sha256.h" /* mbedtls */
#endif

/* esp_mmu_map_virt() (esp_mm/include/esp_mmu_map.h) first shipped in ESP-IDF v6.1. */
#ifndef DYNAPPS_HAVE_MMU_MAP_VIRT
#define DYNAPPS_HAVE_MMU_MAP_VIRT (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(6, 1, 0))
#endif
#if DYNAPPS_HAVE_MMU_MAP_VIRT
#include "esp_mmu_map.h" /* esp_mm */
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
#if SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE
    /* exec_alloc made the block line aligned and sized, so the rounded ranges stay inside it. */
    uintptr_t dstart = ALIGN_DOWN((uintptr_t)data_view, CODE_LINE);
    uintptr_t istart = ALIGN_DOWN(exec_addr, CODE_LINE);
    size_t len = ALIGN_UP((uintptr_t)data_view + size, CODE_LINE) - dstart;
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

/* ---- app slots ----------------------------------------------------------------------------- */

typedef struct idf_slot {
    struct idf_slot *next;              /* list of live slot mappings */
    const esp_partition_t *part;        /* the partition (esp_partition's list: permanent) */
    const void *bytes;                  /* slot start, data-bus view */
    esp_partition_mmap_handle_t handle; /* mapped by esp_partition_mmap (mmu_block == NULL) */
    void *mmu_block;                    /* mapped by esp_mmu_map_virt at the identity address */
    uint32_t refs;                      /* find_slot lookups not yet released + XIP mappings */
} idf_slot_t;

/* Every slot mapped now; guarded by the loader lock (the core calls the hooks with it held). */
static idf_slot_t *s_slots;

/* Map the whole partition for reading, at its identity address when this IDF can. */
static esp_err_t map_slot(const esp_partition_t *part, idf_slot_t *s)
{
#if DYNAPPS_HAVE_MMU_MAP_VIRT
    if (part->address % CONFIG_MMU_PAGE_SIZE == 0) { /* XIP slots always are (layout.py) */
        void *ptr = NULL;
        esp_err_t err = esp_mmu_map_virt(SOC_DROM_LOW + part->address, part->address, part->size,
                                         MMU_TARGET_FLASH0, MMU_MEM_CAP_READ | MMU_MEM_CAP_8BIT, 0,
                                         &ptr);
        if (err == ESP_OK) {
            s->mmu_block = ptr;
            s->bytes = ptr;
            return ESP_OK;
        }
        ESP_LOGD(TAG, "slot '%s': identity mapping failed (%s), mapping it anywhere",
                 part->label, esp_err_to_name(err));
    }
#endif
    return esp_partition_mmap(part, 0, part->size, ESP_PARTITION_MMAP_DATA, &s->bytes, &s->handle);
}

static void slot_unref(idf_slot_t *s)
{
    if (--s->refs != 0) {
        return;
    }
    for (idf_slot_t **link = &s_slots; *link != NULL; link = &(*link)->next) {
        if (*link == s) {
            *link = s->next;
            break;
        }
    }
#if DYNAPPS_HAVE_MMU_MAP_VIRT
    if (s->mmu_block != NULL) {
        esp_mmu_unmap(s->mmu_block);
        heap_caps_free(s);
        return;
    }
#endif
    esp_partition_munmap(s->handle);
    heap_caps_free(s);
}

static void fill_slot(dynapps_slot_t *slot, idf_slot_t *s)
{
    slot->bytes = s->bytes;
    slot->size = s->part->size;
    slot->flash_offset = s->part->address;
    slot->id = (uintptr_t)s->part; /* one esp_partition_t per partition, never freed */
    slot->port_handle = s;
    memset(slot->label, 0, sizeof slot->label);
    memcpy(slot->label, s->part->label, strnlen(s->part->label, sizeof slot->label));
    /* The identity address layout.py links XIP images for; map_xip maps nowhere else. */
    slot->xip_vaddr =
        s->part->address % CONFIG_MMU_PAGE_SIZE == 0 ? SOC_IROM_LOW + s->part->address : 0;
}

dynapps_err_t dynapps_port_find_slot(const char *name, dynapps_slot_t *slot)
{
    const esp_partition_t *part =
        esp_partition_find_first(ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)DYNAPPS_SLOT_PARTITION_SUBTYPE,
                                 name);
    if (part == NULL) {
        return DYNAPPS_ERR_NOT_FOUND;
    }
    for (idf_slot_t *s = s_slots; s != NULL; s = s->next) {
        if (s->part == part) { /* mapped already (an XIP app from it is loaded): share it */
            s->refs++;
            fill_slot(slot, s);
            return DYNAPPS_OK;
        }
    }
    idf_slot_t *s = heap_caps_calloc(1, sizeof *s, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    if (s == NULL) {
        return DYNAPPS_ERR_NO_MEM;
    }
    esp_err_t err = map_slot(part, s);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "slot '%s' at flash 0x%08" PRIx32 ": can't map it (%s)", name, part->address,
                 esp_err_to_name(err));
        heap_caps_free(s);
        return err == ESP_ERR_NO_MEM ? DYNAPPS_ERR_NO_MEM : DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    s->part = part;
    s->refs = 1;
    s->next = s_slots;
    s_slots = s;
    fill_slot(slot, s);
    return DYNAPPS_OK;
}

void dynapps_port_release_slot(dynapps_slot_t *slot)
{
    if (slot == NULL || slot->port_handle == NULL) {
        return;
    }
    slot_unref(slot->port_handle);
    slot->port_handle = NULL;
    slot->bytes = NULL;
}

/* ---- flash XIP (DESIGN constraints 1, 6) --------------------------------------------------- */

/* Drop instruction-cache lines left from an earlier mapping of these addresses (IDF >= 5.3). */
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

/* Why the slot is not mapped at its identity address (the core has checked that the image was
 * linked for that address: dynapps_slot_t.xip_vaddr). */
static const char *xip_refusal(void)
{
    return DYNAPPS_HAVE_MMU_MAP_VIRT
               ? "the slot could not be mapped at its own address (not MMU-page aligned, or "
                 "that range is in use: see the debug log)"
               : "mapping at a chosen address needs ESP-IDF >= 6.1 (esp_mmu_map_virt); "
                 "build this app with strategy iram for older IDF";
}

dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping)
{
    idf_slot_t *s = slot->port_handle;
    if (s == NULL || size > slot->size) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    /* The instruction-bus view of the slot's mapping: same MMU linear address. */
    uintptr_t ibus = (uintptr_t)s->bytes - SOC_DROM_LOW + SOC_IROM_LOW;
    if (ibus != vaddr || vaddr != slot->xip_vaddr) {
        ESP_LOGE(TAG, "XIP image linked for 0x%08" PRIx32 ", but its slot at flash 0x%08" PRIx32
                      " is mapped at 0x%08" PRIx32 ": %s",
                 (uint32_t)vaddr, slot->flash_offset, (uint32_t)ibus, xip_refusal());
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    invalidate_icache(vaddr, size);
    s->refs++; /* the mapping outlives release_slot */
    *mapping = s;
    return DYNAPPS_OK;
}

void dynapps_port_unmap_xip(void *mapping)
{
    if (mapping != NULL) {
        slot_unref(mapping);
    }
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
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 2, 0)
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
