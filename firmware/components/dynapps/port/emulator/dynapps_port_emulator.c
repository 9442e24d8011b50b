/*
 * dynapps port for the emulator machine (src/dynapps/emulator/: machine.py, devices.py).
 *
 * Memory: one first-fit heap over the EmulatorProfile heap range (linker symbols
 * dynapps_emu_heap_start/_end). Bookkeeping and executable RAM come from it; executable RAM is
 * returned as data view + DYNAPPS_EMU_I_D_OFFSET (the IRAM alias on esp32c3, 0 elsewhere).
 * Slots: the ESP-IDF partition table at DYNAPPS_PARTITION_TABLE_OFFSET (dynapps_partition.h), read through a scratch data-bus
 * mapping; a slot's bytes are read through the identity data view of the flash
 * (flash_dbus + offset, present from DYNAPPS_EMU_FLASH_DATA_VIEW_FROM up).
 * XIP: the control block's MMU request, like esp_mmu_map on a chip, only ever at the slot's own
 * instruction-bus address (flash_ibus + its offset: dynapps_slot_t.xip_vaddr). The data view of a slot is
 * permanent, so it stays readable while an XIP mapping made from it lives (dynapps_port.h).
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

#ifndef DYNAPPS_EMU_I_D_OFFSET
#error "DYNAPPS_EMU_I_D_OFFSET must come from the chip profile (emulator.build_spec)"
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

static heap_block_t *heap_free_list;
static uintptr_t heap_lo, heap_hi;
static size_t heap_free_bytes;
static bool heap_ready;

static uintptr_t align_up(uintptr_t value, uintptr_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

static void heap_init(void)
{
    heap_lo = align_up((uintptr_t)dynapps_emu_heap_start, 8);
    heap_hi = (uintptr_t)dynapps_emu_heap_end & ~(uintptr_t)7;
    heap_free_list = (heap_block_t *)heap_lo;
    heap_free_list->size = (uint32_t)(heap_hi - heap_lo);
    heap_free_list->next = NULL;
    heap_free_bytes = heap_hi - heap_lo;
    heap_ready = true;
}

/* First fit: the lowest free block that holds `size` bytes at an `align`-aligned address. */
static void *heap_alloc(size_t size, size_t align)
{
    if (!heap_ready) {
        heap_init();
    }
    if (align < 8) {
        align = 8;
    }
    if ((align & (align - 1)) != 0 || size > heap_hi - heap_lo) {
        return NULL;
    }
    uintptr_t need = align_up(size + HEAP_HEADER, 8);
    if (need < HEAP_MIN_BLOCK) {
        need = HEAP_MIN_BLOCK;
    }
    for (heap_block_t **link = &heap_free_list; *link; link = &(*link)->next) {
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
        heap_free_bytes -= taken;
        return (void *)user;
    }
    return NULL;
}

static heap_block_t *heap_block_of(void *ptr, const char *who)
{
    uintptr_t user = (uintptr_t)ptr;
    heap_block_t *block = (heap_block_t *)(user - HEAP_HEADER);
    if (!heap_ready || (user & 7) != 0 || user < heap_lo + HEAP_HEADER || user >= heap_hi ||
        block->magic != HEAP_MAGIC || block->size < HEAP_MIN_BLOCK ||
        (uintptr_t)block + block->size > heap_hi) {
        dynapps_emu_panic(who);
    }
    return block;
}

static void heap_release(heap_block_t *block)
{
    uintptr_t start = (uintptr_t)block;
    uintptr_t size = block->size;
    heap_block_t *prev = NULL;
    heap_block_t **link = &heap_free_list;
    while (*link && (uintptr_t)*link < start) {
        prev = *link;
        link = &(*link)->next;
    }
    heap_block_t *next = *link;
    if ((prev && (uintptr_t)prev + prev->size > start) || (next && start + size > (uintptr_t)next)) {
        dynapps_emu_panic("heap: freed block overlaps a free block (double free?)");
    }
    block->magic = 0;
    heap_free_bytes += size;
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

size_t dynapps_emu_heap_free(void)
{
    if (!heap_ready) {
        heap_init();
    }
    return heap_free_bytes;
}

size_t dynapps_emu_heap_total(void)
{
    if (!heap_ready) {
        heap_init();
    }
    return heap_hi - heap_lo;
}

int dynapps_emu_heap_check(void)
{
    if (!heap_ready) {
        heap_init();
    }
    size_t sum = 0;
    uintptr_t previous_end = 0;
    for (heap_block_t *block = heap_free_list; block; block = block->next) {
        uintptr_t start = (uintptr_t)block;
        if (start < heap_lo || start + block->size > heap_hi || (start & 7) || (block->size & 7) ||
            block->size < HEAP_MIN_BLOCK) {
            return 1; /* outside the heap or malformed */
        }
        if (previous_end && start <= previous_end) {
            return 2; /* unsorted, overlapping or not merged with its neighbour */
        }
        previous_end = start + block->size;
        sum += block->size;
    }
    return sum == heap_free_bytes ? 0 : 3;
}

void *dynapps_port_malloc(size_t size)
{
    return heap_alloc(size, 8);
}

void dynapps_port_free(void *ptr)
{
    if (ptr) {
        heap_release(heap_block_of(ptr, "dynapps_port_free: not a heap block"));
    }
}

/* ---------------------------------------------------------------- executable RAM */

dynapps_err_t dynapps_port_exec_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                      uint8_t **data_view)
{
    if (!exec_addr || !data_view || size == 0 || (align & (align - 1)) != 0) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (align < 4) {
        align = 4; /* the IRAM alias takes whole words only */
    }
    uint8_t *memory = heap_alloc(align_up(size, 4), align);
    if (!memory) {
        return DYNAPPS_ERR_NO_MEM;
    }
    *data_view = memory;
    *exec_addr = (uintptr_t)memory + DYNAPPS_EMU_I_D_OFFSET;
    return DYNAPPS_OK;
}

void dynapps_port_exec_free(uint8_t *data_view)
{
    if (!data_view) {
        return;
    }
    heap_block_t *block = heap_block_of(data_view, "dynapps_port_exec_free: not a heap block");
    /* The next app loaded here must not run this one's code: drop the emulator's translations. */
    dynapps_emu_sync_code((uintptr_t)data_view + DYNAPPS_EMU_I_D_OFFSET, block->size - HEAP_HEADER);
    heap_release(block);
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

/* Like esp_mmu_map on a chip with identity mapping: a slot is executed at the instruction-bus
 * address of its flash offset (layout.py links XIP images there), nowhere else; 0 if that is
 * not possible (not on an MMU page, or beyond the window). */
static uintptr_t slot_xip_vaddr(uint32_t offset, uint32_t size)
{
    if (offset % DYNAPPS_EMU_MMU_PAGE_SIZE != 0 || offset > DYNAPPS_EMU_FLASH_IBUS_SIZE ||
        size > DYNAPPS_EMU_FLASH_IBUS_SIZE - offset) {
        return 0;
    }
    return DYNAPPS_EMU_FLASH_IBUS_BASE + offset;
}

/* Entries are read a word at a time (the table is 32-byte aligned in the scratch page). An entry
 * is the slot when its first word says "app slot" and its 16-byte label holds the name followed
 * by a NUL (or is exactly the name, 16 characters): four masked word compares. */
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
    const uint32_t page = DYNAPPS_EMU_MMU_PAGE_SIZE;
    const uint32_t table_page = DYNAPPS_PARTITION_TABLE_OFFSET & ~(page - 1);
    if (dynapps_emu_mmu(DYNAPPS_EMU_MMU_MAP_DATA, DYNAPPS_EMU_FLASH_SCRATCH_VADDR, table_page, page) !=
        DYNAPPS_EMU_MMU_OK) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    const uint32_t *table =
        (const uint32_t *)(uintptr_t)(DYNAPPS_EMU_FLASH_SCRATCH_VADDR + (DYNAPPS_PARTITION_TABLE_OFFSET - table_page));
    bool found = false;
    partition_entry_t entry;
    for (uint32_t at = 0; at + sizeof entry <= DYNAPPS_PARTITION_TABLE_MAX_SIZE; at += sizeof entry) {
        const uint32_t *words = table + at / 4;
        uint32_t word0 = words[0];
        if ((word0 & 0xFFFFu) != PARTITION_MAGIC) {
            break; /* 0xFFFF (erased) or the MD5 entry */
        }
        if (word0 == SLOT_ENTRY_WORD0 && (words[3] & mask[0]) == key[0] && /* label: bytes 12..27 */
            (words[4] & mask[1]) == key[1] && (words[5] & mask[2]) == key[2] &&
            (words[6] & mask[3]) == key[3]) {
            memcpy(&entry, words, sizeof entry);
            found = true;
            break;
        }
    }
    dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, DYNAPPS_EMU_FLASH_SCRATCH_VADDR, 0, 0);
    if (!found) {
        return DYNAPPS_ERR_NOT_FOUND;
    }
    uint32_t flash_size = dynapps_emu_flash_size();
    uint32_t view_end = flash_size < DYNAPPS_EMU_FLASH_DBUS_SIZE ? flash_size : DYNAPPS_EMU_FLASH_DBUS_SIZE;
    if (entry.offset < DYNAPPS_EMU_FLASH_DATA_VIEW_FROM || entry.offset >= view_end) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE; /* not in the data view of the flash */
    }
    slot->bytes = (const uint8_t *)(uintptr_t)(DYNAPPS_EMU_FLASH_DBUS_BASE + entry.offset);
    slot->size = entry.size <= view_end - entry.offset ? entry.size : view_end - entry.offset;
    slot->flash_offset = entry.offset;
    slot->id = entry.offset; /* one flash chip: the offset names the slot (never 0: >= 1 MiB) */
    slot->port_handle = NULL;
    memcpy(slot->label, entry.label, sizeof slot->label);
    slot->xip_vaddr = slot_xip_vaddr(entry.offset, slot->size);
    return DYNAPPS_OK;
}

void dynapps_port_release_slot(dynapps_slot_t *slot)
{
    (void)slot; /* the identity data view stays, for as long as the machine runs */
}

dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping)
{
    if (!slot || !mapping || size == 0) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (vaddr != slot->xip_vaddr || vaddr == 0) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE; /* only where the slot belongs (dynapps_port.h) */
    }
    if (dynapps_emu_mmu(DYNAPPS_EMU_MMU_MAP_EXEC, vaddr, slot->flash_offset, (uint32_t)size) !=
        DYNAPPS_EMU_MMU_OK) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    *mapping = (void *)vaddr;
    return DYNAPPS_OK;
}

void dynapps_port_unmap_xip(void *mapping)
{
    if (mapping &&
        dynapps_emu_mmu(DYNAPPS_EMU_MMU_UNMAP, (uintptr_t)mapping, 0, 0) != DYNAPPS_EMU_MMU_OK) {
        dynapps_emu_panic("dynapps_port_unmap_xip: no such mapping");
    }
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

/* ---------------------------------------------------------------- data arena, locking */

/* The XIP apps' data + bss: the linker script places this section at EmulatorProfile.data_arena.
 * The app build takes the same range from the chip profile (src/dynapps/firmware.py). */
uint8_t dynapps_data_arena[DYNAPPS_EMU_DATA_ARENA_SIZE]
    __attribute__((section(".dynapps_data_arena"), aligned(16), used));

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
