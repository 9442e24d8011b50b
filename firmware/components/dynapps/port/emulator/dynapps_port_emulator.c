/*
 * dynapps port for the emulator machine (src/dynapps/emulator/: machine.py, devices.py).
 *
 * Memory: one first-fit heap over the EmulatorProfile heap range (linker symbols
 * dynapps_emu_heap_start/_end). Bookkeeping and executable RAM come from it; executable RAM is
 * returned as data view + DYNAPPS_EMU_I_D_OFFSET (the IRAM alias on esp32c3, 0 elsewhere). On a
 * chip with PSRAM, a second heap of the same kind over the board's PSRAM
 * (DYNAPPS_EMU_PSRAM_BASE/_SIZE, EmulatorProfile.psram) serves PSRAM images.
 * Slots: the ESP-IDF partition table at DYNAPPS_PARTITION_TABLE_OFFSET (dynapps_partition.h), read
 * through a one-page mapping the MMU places first fit. At the first lookup the apps window (the
 * flash every slot covers) is reserved at its identity address by the loader core's
 * dynapps_window_reserve, over the MMU device's esp_mm requests, exactly as the ESP-IDF port does:
 * the device allocates like the ESP-IDF release the firmware is built for
 * (DYNAPPS_EMU_IDF_MAP_VIRT). A slot's bytes are read through the window's data-bus view, and an
 * XIP app runs at the window's instruction-bus view (flash_ibus + its offset:
 * dynapps_slot_t.xip_vaddr), which stays for as long as the machine runs. When the window can't
 * be had, a slot is mapped by itself (first fit) so IRAM apps still load, and XIP loads are
 * refused with a line saying where the window had to be and where it landed.
 * SHA-256: the control block's SHA engine (dynapps_emu_sha256), standing in for the chip's SHA
 * accelerator; built with -DDYNAPPS_EMU_SOFTWARE_SHA=1, the core's software SHA-256 instead
 * (what a load costs without the accelerator).
 * Single core, no RTOS: lock/unlock do nothing (the host tests' port has a real mutex, which
 * is where a locking mistake shows: tests/test_loader_handles.py).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dynapps_emu.h"
#include "dynapps_partition.h"
#include "dynapps_port.h"
#include "dynapps_trust_mark.h"
#include "../../src/dynapps_window.h" /* the loader core's apps window reservation */

#if !defined(DYNAPPS_EMU_I_D_OFFSET) || !defined(DYNAPPS_EMU_PSRAM_SIZE)
#error "DYNAPPS_EMU_I_D_OFFSET and DYNAPPS_EMU_PSRAM_SIZE must come from the chip profile (emulator.build_spec)"
#endif

#ifndef DYNAPPS_EMU_SOFTWARE_SHA
#define DYNAPPS_EMU_SOFTWARE_SHA 0
#endif
#if DYNAPPS_EMU_SOFTWARE_SHA
#include "../../src/dynapps_sha256.h" /* the loader core's own */
#endif

/* ---------------------------------------------------------------- heap */

extern uint8_t dynapps_emu_heap_start[];
extern uint8_t dynapps_emu_heap_end[];

#define HEAP_HEADER 8u       /* every block starts with 8 bytes: size + next or magic */
#define HEAP_MIN_BLOCK 16u   /* smallest block worth keeping on the free list */
#define HEAP_MAGIC 0xDA5A110Cu /* in an allocated block's second word */

typedef struct heap_block {
    uint32_t size;           /* whole block, header included, multiple of 8 */
    union {
        struct heap_block *next; /* free: next free block (ascending addresses) */
        uint32_t magic;          /* allocated: HEAP_MAGIC */
    };
} heap_block_t;

/* A first-fit heap over [lo, hi): the internal one (bookkeeping, IRAM images) and, on a chip with
 * PSRAM, one over the emulated board's PSRAM (PSRAM images). */
typedef struct {
    heap_block_t *free_list;
    uintptr_t lo, hi;
    size_t free_bytes;
    bool ready;
    uint8_t *start, *end; /* the range before alignment */
} heap_t;

static heap_t internal_heap = {.start = dynapps_emu_heap_start, .end = dynapps_emu_heap_end};

#if DYNAPPS_EMU_PSRAM_SIZE > 0
static heap_t psram_heap = {.start = (uint8_t *)DYNAPPS_EMU_PSRAM_BASE,
                            .end = (uint8_t *)(DYNAPPS_EMU_PSRAM_BASE + DYNAPPS_EMU_PSRAM_SIZE)};
#endif

static uintptr_t align_up(uintptr_t value, uintptr_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

static heap_t *heap_ready(heap_t *heap)
{
    if (!heap->ready) {
        heap->lo = align_up((uintptr_t)heap->start, 8);
        heap->hi = (uintptr_t)heap->end & ~(uintptr_t)7;
        heap->free_list = (heap_block_t *)heap->lo;
        heap->free_list->size = (uint32_t)(heap->hi - heap->lo);
        heap->free_list->next = NULL;
        heap->free_bytes = heap->hi - heap->lo;
        heap->ready = true;
    }
    return heap;
}

/* First fit: the lowest free block that holds `size` bytes at an `align`-aligned address. */
static void *heap_alloc(heap_t *heap, size_t size, size_t align)
{
    heap_ready(heap);
    if (align < 8) {
        align = 8;
    }
    if ((align & (align - 1)) != 0 || size > heap->hi - heap->lo) {
        return NULL;
    }
    uintptr_t need = align_up(size + HEAP_HEADER, 8);
    if (need < HEAP_MIN_BLOCK) {
        need = HEAP_MIN_BLOCK;
    }
    for (heap_block_t **link = &heap->free_list; *link; link = &(*link)->next) {
        heap_block_t *block = *link;
        uintptr_t start = (uintptr_t)block;
        uintptr_t end = start + block->size;
        uintptr_t user = align_up(start + HEAP_HEADER, align);
        if (user - HEAP_HEADER != start && user - HEAP_HEADER - start < HEAP_MIN_BLOCK) {
            user = align_up(start + HEAP_MIN_BLOCK + HEAP_HEADER, align); /* room for a lead block */
        }
        uintptr_t used = user - HEAP_HEADER;
        if (used + need > end || used + need < used) {
            continue;
        }
        uintptr_t taken = need;
        uintptr_t tail = end - (used + need);
        if (tail < HEAP_MIN_BLOCK) {
            taken += tail;
            tail = 0;
        }
        heap_block_t *after = block->next;
        if (tail) {
            heap_block_t *rest = (heap_block_t *)(used + taken);
            rest->size = (uint32_t)tail;
            rest->next = after;
            after = rest;
        }
        if (used != start) { /* keep the lead part as a free block */
            block->size = (uint32_t)(used - start);
            block->next = after;
        } else {
            *link = after;
        }
        heap_block_t *mine = (heap_block_t *)used;
        mine->size = (uint32_t)taken;
        mine->magic = HEAP_MAGIC;
        heap->free_bytes -= taken;
        return (void *)user;
    }
    return NULL;
}

static heap_block_t *heap_block_of(heap_t *heap, void *ptr, const char *who)
{
    uintptr_t user = (uintptr_t)ptr;
    heap_block_t *block = (heap_block_t *)(user - HEAP_HEADER);
    if (!heap->ready || (user & 7) != 0 || user < heap->lo + HEAP_HEADER || user >= heap->hi ||
        block->magic != HEAP_MAGIC || block->size < HEAP_MIN_BLOCK ||
        (uintptr_t)block + block->size > heap->hi) {
        dynapps_emu_panic(who);
    }
    return block;
}

static void heap_release(heap_t *heap, heap_block_t *block)
{
    uintptr_t start = (uintptr_t)block;
    uintptr_t size = block->size;
    heap_block_t *prev = NULL;
    heap_block_t **link = &heap->free_list;
    while (*link && (uintptr_t)*link < start) {
        prev = *link;
        link = &(*link)->next;
    }
    heap_block_t *next = *link;
    if ((prev && (uintptr_t)prev + prev->size > start) || (next && start + size > (uintptr_t)next)) {
        dynapps_emu_panic("heap: freed block overlaps a free block (double free?)");
    }
    block->magic = 0;
    heap->free_bytes += size;
    if (next && start + size == (uintptr_t)next) { /* merge with the next free block */
        block->size = (uint32_t)(size + next->size);
        block->next = next->next;
    } else {
        block->next = next;
    }
    if (prev && (uintptr_t)prev + prev->size == start) { /* merge into the previous one */
        prev->size += block->size;
        prev->next = block->next;
    } else {
        *link = block;
    }
}

static int heap_check(heap_t *heap)
{
    heap_ready(heap);
    size_t sum = 0;
    uintptr_t previous_end = 0;
    for (heap_block_t *block = heap->free_list; block; block = block->next) {
        uintptr_t start = (uintptr_t)block;
        if (start < heap->lo || start + block->size > heap->hi || (start & 7) || (block->size & 7) ||
            block->size < HEAP_MIN_BLOCK) {
            return 1; /* outside the heap or malformed */
        }
        if (previous_end && start <= previous_end) {
            return 2; /* unsorted, overlapping or not merged with its neighbour */
        }
        previous_end = start + block->size;
        sum += block->size;
    }
    return sum == heap->free_bytes ? 0 : 3;
}

size_t dynapps_emu_heap_free(void)
{
    return heap_ready(&internal_heap)->free_bytes;
}

size_t dynapps_emu_heap_total(void)
{
    heap_t *heap = heap_ready(&internal_heap);
    return heap->hi - heap->lo;
}

int dynapps_emu_heap_check(void)
{
    return heap_check(&internal_heap);
}

size_t dynapps_emu_psram_free(void)
{
#if DYNAPPS_EMU_PSRAM_SIZE > 0
    return heap_ready(&psram_heap)->free_bytes;
#else
    return 0;
#endif
}

int dynapps_emu_psram_check(void)
{
#if DYNAPPS_EMU_PSRAM_SIZE > 0
    return heap_check(&psram_heap);
#else
    return 0;
#endif
}

void *dynapps_port_malloc(size_t size)
{
    return heap_alloc(&internal_heap, size, 8);
}

void dynapps_port_free(void *ptr)
{
    if (ptr) {
        heap_release(&internal_heap, heap_block_of(&internal_heap, ptr, "dynapps_port_free: not a heap block"));
    }
}

/* ---------------------------------------------------------------- executable RAM and PSRAM */

/* Code memory from `heap`: the data view, and the fetch address `i_d_offset` above it. */
static dynapps_err_t code_alloc(heap_t *heap, uintptr_t i_d_offset, size_t size, size_t align, uintptr_t *exec_addr,
                                uint8_t **data_view)
{
    if (!exec_addr || !data_view || size == 0 || (align & (align - 1)) != 0) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (align < 4) {
        align = 4; /* the IRAM alias takes whole words only */
    }
    uint8_t *memory = heap_alloc(heap, align_up(size, 4), align);
    if (!memory) {
        return DYNAPPS_ERR_NO_MEM;
    }
    *data_view = memory;
    *exec_addr = (uintptr_t)memory + i_d_offset;
    return DYNAPPS_OK;
}

static void code_free(heap_t *heap, uintptr_t i_d_offset, uint8_t *data_view, const char *who)
{
    if (!data_view) {
        return;
    }
    heap_block_t *block = heap_block_of(heap, data_view, who);
    /* The next app loaded here must not run this one's code: drop the emulator's translations. */
    dynapps_emu_sync_code((uintptr_t)data_view + i_d_offset, block->size - HEAP_HEADER);
    heap_release(heap, block);
}

dynapps_err_t dynapps_port_exec_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                      uint8_t **data_view)
{
    return code_alloc(&internal_heap, DYNAPPS_EMU_I_D_OFFSET, size, align, exec_addr, data_view);
}

void dynapps_port_exec_free(uint8_t *data_view)
{
    code_free(&internal_heap, DYNAPPS_EMU_I_D_OFFSET, data_view, "dynapps_port_exec_free: not a heap block");
}

/* The machine maps the board's PSRAM read/write/execute at the chip's PSRAM address (machine.py),
 * one address for fetch and data, like the cached PSRAM window of the esp32p4. */
dynapps_err_t dynapps_port_psram_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                       uint8_t **data_view)
{
#if DYNAPPS_EMU_PSRAM_SIZE > 0
    return code_alloc(&psram_heap, 0, size, align, exec_addr, data_view);
#else
    (void)size;
    (void)align;
    (void)exec_addr;
    (void)data_view;
    return DYNAPPS_ERR_NO_PSRAM; /* the chip profile has no PSRAM */
#endif
}

void dynapps_port_psram_free(uint8_t *data_view)
{
#if DYNAPPS_EMU_PSRAM_SIZE > 0
    code_free(&psram_heap, 0, data_view, "dynapps_port_psram_free: not a PSRAM heap block");
#else
    if (data_view) {
        dynapps_emu_panic("dynapps_port_psram_free: there is no PSRAM");
    }
#endif
}

void dynapps_port_sync_code(uint8_t *data_view, uintptr_t exec_addr, size_t size)
{
    (void)data_view;
    __asm__ volatile("fence.i" ::: "memory");
    /* Unicorn keeps translated code per alias: writes through the DRAM alias do not invalidate
     * what it translated from the IRAM alias. */
    dynapps_emu_sync_code(exec_addr, size);
}

/* ---------------------------------------------------------------- slots */

#define PARTITION_MAGIC 0x50AAu     /* bytes 0xAA 0x50 */
#define PARTITION_MAGIC_MD5 0xEBEBu /* the MD5 entry that ends the table */
#define PARTITION_TYPE_DATA 0x01u

typedef struct __attribute__((packed)) {
    uint16_t magic;
    uint8_t type;
    uint8_t subtype;
    uint32_t offset;
    uint32_t size;
    char label[16];
    uint32_t flags;
} partition_entry_t;

_Static_assert(sizeof(partition_entry_t) == 32, "ESP-IDF partition entry");

/* The first word of an app slot's entry: magic, type data, the slot subtype (little-endian). */
#define SLOT_ENTRY_WORD0 \
    ((uint32_t)PARTITION_MAGIC | (uint32_t)PARTITION_TYPE_DATA << 16 | \
     (uint32_t)DYNAPPS_SLOT_PARTITION_SUBTYPE << 24)

/* ---------------------------------------------------------------- the apps window */

/* The MMU hooks of the portable window reservation (dynapps_window.h), over the control block's
 * esp_mm requests: the device allocates like the ESP-IDF release the firmware is built for
 * (DYNAPPS_EMU_IDF_MAP_VIRT, from idf_versions.py), as esp_mmu_map / esp_mmu_map_virt do. */
static dynapps_mmu_status_t mmu_status(uint32_t status)
{
    if (status == DYNAPPS_EMU_MMU_OK) {
        return DYNAPPS_MMU_OK;
    }
    return status == DYNAPPS_EMU_MMU_PADDR_IN_USE ? DYNAPPS_MMU_PADDR_IN_USE : DYNAPPS_MMU_FAILED;
}

static dynapps_mmu_status_t mmu_map_first_fit(uint32_t paddr, uint32_t size, bool paddr_shared,
                                              uint32_t *laddr)
{
    uintptr_t vaddr = 0;
    uint32_t status = dynapps_emu_mmu_esp(DYNAPPS_EMU_MMU_ESP_MAP, &vaddr, paddr, size,
                                          paddr_shared ? DYNAPPS_EMU_MMU_FLAG_PADDR_SHARED : 0);
    *laddr = (uint32_t)(vaddr - DYNAPPS_EMU_FLASH_DBUS_BASE);
    return mmu_status(status);
}

#if DYNAPPS_EMU_IDF_MAP_VIRT
static dynapps_mmu_status_t mmu_map_at(uint32_t laddr, uint32_t paddr, uint32_t size)
{
    uintptr_t vaddr = DYNAPPS_EMU_FLASH_DBUS_BASE + laddr;
    return mmu_status(dynapps_emu_mmu_esp(DYNAPPS_EMU_MMU_ESP_MAP_AT, &vaddr, paddr, size, 0));
}
#endif

static void mmu_unmap(uint32_t laddr)
{
    if (dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, DYNAPPS_EMU_FLASH_DBUS_BASE + laddr, 0, 0) !=
        DYNAPPS_EMU_MMU_OK) {
        dynapps_emu_panic("dynapps port: unmapping a mapping it made failed");
    }
}

static const dynapps_mmu_ops_t emu_mmu = {
    .page_size = DYNAPPS_EMU_MMU_PAGE_SIZE,
    .map_first_fit = mmu_map_first_fit,
#if DYNAPPS_EMU_IDF_MAP_VIRT
    .map_at = mmu_map_at,
#endif
    .unmap = mmu_unmap,
};

/* The apps window: reserved at the first slot lookup, for as long as the machine runs. */
static struct {
    bool tried;
    dynapps_err_t err;       /* DYNAPPS_OK: [start, end) of the flash is mapped at identity */
    uint32_t start, end;     /* flash offsets, MMU-page aligned */
    dynapps_window_report_t report;
} s_window;

static void window_log_refusal(void)
{
    const dynapps_window_report_t *r = &s_window.report;
    if (r->mapped_elsewhere) {
        printf("dynapps: apps window (flash 0x%08lx..0x%08lx) must be mapped at 0x%08lx, first fit put it "
               "at 0x%08lx: something else is mapped there; XIP apps are refused\n",
               (unsigned long)s_window.start, (unsigned long)s_window.end,
               (unsigned long)(DYNAPPS_EMU_FLASH_IBUS_BASE + r->wanted),
               (unsigned long)(DYNAPPS_EMU_FLASH_IBUS_BASE + r->got));
    } else {
        printf("dynapps: apps window (flash 0x%08lx..0x%08lx) not mapped at 0x%08lx: %s failed (%s); "
               "XIP apps are refused\n", (unsigned long)s_window.start, (unsigned long)s_window.end,
               (unsigned long)(DYNAPPS_EMU_FLASH_IBUS_BASE + r->wanted), r->failed_step ? r->failed_step : "?",
               r->mmu == DYNAPPS_MMU_PADDR_IN_USE ? "its flash is mapped already" : "the MMU refused it");
    }
}

static void window_reserve(uint32_t start, uint32_t end)
{
    s_window.tried = true;
    s_window.start = start & ~(DYNAPPS_EMU_MMU_PAGE_SIZE - 1u);
    s_window.end = (end + DYNAPPS_EMU_MMU_PAGE_SIZE - 1u) & ~(DYNAPPS_EMU_MMU_PAGE_SIZE - 1u);
    s_window.err = dynapps_window_reserve(&emu_mmu, s_window.start, s_window.end - s_window.start,
                                          &s_window.report);
    if (s_window.err != DYNAPPS_OK) {
        window_log_refusal();
    }
}

static bool in_window(uint32_t offset, uint32_t size)
{
    return s_window.err == DYNAPPS_OK && offset >= s_window.start && offset <= s_window.end &&
           size <= s_window.end - offset;
}

/* ---------------------------------------------------------------- slots */

/* The slot's entry, and the flash range every slot covers (the apps window), from the table. */
typedef struct {
    partition_entry_t entry;
    bool found;
    uint32_t slots_start, slots_end;
} table_scan_t;

/* Entries are read a word at a time (the table is 32-byte aligned in the scratch page). An entry
 * is an app slot when its first word says so; it is the one asked for when its 16-byte label
 * holds the name followed by a NUL (or is exactly the name, 16 characters): four masked word
 * compares. The table is read through a one-page mapping made first fit (like esp_partition's
 * read of the table) and unmapped again. */
static dynapps_err_t table_scan(const uint32_t key[4], const uint32_t mask[4], table_scan_t *scan)
{
    const uint32_t page = DYNAPPS_EMU_MMU_PAGE_SIZE;
    const uint32_t table_page = DYNAPPS_PARTITION_TABLE_OFFSET & ~(page - 1);
    uintptr_t scratch = 0;
    if (dynapps_emu_mmu_esp(DYNAPPS_EMU_MMU_ESP_MAP, &scratch, table_page, page,
                            DYNAPPS_EMU_MMU_FLAG_PADDR_SHARED) != DYNAPPS_EMU_MMU_OK) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    const uint32_t *table = (const uint32_t *)(scratch + (DYNAPPS_PARTITION_TABLE_OFFSET - table_page));
    scan->found = false;
    scan->slots_start = UINT32_MAX;
    scan->slots_end = 0;
    for (uint32_t at = 0; at + sizeof scan->entry <= DYNAPPS_PARTITION_TABLE_MAX_SIZE; at += sizeof scan->entry) {
        const uint32_t *words = table + at / 4;
        if ((words[0] & 0xFFFFu) != PARTITION_MAGIC) {
            break; /* 0xFFFF (erased) or the MD5 entry */
        }
        if (words[0] != SLOT_ENTRY_WORD0) {
            continue;
        }
        uint32_t offset = words[1], size = words[2];
        scan->slots_start = offset < scan->slots_start ? offset : scan->slots_start;
        scan->slots_end = offset + size > scan->slots_end ? offset + size : scan->slots_end;
        if (!scan->found && (words[3] & mask[0]) == key[0] && (words[4] & mask[1]) == key[1] &&
            (words[5] & mask[2]) == key[2] && (words[6] & mask[3]) == key[3]) { /* label: bytes 12..27 */
            memcpy(&scan->entry, words, sizeof scan->entry);
            scan->found = true;
        }
    }
    mmu_unmap((uint32_t)(scratch - DYNAPPS_EMU_FLASH_DBUS_BASE));
    return DYNAPPS_OK;
}

/* Without the window, a slot is mapped by itself, first fit, for reading (IRAM apps still load);
 * its XIP apps are refused. port_handle is then that mapping's data-bus address. */
static dynapps_err_t map_slot_alone(const partition_entry_t *entry, dynapps_slot_t *slot)
{
    uintptr_t vaddr = 0;
    uint32_t page_offset = entry->offset % DYNAPPS_EMU_MMU_PAGE_SIZE;
    if (dynapps_emu_mmu_esp(DYNAPPS_EMU_MMU_ESP_MAP, &vaddr, entry->offset - page_offset,
                            entry->size + page_offset, 0) != DYNAPPS_EMU_MMU_OK) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    slot->bytes = (const uint8_t *)(vaddr + page_offset);
    slot->port_handle = (void *)vaddr;
    return DYNAPPS_OK;
}

dynapps_err_t dynapps_port_find_slot(const char *name, dynapps_slot_t *slot)
{
    if (!name || !slot) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    size_t length = strlen(name);
    if (length > 16) {
        return DYNAPPS_ERR_NOT_FOUND; /* longer than any label */
    }
    uint8_t key_bytes[16] = {0}, mask_bytes[16] = {0};
    memcpy(key_bytes, name, length);
    memset(mask_bytes, 0xFF, length < 16 ? length + 1 : 16); /* the name and its NUL */
    uint32_t key[4], mask[4];
    memcpy(key, key_bytes, sizeof key);
    memcpy(mask, mask_bytes, sizeof mask);
    table_scan_t scan = {0};
    dynapps_err_t err = table_scan(key, mask, &scan);
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (!s_window.tried && scan.slots_start < scan.slots_end) {
        window_reserve(scan.slots_start, scan.slots_end);
    }
    if (!scan.found) {
        return DYNAPPS_ERR_NOT_FOUND;
    }
    const partition_entry_t *entry = &scan.entry;
    slot->size = entry->size;
    slot->flash_offset = entry->offset;
    slot->id = entry->offset; /* one flash chip: the offset names the slot (never 0: >= 1 MiB) */
    memcpy(slot->label, entry->label, sizeof slot->label);
    /* The identity address layout.py links XIP images for; map_xip maps nowhere else. */
    slot->xip_vaddr = entry->offset % DYNAPPS_EMU_MMU_PAGE_SIZE == 0 ? DYNAPPS_EMU_FLASH_IBUS_BASE + entry->offset : 0;
    if (in_window(entry->offset, entry->size)) {
        slot->bytes = (const uint8_t *)(uintptr_t)(DYNAPPS_EMU_FLASH_DBUS_BASE + entry->offset);
        slot->port_handle = NULL;
        return DYNAPPS_OK;
    }
    return map_slot_alone(entry, slot);
}

void dynapps_port_release_slot(dynapps_slot_t *slot)
{
    if (slot && slot->port_handle) { /* mapped by itself (no window) */
        mmu_unmap((uint32_t)((uintptr_t)slot->port_handle - DYNAPPS_EMU_FLASH_DBUS_BASE));
        slot->port_handle = NULL;
        slot->bytes = NULL;
    }
}

/* The window holds every slot at its identity address already: mapping an XIP app is checking
 * that its slot is in the window, and dropping stale translations of those addresses. */
dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping)
{
    if (!slot || !mapping || size == 0 || size > slot->size) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (vaddr != slot->xip_vaddr || vaddr == 0 || !in_window(slot->flash_offset, (uint32_t)size)) {
        if (s_window.err != DYNAPPS_OK) {
            printf("dynapps: XIP app in slot '%.16s' (flash 0x%08lx) refused: the apps window is not mapped "
                   "at its own address\n", slot->label, (unsigned long)slot->flash_offset);
        }
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE; /* only where the slot belongs (dynapps_port.h) */
    }
    dynapps_emu_sync_code(vaddr, size);
    *mapping = (void *)vaddr;
    return DYNAPPS_OK;
}

void dynapps_port_unmap_xip(void *mapping)
{
    if (!mapping) {
        return;
    }
    /* The window stays: the next app run at these addresses must not run this one's code. */
    dynapps_emu_sync_code((uintptr_t)mapping, DYNAPPS_EMU_MMU_PAGE_SIZE);
}

/* ---------------------------------------------------------------- SHA-256 */

void dynapps_port_sha256(const void *data, size_t size, uint8_t digest[32])
{
#if DYNAPPS_EMU_SOFTWARE_SHA
    dynapps_sha256(data, size, digest);
#else
    dynapps_emu_sha256(data, size, digest);
#endif
}

/* ---------------------------------------------------------------- signatures */

/* The emulator's signature checker (ECDSA P-256 with `cryptography` in the host process), where
 * the ESP-IDF port calls Mbed TLS: the core's path up to this call is the same. */
bool dynapps_port_verify_signature(const uint8_t hash[32], const uint8_t *signature, const uint8_t *public_key)
{
    return dynapps_emu_verify_signature(hash, signature, public_key);
}

/* ---------------------------------------------------------------- data arena, locking */

/* The XIP apps' data + bss: the linker script places this section at EmulatorProfile.data_arena.
 * The app build takes the same range from the chip profile (src/dynapps/firmware.py). */
uint8_t dynapps_data_arena[DYNAPPS_EMU_DATA_ARENA_SIZE]
    __attribute__((section(".dynapps_data_arena"), aligned(16), used));

/* The flash controller erases and writes the emulated flash; the window's data view reads the
 * same bytes, so the mark shows at once. */
bool dynapps_port_write_trust_mark(const dynapps_slot_t *slot, uint32_t offset, const void *mark, size_t size)
{
    uint32_t status = dynapps_emu_flash(DYNAPPS_EMU_FLASH_ERASE, slot->flash_offset + offset, NULL,
                                        DYNAPPS_TRUST_MARK_SECTOR);
    if (status == DYNAPPS_EMU_FLASH_OK) {
        status = dynapps_emu_flash(DYNAPPS_EMU_FLASH_WRITE, slot->flash_offset + offset, mark, (uint32_t)size);
    }
    if (status != DYNAPPS_EMU_FLASH_OK) {
        printf("dynapps: slot %.16s: trust mark not written at +0x%lx (flash status %lu): every load of it hashes "
               "the whole image\n", slot->label, (unsigned long)offset, (unsigned long)status);
        return false;
    }
    return true;
}

void dynapps_port_data_arena(uintptr_t *base, size_t *size)
{
    *base = (uintptr_t)dynapps_data_arena;
    *size = sizeof dynapps_data_arena;
}

void dynapps_port_arena_refused(uint32_t base, uint64_t size, uintptr_t arena, size_t arena_size)
{
    printf("dynapps: XIP image's data and bss 0x%08lx..0x%08lx are not inside the data arena 0x%08lx..0x%08lx\n",
           (unsigned long)base, (unsigned long)(base + size), (unsigned long)arena,
           (unsigned long)(arena + arena_size));
}

void dynapps_port_lock(void)
{
}

void dynapps_port_unlock(void)
{
}
