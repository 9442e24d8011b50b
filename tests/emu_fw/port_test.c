/*
 * Emulator firmware that exercises the emulator port on its own (no loader core):
 * heap, executable RAM, partition-table lookup, XIP mapping, data arena, counters.
 * tests/test_emu_firmware.py builds it with emulator.build_spec() and a flash image holding
 * a partition table, and checks the "ok"/"FAIL" lines and the exit code (= failures).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dynapps_emu.h"
#include "dynapps_port.h"

static int failures;
static int passes;

/* Failures print a line each; passes are only counted. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passes++;                                                                              \
        } else {                                                                                   \
            failures++;                                                                            \
            printf("FAIL line %d: %s: ", __LINE__, #cond);                                         \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

#define RV_LI_A0(value) (0x00000513u | ((uint32_t)(value) << 20)) /* addi a0, zero, value */
#define RV_RET 0x00008067u                                        /* jalr zero, 0(ra) */

typedef int (*int_fn)(void);

static void test_heap(void)
{
    size_t total = dynapps_emu_heap_total();
    CHECK(dynapps_emu_heap_free() == total, "free %u total %u", (unsigned)dynapps_emu_heap_free(),
          (unsigned)total);
    printf("heap total %u\n", (unsigned)total);

    enum { N = 24 };
    uint8_t *blocks[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(1 + (i * 37) % 300);
        blocks[i] = dynapps_port_malloc(sizes[i]);
        CHECK(blocks[i] != NULL && ((uintptr_t)blocks[i] & 7) == 0, "block %d at %p", i, blocks[i]);
        memset(blocks[i], i, sizes[i]);
    }
    CHECK(dynapps_emu_heap_free() < total, "free %u", (unsigned)dynapps_emu_heap_free());
    /* free every third, then the rest in reverse: exercises merging on both sides */
    for (int i = 0; i < N; i += 3) {
        dynapps_port_free(blocks[i]);
        blocks[i] = NULL;
    }
    CHECK(dynapps_emu_heap_check() == 0, "check %d", dynapps_emu_heap_check());
    int intact = 1;
    for (int i = 0; i < N; i++) {
        for (size_t j = 0; blocks[i] && j < sizes[i]; j++) {
            intact &= blocks[i][j] == (uint8_t)i;
        }
    }
    CHECK(intact, "a live block was overwritten");
    for (int i = N - 1; i >= 0; i--) {
        dynapps_port_free(blocks[i]);
    }
    CHECK(dynapps_emu_heap_check() == 0, "check %d", dynapps_emu_heap_check());
    CHECK(dynapps_emu_heap_free() == total, "free %u total %u", (unsigned)dynapps_emu_heap_free(),
          (unsigned)total);

    CHECK(dynapps_port_malloc(total + 1) == NULL, "oversized malloc succeeded");
    /* fill the heap with 1 KiB blocks, then return everything */
    static void *all[1024];
    int count = 0;
    while (count < 1024 && (all[count] = dynapps_port_malloc(1024)) != NULL) {
        count++;
    }
    CHECK(count > 0 && count < 1024, "filled with %d blocks", count);
    CHECK(dynapps_emu_heap_free() < 1024 + 16, "left %u", (unsigned)dynapps_emu_heap_free());
    for (int i = 0; i < count; i += 2) {
        dynapps_port_free(all[i]);
    }
    for (int i = 1; i < count; i += 2) {
        dynapps_port_free(all[i]);
    }
    CHECK(dynapps_emu_heap_free() == total, "free %u total %u", (unsigned)dynapps_emu_heap_free(),
          (unsigned)total);
    CHECK(dynapps_emu_heap_check() == 0, "check %d", dynapps_emu_heap_check());
}

static void test_exec(void)
{
    size_t total = dynapps_emu_heap_total();
    static const size_t aligns[] = {4, 16, 64, 256, 4096};
    for (unsigned i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        uintptr_t exec = 0;
        uint8_t *data = NULL;
        void *spacer = dynapps_port_malloc(8 + i * 12); /* shift the next free address */
        dynapps_err_t err = dynapps_port_exec_alloc(100 + i, aligns[i], &exec, &data);
        CHECK(err == DYNAPPS_OK && exec % aligns[i] == 0 && exec == (uintptr_t)data + DYNAPPS_EMU_I_D_OFFSET,
              "align %u: err %d exec %08lx data %p", (unsigned)aligns[i], err, (unsigned long)exec, data);
        dynapps_port_exec_free(data);
        dynapps_port_free(spacer);
    }
    CHECK(dynapps_emu_heap_free() == total, "free %u", (unsigned)dynapps_emu_heap_free());
    uintptr_t exec;
    uint8_t *data;
    CHECK(dynapps_port_exec_alloc(total * 2, 4, &exec, &data) == DYNAPPS_ERR_NO_MEM, "huge exec_alloc");

    /* run code written through the data view; then reuse the same memory for other code */
    for (int round = 0; round < 3; round++) {
        CHECK(dynapps_port_exec_alloc(8, 16, &exec, &data) == DYNAPPS_OK, "exec_alloc");
        uint32_t code[2] = {RV_LI_A0(40 + round), RV_RET};
        memcpy(data, code, sizeof code); /* byte writes: fine through the data view */
        dynapps_port_sync_code(data, exec, sizeof code);
        int got = ((int_fn)exec)();
        CHECK(got == 40 + round, "round %d: called %08lx, got %d", round, (unsigned long)exec, got);
        printf("exec %08lx data %p\n", (unsigned long)exec, data);
        dynapps_port_exec_free(data);
    }
    CHECK(dynapps_emu_heap_free() == total, "free %u", (unsigned)dynapps_emu_heap_free());
}

static void test_slots(void)
{
    dynapps_slot_t slot;
    dynapps_err_t err = dynapps_port_find_slot("alpha", &slot);
    CHECK(err == DYNAPPS_OK, "find alpha: %d", err);
    if (err == DYNAPPS_OK) {
        printf("slot alpha offset %08lx size %08lx bytes %p\n", (unsigned long)slot.flash_offset,
               (unsigned long)slot.size, slot.bytes);
        CHECK(slot.bytes == (const uint8_t *)(uintptr_t)(DYNAPPS_EMU_FLASH_DBUS_BASE + slot.flash_offset),
              "bytes %p", slot.bytes);
        CHECK(memcmp(slot.bytes + 8, "alpha-slot", 10) == 0, "content %.10s", slot.bytes + 8);

        uintptr_t vaddr = DYNAPPS_EMU_FLASH_IBUS_BASE + slot.flash_offset;
        CHECK(slot.xip_vaddr == vaddr, "xip_vaddr %08lx", (unsigned long)slot.xip_vaddr);
        CHECK(memcmp(slot.label, "alpha\0\0\0\0\0\0\0\0\0\0\0", 16) == 0, "label %.16s", slot.label);
        void *mapping = NULL;
        /* another page-aligned window, free and inside the bus: still not where this slot is */
        CHECK(dynapps_port_map_xip(&slot, vaddr + DYNAPPS_EMU_MMU_PAGE_SIZE, 64, &mapping) ==
                  DYNAPPS_ERR_ADDRESS_UNAVAILABLE, "mapped one page off the slot's window");
        err = dynapps_port_map_xip(&slot, vaddr, 64, &mapping);
        CHECK(err == DYNAPPS_OK && mapping == (void *)vaddr, "map_xip %d", err);
        if (err == DYNAPPS_OK) {
            int got = ((int_fn)vaddr)();
            CHECK(got == 7, "XIP call got %d", got);
            /* the apps window holds the slot: a second XIP mapping shares it (the core refuses a
             * second load of a loaded slot by its id, DYNAPPS_ERR_ALREADY_LOADED) */
            void *again = NULL;
            CHECK(dynapps_port_map_xip(&slot, vaddr, 64, &again) == DYNAPPS_OK && again == mapping,
                  "second mapping of the slot refused");
            dynapps_port_unmap_xip(again);
            dynapps_port_unmap_xip(mapping);
            err = dynapps_port_map_xip(&slot, vaddr, 64, &mapping); /* free again after unmap */
            CHECK(err == DYNAPPS_OK, "remap %d", err);
            if (err == DYNAPPS_OK) {
                dynapps_port_unmap_xip(mapping);
            }
        }
        CHECK(dynapps_port_map_xip(&slot, vaddr + 0x100, 64, &mapping) == DYNAPPS_ERR_ADDRESS_UNAVAILABLE,
              "misaligned mapping accepted");
        dynapps_port_release_slot(&slot);
    }
    err = dynapps_port_find_slot("exactly16chars__", &slot);
    CHECK(err == DYNAPPS_OK && memcmp(slot.bytes + 8, "sixteen", 7) == 0, "16-char label: %d", err);
    CHECK(memcmp(slot.label, "exactly16chars__", 16) == 0, "label %.16s", slot.label);
    CHECK(dynapps_port_find_slot("exactly16chars_", &slot) == DYNAPPS_ERR_NOT_FOUND, "prefix matched");
    CHECK(dynapps_port_find_slot("missing", &slot) == DYNAPPS_ERR_NOT_FOUND, "missing found");
    CHECK(dynapps_port_find_slot("nvs", &slot) == DYNAPPS_ERR_NOT_FOUND, "nvs is no app slot");
    CHECK(dynapps_port_find_slot("after_md5", &slot) == DYNAPPS_ERR_NOT_FOUND, "read past the MD5 entry");
}

static void test_arena(void)
{
    uintptr_t base;
    size_t size;
    dynapps_port_data_arena(&base, &size);
    printf("arena %08lx %08lx\n", (unsigned long)base, (unsigned long)size);
    CHECK(size == DYNAPPS_EMU_DATA_ARENA_SIZE, "size %u", (unsigned)size);
    volatile uint8_t *arena = (volatile uint8_t *)base;
    arena[0] = 1;
    arena[size - 1] = 2;
    CHECK(arena[0] == 1 && arena[size - 1] == 2, "arena not writable");
}

static void test_counter(void)
{
    uint64_t before = dynapps_emu_instructions();
    dynapps_emu_mark(1);
    volatile int sink = 0;
    for (int i = 0; i < 1000; i++) {
        sink += i;
    }
    dynapps_emu_mark(2);
    uint64_t after = dynapps_emu_instructions();
    printf("counter %lu %lu\n", (unsigned long)before, (unsigned long)after);
}

int main(void)
{
    CHECK(DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_ID) == DYNAPPS_EMU_ID, "control block id");
    test_heap();
    test_exec();
    test_slots();
    test_arena();
    test_counter();
    printf("checks %d failures %d\n", passes + failures, failures);
    return failures;
}
