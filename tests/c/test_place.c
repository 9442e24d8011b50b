/*
 * Placement (src/dynapps_place.c): good IRAM and XIP loads, the fix-up loop's word path and
 * unaligned buffers, memory reserved before the hash, memory that is not there.
 */
#include "loader_tests.h"

/* esp32c3-like alias, loaded from a slot by name. */
void test_iram_load_from_slot_with_alias(void)
{
    iram_app_t a;
    iram_app(&a, 0x700000);
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("iram_app", image, (uint32_t)size + 256);

    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("iram_app", &app), DYNAPPS_OK);
    CHECK(app != NULL && host.slots_live == 0); /* slot released once loaded */
    CHECK(host.sha_calls == 1 && host.sha_bytes == size - DYNAPPS_IMAGE_HASH_SIZE); /* through the port */
    if (app != NULL) {
        check_iram_app(app, &a);
        unload_checked(app, host.exec_addr + 4);
    }
    free(image);
}

/* One address per byte (esp32c6/h2/p4), from a misaligned buffer freed right after loading:
 * the app must keep nothing pointing into it (ASan would catch a use after free). */
void test_iram_load_from_unaligned_buffer_no_alias(void)
{
    host.i_d_offset = 0;
    iram_app_t a;
    iram_app(&a, 0);
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    uint8_t *buffer = malloc(size + 1);
    memcpy(buffer + 1, image, size);

    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load_from_buffer(buffer + 1, size, &app), DYNAPPS_OK);
    free(buffer);
    if (app != NULL) {
        check_iram_app(app, &a);
        unload_checked(app, host.exec_addr + 4);
    }
    free(image);
}

/* A buffer image has no name: the same one can be loaded twice, into separate RAM. */
void test_iram_twice_from_buffer(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    dynapps_app_t *one = NULL, *two = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &one), DYNAPPS_OK);
    uintptr_t exec_one = host.exec_addr;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &two), DYNAPPS_OK);
    CHECK(one != two && host.exec_addr != exec_one);
    void *fn = NULL;
    CHECK_ERR(dynapps_find_export(one, "app_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(exec_one + 16));
    CHECK_ERR(dynapps_unload(one), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_export(two, "app_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(host.exec_addr + 16));
    CHECK_ERR(dynapps_unload(two), DYNAPPS_OK);
    CHECK(calls.init_calls == 2 && calls.deinit_calls == 2);
    CHECK_CLEAN();
    free(image);
}

/* No fix-ups, imports, exports, bss: nothing to call, nothing to bind. */
void test_iram_minimal(void)
{
    host.i_d_offset = 0;
    uint8_t code[4] = {1, 2, 3, 4};
    ib_spec_t s = {.strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 2, .exports_id = FW_ID, .exports_count = 3,
                   .code = code, .code_size = 4, .code_vaddr = 0, .data_vaddr = 4};
    size_t size;
    uint8_t *image = ib_build(&s, &size);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.ram_bytes == host.heap_bytes && memcmp(host.exec_view, code, 4) == 0);
    CHECK(calls.init_calls == 0);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK(calls.deinit_calls == 0);
    CHECK_CLEAN();
    free(image);

    s.code_size = 0; /* no code at all is a broken build */
    image = ib_build(&s, &size);
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_BAD_HEADER);
    free(image);
}

/* A PSRAM image is the IRAM layout placed with psram_alloc (one address: no alias), freed with
 * psram_free; a firmware without PSRAM, or whose PSRAM is not executable, refuses it with the
 * port's error and holds nothing. */
void test_psram_load(void)
{
    host.i_d_offset = 0x700000; /* the IRAM alias must not matter to a PSRAM image */
    uint8_t code[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ib_spec_t s = {.strategy = DYNAPPS_STRATEGY_PSRAM, .align_log2 = 2, .exports_id = FW_ID, .exports_count = 3,
                   .code = code, .code_size = 8, .code_vaddr = 0, .data_vaddr = 8};
    size_t size;
    uint8_t *image = ib_build(&s, &size);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    CHECK(host.psram_allocs == 1 && memcmp(host.exec_view, code, 8) == 0);
    CHECK(host.exec_addr == (uintptr_t)host.exec_view && host.sync_calls == 1);
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.strategy == DYNAPPS_STRATEGY_PSRAM && info.code_addr == host.exec_addr);
    CHECK(info.ram_bytes == host.heap_bytes);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK_CLEAN();

    host.psram_err = DYNAPPS_ERR_NO_PSRAM;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_PSRAM);
    host.psram_err = DYNAPPS_ERR_PSRAM_NOT_EXECUTABLE;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_PSRAM_NOT_EXECUTABLE);
    CHECK(host.psram_allocs == 1 && host.sha_calls == 1); /* refused before the hash */
    free(image);
}

/* ---- good XIP loads ----------------------------------------------------------------------- */

void test_xip_load(void)
{
    size_t size;
    uint32_t data_vaddr = arena_addr(ARENA_AT);
    uint8_t *image = xip_image(XIP_SLOT_VADDR, data_vaddr, &size);
    uint8_t *slot = copy_of(image, size, 4096); /* the partition is larger than the image */
    add_app_slot("xip_app", slot, (uint32_t)size + 4096);
    uint8_t *pristine = copy_of(slot, size + 4096, 0);
    host_port_allow_xip(XIP_SLOT_VADDR);

    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("xip_app", &app), DYNAPPS_OK);
    CHECK(host.xip_vaddr == XIP_SLOT_VADDR && host.xip_size == size);
    CHECK(host.xip_flash_offset == host.slots[0].flash_offset);
    CHECK(host.maps_live == 1 && host.slots_live == 0);
    const uint8_t *d = host.arena + ARENA_AT;
    CHECK(ib_get32(d) == 0x10101010u && ib_get32(d + 4) == 0x20202020u);
    CHECK(ib_get32(d + 8) == addr32((const void *)fw_puts));
    CHECK(ib_get32(d + 12) == addr32((const void *)fw_unused));
    CHECK(all_bytes(d + XIP_DATA_SIZE, XIP_BSS_SIZE, 0));
    CHECK(host.arena[ARENA_AT - 1] == 0xA5 && host.arena[ARENA_AT + XIP_RAM] == 0xA5);
    CHECK(memcmp(slot, pristine, size + 4096) == 0); /* text and rodata never written */
    CHECK(host.sync_calls == 0 && host.heap_blocks == 1); /* bookkeeping only */

    uint32_t code_vaddr = XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE;
    CHECK(calls.init_calls == 1 && calls.init_addr == code_vaddr);
    void *fn = NULL;
    CHECK_ERR(dynapps_find_export(app, "xip_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(uintptr_t)(code_vaddr + 8));
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.strategy == DYNAPPS_STRATEGY_XIP);
    CHECK(info.code_addr == code_vaddr && info.data_addr == data_vaddr);
    CHECK(info.code_size == XIP_CODE_SIZE && info.data_size == XIP_DATA_SIZE);
    CHECK(info.bss_size == XIP_BSS_SIZE && info.fixup_count == 0);
    CHECK(info.import_count == 2 && info.export_count == 3);
    CHECK(info.ram_bytes == XIP_RAM + host.heap_bytes);

    unload_checked(app, code_vaddr + 4);
    CHECK(memcmp(slot, pristine, size + 4096) == 0);
    free(pristine);
    free(slot);
    free(image);
}

/* Two XIP apps side by side in the arena; a third overlapping the first is refused. */
void test_xip_arena_overlap(void)
{
    size_t sa, sb, sc, sd;
    uint8_t *a = xip_image(XIP_SLOT_VADDR, arena_addr(0x100), &sa);
    uint8_t *b = xip_image(0x42020000u, arena_addr(0x100 + XIP_RAM), &sb); /* adjacent */
    uint8_t *c = xip_image(0x42030000u, arena_addr(0x100 + XIP_RAM - 4), &sc); /* overlaps */
    uint8_t *d = xip_image(0x42040000u, arena_addr(0x100 - XIP_RAM), &sd);      /* just below */
    add_app_slot("a", a, (uint32_t)sa);
    add_app_slot("b", b, (uint32_t)sb);
    add_app_slot("c", c, (uint32_t)sc);
    add_app_slot("d", d, (uint32_t)sd);
    host_port_allow_xip(XIP_SLOT_VADDR);
    host_port_allow_xip(0x42040000u);
    host_port_allow_xip(0x42020000u);
    host_port_allow_xip(0x42030000u);

    dynapps_app_t *app_a = NULL, *app_b = NULL, *app_c = NULL, *app_d = NULL;
    CHECK_ERR(dynapps_load("a", &app_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("b", &app_b), DYNAPPS_OK);
    size_t heap = host.heap_bytes;
    CHECK_ERR(dynapps_load("c", &app_c), DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
    CHECK(app_c == NULL && host.heap_bytes == heap && host.maps_live == 2 && host.slots_live == 0);
    CHECK_ERR(dynapps_load("d", &app_d), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(app_d), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(app_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("c", &app_c), DYNAPPS_ERR_ADDRESS_UNAVAILABLE); /* still overlaps b */
    CHECK_ERR(dynapps_unload(app_b), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("c", &app_c), DYNAPPS_OK); /* free now */
    CHECK_ERR(dynapps_unload(app_c), DYNAPPS_OK);
    CHECK_CLEAN();
    free(a);
    free(b);
    free(c);
    free(d);
}

/* Data outside the arena (below, straddling the end, far away) is refused before mapping. */
void test_xip_outside_arena(void)
{
    const uint32_t places[] = {arena_addr(0) - 4, arena_addr((uint32_t)host.arena_size - 8),
                               0x10000000u};
    host_port_allow_xip(XIP_SLOT_VADDR);
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        size_t size;
        uint8_t *image = xip_image(XIP_SLOT_VADDR, places[i], &size);
        host.slot_count = 0;
        add_app_slot("x", image, (uint32_t)size);
        host.xip_vaddr = 0;
        host.arena_refusals = 0;
        EXPECT_SLOT("x", DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
        CHECK(host.xip_vaddr == 0 && host.sha_calls == 0); /* refused before hashing or mapping */
        /* the port is told both ranges, for its message */
        CHECK(host.arena_refusals == 1 && host.refused_base == places[i] && host.refused_size == XIP_RAM);
        CHECK(host.refused_arena == (uintptr_t)host.arena && host.refused_arena_size == host.arena_size);
        free(image);
    }
    /* the last bytes of the arena are fine */
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr((uint32_t)host.arena_size - XIP_RAM), &size);
    host.slot_count = 0;
    add_app_slot("x", image, (uint32_t)size);
    EXPECT_SLOT("x", DYNAPPS_OK);
    free(image);
}

/* The port can't map the slot where the image was linked. */
void test_xip_window_unavailable(void)
{
    size_t size;
    uint8_t *image = xip_image(0x42050000u, arena_addr(ARENA_AT), &size);
    add_app_slot("x", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("x", DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
    CHECK(host.xip_vaddr == 0x42050000u);
    CHECK(calls.init_calls == 0);
    free(image);
}

void test_xip_from_buffer_unsupported(void)
{
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_STRATEGY_UNSUPPORTED);
    free(image);
}

void test_out_of_memory(void)
{
    size_t si, sx;
    uint8_t *iram = iram_image(&si);
    uint8_t *xip = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &sx);
    add_app_slot("iram", iram, (uint32_t)si);
    add_app_slot("xip", xip, (uint32_t)sx);
    host_port_allow_xip(XIP_SLOT_VADDR);
    CHECK(oom_sweep("iram") == 2); /* bookkeeping, exec RAM */
    CHECK(oom_sweep("xip") == 1);  /* bookkeeping */
    CHECK(calls.init_calls == 2 && calls.deinit_calls == 2);
    free(iram);
    free(xip);
}

void test_exec_ram_unavailable(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    host.exec_err = DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE);
    CHECK(calls.init_calls == 0);
    free(image);
}

/* Every fix-up count from 0 to 9 (the fast loop is unrolled by 4), from buffers at offsets 0..3:
 * each marked word gets the bias, every other word keeps its value. */
void test_fixups_word_path_and_unaligned_buffers(void)
{
    for (int alias = 0; alias < 2; alias++) {
        host.i_d_offset = alias ? 0x700000 : 0;
        for (uint32_t count = 0; count <= 9; count++) {
            fast_app_t a;
            fast_app(&a, count);
            size_t size;
            uint8_t *image = ib_build(&a.spec, &size);
            for (size_t misalign = 0; misalign < 4; misalign++) {
                uint8_t *block;
                uint8_t *buffer = at_offset(image, size, misalign, &block);
                dynapps_app_t *app = NULL;
                CHECK_ERR(dynapps_load_from_buffer(buffer, size, &app), DYNAPPS_OK);
                free(block); /* nothing of the app points into the buffer */
                if (app == NULL) {
                    continue;
                }
                const uint8_t *v = host.exec_view;
                uint32_t bias = (uint32_t)(host.exec_addr - host.i_d_offset);
                for (uint32_t w = 0; w < (FAST_CODE + FAST_DATA) / 4; w++) {
                    uint32_t original = ib_get32((w < FAST_CODE / 4 ? a.code : a.data - FAST_CODE) + 4 * w);
                    int fixed = 0;
                    for (uint32_t f = 0; f < count; f++) {
                        fixed |= a.fixups[f] == 4 * w;
                    }
                    if (w >= (FAST_CODE + 48) / 4 && w < (FAST_CODE + 60) / 4) {
                        continue; /* the import slots */
                    }
                    CHECK(ib_get32(v + 4 * w) == original + (fixed ? bias : 0));
                }
                CHECK(ib_get32(v + FAST_CODE + 48) == addr32((const void *)fw_unused));
                CHECK(ib_get32(v + FAST_CODE + 52) == addr32((const void *)fw_puts));
                CHECK(ib_get32(v + FAST_CODE + 56) == addr32((const void *)fw_add));
                CHECK(all_bytes(v + FAST_CODE + FAST_DATA, FAST_BSS, 0));
                void *fn = NULL;
                CHECK_ERR(dynapps_find_export(app, "fast_run", &fn), DYNAPPS_OK);
                CHECK(fn == (void *)(host.exec_addr + 8));
                dynapps_app_info_t info;
                CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
                CHECK(info.ram_bytes == host.heap_bytes && info.fixup_count == count);
                CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
                CHECK_CLEAN();
            }
            free(image);
        }
    }
}

#define FAST_FIXUP_EXPECT(which, offset, want) fast_fixup_expect_at((which), (offset), (want), __FILE__, __LINE__)

void test_fixup_bounds_word_path(void)
{
    for (uint32_t which = 0; which < 9; which += 4) { /* first, in the middle, last */
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* past data */
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA + 4, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* bss */
        FAST_FIXUP_EXPECT(which, 6, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);      /* misaligned */
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA - 2, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
        FAST_FIXUP_EXPECT(which, 0xFFFFFFFCu, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
        FAST_FIXUP_EXPECT(which, 0, DYNAPPS_OK);
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA - 4, DYNAPPS_OK); /* last data word */
    }
    CHECK(calls.init_calls == 0); /* the fast image has no init; nothing ran either way */
}

/* A load that can't get its memory fails before the image is hashed (a 256 KB image hashed in
 * software would cost millions of instructions first), and gives everything back. */
void test_no_memory_before_hashing(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    host.exec_limit = IRAM_RAM - 1; /* the executable RAM won't fit */
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_MEM);
    CHECK(host.sha_calls == 0 && calls.init_calls == 0);
    host.exec_limit = 0;
    host.exec_err = DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE);
    CHECK(host.sha_calls == 0);
    host.exec_err = DYNAPPS_OK;
    host.fail_alloc_at = 0; /* the record */
    host.alloc_calls = 0;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_MEM);
    CHECK(host.sha_calls == 0);
    host.fail_alloc_at = -1;
    EXPECT_BUFFER(image, size, DYNAPPS_OK);
    CHECK(host.sha_calls == 1 && host.sha_bytes == size - DYNAPPS_IMAGE_HASH_SIZE);
    /* a corrupted image that can't fit says NO_MEM: memory is the first thing it needs */
    image[size - 1] ^= 1;
    host.exec_limit = 16;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_MEM);
    CHECK(host.sha_calls == 1);
    host.exec_limit = 0;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_HASH_MISMATCH);
    CHECK(host.sha_calls == 2);
    free(image);
}
