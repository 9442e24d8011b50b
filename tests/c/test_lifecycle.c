/*
 * Lifecycle (src/dynapps_core.c): the API's arguments, init, wrapper calls, the table of loaded
 * apps and its one small record per app, error names.
 */
#include "loader_tests.h"

/* ---- error names -------------------------------------------------------------------------- */

void test_err_names(void)
{
#define NAME_CHECK(name) CHECK(strcmp(dynapps_err_name(name), #name) == 0);
    DYNAPPS_ERRORS(NAME_CHECK)
#undef NAME_CHECK
    CHECK(strcmp(dynapps_err_name(DYNAPPS_ERR_COUNT), "DYNAPPS_ERR_UNKNOWN") == 0);
    CHECK(strcmp(dynapps_err_name((dynapps_err_t)-1), "DYNAPPS_ERR_UNKNOWN") == 0);
    CHECK(strcmp(dynapps_err_name((dynapps_err_t)1000), "DYNAPPS_ERR_UNKNOWN") == 0);
}

/* ---- API misuse --------------------------------------------------------------------------- */

void test_already_loaded_and_not_found(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    add_app_slot("iram_app", image, (uint32_t)size);
    dynapps_app_t *app = NULL, *again = (dynapps_app_t *)(uintptr_t)1;
    CHECK_ERR(dynapps_load("iram_app", &app), DYNAPPS_OK);
    size_t heap = host.heap_bytes;
    CHECK_ERR(dynapps_load("iram_app", &again), DYNAPPS_ERR_ALREADY_LOADED);
    CHECK(again == NULL && host.heap_bytes == heap && host.slots_live == 0);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    EXPECT_SLOT("iram_app", DYNAPPS_OK); /* loadable again once unloaded */
    EXPECT_SLOT("no_such_app", DYNAPPS_ERR_NOT_FOUND);
    free(image);
}

void test_invalid_arguments(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    dynapps_app_t *app = NULL;
    void *fn = NULL;
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_load(NULL, &app), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_load("x", NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_load_from_buffer(NULL, size, &app), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_load_from_buffer(image, size, NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_find_export(NULL, "app_run", &fn), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_get_info(NULL, &info), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_unload(NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_CLEAN();

    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_export(app, NULL, &fn), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_find_export(app, "app_run", NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_get_info(app, NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    /* a stale handle is refused without being touched (it is freed memory now) */
    CHECK_ERR(dynapps_unload(app), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_find_export(app, "app_run", &fn), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(calls.deinit_calls == 1);
    CHECK_CLEAN();
    free(image);
}

void test_init_failed(void)
{
    size_t si, sx;
    uint8_t *iram = iram_image(&si);
    uint8_t *xip = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &sx);
    add_app_slot("xip", xip, (uint32_t)sx);
    host_port_allow_xip(XIP_SLOT_VADDR);
    calls.init_result = -5;
    EXPECT_BUFFER(iram, si, DYNAPPS_ERR_INIT_FAILED);
    EXPECT_SLOT("xip", DYNAPPS_ERR_INIT_FAILED);
    CHECK(calls.init_calls == 2 && calls.deinit_calls == 0); /* no deinit after a failed init */
    calls.init_result = 0;
    EXPECT_SLOT("xip", DYNAPPS_OK); /* a failed app is not left in the loaded list */
    free(iram);
    free(xip);
}

/* The generated wrappers' entry points: lazy load, call counting, unload refused during a call. */
void test_wrapper_calls(void)
{
    iram_app_t a;
    iram_app(&a, 0x700000);
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("iram_app", image, (uint32_t)size);
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_ERR_NOT_LOADED);
    CHECK_ERR(dynapps_call_begin("missing", &handle, 2, &fn), DYNAPPS_ERR_NOT_FOUND);
    CHECK(handle == NULL && host.heap_bytes == 0);
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 2, &fn), DYNAPPS_OK); /* loads on first call */
    CHECK(handle != NULL && fn == (void *)(host.exec_addr + 16));
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_ERR_BUSY);
    CHECK_ERR(dynapps_unload(handle), DYNAPPS_ERR_BUSY);
    CHECK(handle != NULL && calls.deinit_calls == 0);
    dynapps_call_end(handle);
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 0, &fn), DYNAPPS_ERR_NOT_FOUND); /* init: not callable */
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 3, &fn), DYNAPPS_ERR_NOT_FOUND); /* past the end */
    CHECK_ERR(dynapps_load_handle("iram_app", &handle), DYNAPPS_ERR_ALREADY_LOADED);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK(handle == NULL && calls.deinit_calls == 1);
    CHECK_CLEAN();
    CHECK_ERR(dynapps_load_handle("iram_app", &handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    free(image);
}

/* The record is the app's only heap block: an XIP app's exports stay in its slot, an IRAM app's
 * are in its executable allocation. On rv32 the record is 56 bytes (the _Static_assert in
 * dynapps_core.c; test_loader_host.py reads its size from the rv32 DWARF). Here pointers are 8
 * bytes, so the host record is larger, but never more than its 7 pointers and 8 counters. */
void test_bookkeeping_is_one_small_record(void)
{
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    add_app_slot("x", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("x", &app), DYNAPPS_OK);
    CHECK(host.heap_blocks == 1 && host.heap_bytes <= 7 * sizeof(void *) + 8 * sizeof(uint32_t));
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.ram_bytes == XIP_RAM + host.heap_bytes);
    /* names and flags are read from the slot: every export by name, the callable one by index */
    static const char *const names[] = {"xip_init", "xip_deinit", "xip_run"};
    for (uint32_t i = 0; i < 3; i++) {
        void *fn = NULL;
        CHECK_ERR(dynapps_find_export(app, names[i], &fn), DYNAPPS_OK);
        CHECK(fn == (void *)(uintptr_t)(XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE + 4 * i));
    }
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    CHECK_ERR(dynapps_call_begin("x", &handle, 2, &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(uintptr_t)(XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE + 8));
    CHECK_ERR(dynapps_call_begin("x", &handle, 1, &fn), DYNAPPS_ERR_NOT_FOUND); /* deinit */
    dynapps_call_end(handle);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK_CLEAN();
    free(image);

    size_t si;
    uint8_t *iram = iram_image(&si);
    CHECK_ERR(dynapps_load_from_buffer(iram, si, &app), DYNAPPS_OK);
    CHECK(host.heap_blocks == 2); /* the record and the executable RAM */
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    /* executable RAM: code, padding, data, bss, then the identity (name, version and where the
     * constructor and destructor arrays are: 40 bytes), 3 export records and their 29 name bytes */
    size_t exec = ((IRAM_RAM + 3u) & ~3u) + 40 + 3 * 12 + sizeof "app_init" + sizeof "app_deinit" + sizeof "app_run";
    CHECK(info.ram_bytes == host.heap_bytes && host.heap_bytes - exec <= 8 * sizeof(void *) + 8 * sizeof(uint32_t));
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK_CLEAN();
    free(iram);
}

/* An app is identified by its slot (dynapps_slot_t.id), not by the name it was asked for. */
void test_already_loaded_by_slot_id(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    uint8_t *other = copy_of(image, size, 0);
    add_app_slot("one", image, (uint32_t)size);
    add_app_slot("two", other, (uint32_t)size); /* the same app built for another slot */
    dynapps_app_t *one = NULL, *two = NULL, *again = (dynapps_app_t *)(uintptr_t)1;
    CHECK_ERR(dynapps_load("one", &one), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("two", &two), DYNAPPS_OK);
    long hashed = host.sha_calls;
    CHECK_ERR(dynapps_load("two", &again), DYNAPPS_ERR_ALREADY_LOADED);
    CHECK(again == NULL && host.sha_calls == hashed && host.slots_live == 0);
    CHECK_ERR(dynapps_unload(one), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("one", &one), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(one), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(two), DYNAPPS_OK);
    CHECK_CLEAN();
    free(other);
    free(image);
}

/* The wrappers' call counter is 16 bits: the 65536th concurrent call is refused, not wrapped. */
void test_call_counter_saturates(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    add_app_slot("iram_app", image, (uint32_t)size);
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    for (long i = 0; i < 65535; i++) {
        if (dynapps_call_begin("iram_app", &handle, 2, &fn) != DYNAPPS_OK) {
            CHECK(!"call_begin failed early");
            break;
        }
    }
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 2, &fn), DYNAPPS_ERR_BUSY);
    for (long i = 0; i < 65535; i++) {
        dynapps_call_end(handle);
    }
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK_CLEAN();
    free(image);
}
