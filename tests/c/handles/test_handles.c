/*
 * Handles and the loader lock (docs/loader-api.md, "Handles" and "Locking"), run by
 * tests/test_loader_handles.py under ASan/UBSan with a real, non-recursive mutex in the port.
 *
 * A handle that was unloaded must be refused without touching the freed record (use after
 * free, double free), even when a later load got the same record address (ABA); an unmatched
 * call_end must not wrap the call counter; init and deinit run without the lock, so they may
 * call the loader, while their own app stays invisible to everyone else.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dynapps.h"
#include "dynapps_internal.h"
#include "host_port.h"
#include "tiny_app.h"

/* ---- call hooks: the app's init and deinit ------------------------------------------------ */

static struct {
    int init_calls, deinit_calls, init_result;
    uint8_t last_init, last_deinit;   /* tags of the apps */
    void (*on_init)(uint8_t tag);     /* what the app's init does besides returning init_result */
    void (*on_deinit)(uint8_t tag);
} app;

int dynapps_call_init(uintptr_t address)
{
    CHECK(!host_port_lock_held()); /* documented: init runs without the loader lock */
    app.init_calls++;
    app.last_init = tiny_tag(address);
    if (app.on_init != NULL) {
        app.on_init(app.last_init);
    }
    return app.init_result;
}

void dynapps_call_deinit(uintptr_t address)
{
    CHECK(!host_port_lock_held());
    app.deinit_calls++;
    app.last_deinit = tiny_tag(address);
    if (app.on_deinit != NULL) {
        app.on_deinit(app.last_deinit);
    }
}

/* ---- the slots ---------------------------------------------------------------------------- */

static uint8_t *image_a, *image_b;

/* Slots "a" and "b" hold two tiny apps, tagged 'a' and 'b'. */
static void add_slots(void)
{
    size_t size_a, size_b;
    free(image_a);
    free(image_b);
    image_a = tiny_image("a", 'a', &size_a);
    image_b = tiny_image("b", 'b', &size_b);
    host_port_add_slot("a", image_a, (uint32_t)size_a);
    host_port_add_slot("b", image_b, (uint32_t)size_b);
}

/* ---- stale handles ------------------------------------------------------------------------ */

/* A wrapper's handle unloaded behind its back (dynapps_unload(<app>_handle())): the next call
 * through it is refused and forgets the handle, and the call after that loads the app again. */
static void test_call_through_unloaded_handle(void)
{
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    CHECK_ERR(dynapps_call_begin("a", &handle, TINY_RUN, &fn), DYNAPPS_OK);
    CHECK_ERR(dynapps_call_end(handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(handle), DYNAPPS_OK);
    fn = (void *)&fn;
    CHECK_ERR(dynapps_call_begin("a", &handle, TINY_RUN, &fn), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(handle == NULL && fn == NULL);
    CHECK_ERR(dynapps_call_begin("a", &handle, TINY_RUN, &fn), DYNAPPS_OK);
    CHECK(fn != NULL && tiny_tag((uintptr_t)fn) == 'a');
    CHECK_ERR(dynapps_call_end(handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK(app.init_calls == 2 && app.deinit_calls == 2);
}

/* <app>_unload() after the app was unloaded through the generic API: refused, not freed twice. */
static void test_unload_handle_after_unload(void)
{
    dynapps_app_t *handle = NULL;
    CHECK_ERR(dynapps_load_handle("a", &handle), DYNAPPS_OK);
    dynapps_app_t *copy = handle;
    CHECK_ERR(dynapps_unload(copy), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(handle == NULL && app.deinit_calls == 1);
    CHECK_ERR(dynapps_unload(copy), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_ERR_NOT_LOADED);
}

/* The record of an unloaded app comes back at once for the next load (host.reuse_freed, as a
 * real heap may do it): the old handle must not reach the new app. */
static void test_stale_handle_of_reused_record(void)
{
    host.reuse_freed = 1;
    dynapps_app_t *old = NULL, *fresh = NULL;
    CHECK_ERR(dynapps_load("a", &old), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(old), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("b", &fresh), DYNAPPS_OK);
    CHECK(host.reused_blocks == 1); /* b's record is where a's was */
    dynapps_app_info_t info;
    void *fn = NULL;
    CHECK_ERR(dynapps_get_info(old, &info), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_find_export(old, "tiny_run", &fn), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_unload(old), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(app.deinit_calls == 1 && app.last_deinit == 'a'); /* b is still loaded */
    CHECK_ERR(dynapps_get_info(fresh, &info), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(fresh), DYNAPPS_OK);
    CHECK(app.deinit_calls == 2 && app.last_deinit == 'b');

    /* the same through a wrapper: its call must not run b's code */
    dynapps_app_t *wrapper_a = NULL;
    CHECK_ERR(dynapps_load_handle("a", &wrapper_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(wrapper_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("b", &fresh), DYNAPPS_OK);
    CHECK(host.reused_blocks == 3); /* b got the record a had */
    CHECK_ERR(dynapps_call_begin("a", &wrapper_a, TINY_RUN, &fn), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(fn == NULL && wrapper_a == NULL);
    CHECK_ERR(dynapps_unload(fresh), DYNAPPS_OK);
}

/* call_end without a call running: refused, the counter stays 0 and unload is not BUSY; a
 * stale handle's call_end touches nothing. */
static void test_unmatched_call_end(void)
{
    dynapps_app_t *handle = NULL;
    CHECK_ERR(dynapps_load_handle("a", &handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_call_end(handle), DYNAPPS_ERR_NO_CALL);
    dynapps_app_t *copy = handle;
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_call_end(copy), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_call_end(NULL), DYNAPPS_ERR_INVALID_ARG);
}

/* A call by export name (the live agent's) is counted like a wrapper's: unload is BUSY while it
 * runs; an unknown name or an unloaded app is refused and counts nothing. */
static void test_call_by_export_name(void)
{
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    CHECK_ERR(dynapps_load_handle("a", &handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_call_begin_export(handle, "no_such_export", &fn), DYNAPPS_ERR_NOT_FOUND);
    CHECK(fn == NULL);
    CHECK_ERR(dynapps_call_begin_export(handle, "tiny_run", &fn), DYNAPPS_OK);
    CHECK(fn != NULL && tiny_tag((uintptr_t)fn) == 'a');
    CHECK_ERR(dynapps_unload(handle), DYNAPPS_ERR_BUSY);
    CHECK_ERR(dynapps_call_end(handle), DYNAPPS_OK);
    dynapps_app_t *copy = handle;
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_call_begin_export(copy, "tiny_run", &fn), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(fn == NULL);
}

/* Handles that were never given out: an index past the table, an empty entry, the right index
 * with another sequence number. All refused, none read as a record. */
static void test_made_up_handles(void)
{
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("a", &app), DYNAPPS_OK);
    uintptr_t real = (uintptr_t)app;
    const uintptr_t made_up[] = {
        (real & ~(uintptr_t)0xFF) | DYNAPPS_MAX_LOADED_APPS, /* index past the table */
        real + 1,                                             /* an empty entry */
        real + 0x100,                                         /* the next sequence number */
        real | ((uintptr_t)1 << 40),                          /* more than 32 bits (64-bit hosts) */
    };
    dynapps_app_info_t info;
    for (size_t i = 0; i < sizeof made_up / sizeof made_up[0]; i++) {
        dynapps_app_t *handle = (dynapps_app_t *)made_up[i];
        CHECK_ERR(dynapps_get_info(handle, &info), DYNAPPS_ERR_STALE_HANDLE);
        CHECK_ERR(dynapps_unload(handle), DYNAPPS_ERR_STALE_HANDLE);
        CHECK_ERR(dynapps_call_end(handle), DYNAPPS_ERR_STALE_HANDLE);
    }
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
}

/* ---- init and deinit run without the lock ------------------------------------------------- */

static dynapps_app_t *wrapper_a, *wrapper_b; /* the handles of two generated wrappers */
static dynapps_err_t seen[8];                /* what the app's init / deinit got from the loader */

/* a's init calls b through b's wrapper (lazy load: b's init runs inside a's) and tries to load
 * itself; a's deinit unloads b. */
static void init_calls_loader(uint8_t tag)
{
    if (tag != 'a') {
        return;
    }
    void *fn = NULL;
    seen[0] = dynapps_call_begin("b", &wrapper_b, TINY_RUN, &fn);
    seen[1] = fn != NULL && tiny_tag((uintptr_t)fn) == 'b' ? DYNAPPS_OK : DYNAPPS_ERR_NOT_FOUND;
    seen[2] = dynapps_call_end(wrapper_b);
    dynapps_app_t *again = NULL;
    seen[3] = dynapps_load("a", &again);                          /* its own slot: being loaded */
    seen[4] = dynapps_call_begin("a", &wrapper_a, TINY_RUN, &fn); /* its own wrapper: likewise */
}

static void deinit_calls_loader(uint8_t tag)
{
    if (tag == 'a') {
        seen[5] = dynapps_unload_handle(&wrapper_b);
        dynapps_app_t *again = NULL;
        seen[6] = dynapps_load("a", &again); /* being unloaded */
    }
}

static void test_init_and_deinit_call_the_loader(void)
{
    app.on_init = init_calls_loader;
    app.on_deinit = deinit_calls_loader;
    CHECK_ERR(dynapps_load_handle("a", &wrapper_a), DYNAPPS_OK);
    CHECK_ERR(seen[0], DYNAPPS_OK);
    CHECK_ERR(seen[1], DYNAPPS_OK);
    CHECK_ERR(seen[2], DYNAPPS_OK);
    CHECK_ERR(seen[3], DYNAPPS_ERR_SLOT_BUSY);
    CHECK_ERR(seen[4], DYNAPPS_ERR_SLOT_BUSY);
    CHECK(wrapper_a != NULL && wrapper_b != NULL && app.init_calls == 2);
    CHECK_ERR(dynapps_unload_handle(&wrapper_a), DYNAPPS_OK);
    CHECK_ERR(seen[5], DYNAPPS_OK);
    CHECK_ERR(seen[6], DYNAPPS_ERR_SLOT_BUSY);
    CHECK(wrapper_a == NULL && wrapper_b == NULL && app.deinit_calls == 2);
}

/* While a's init runs, a's wrapper handle is still empty and the slot can't be loaded again;
 * a failed init leaves nothing behind, and the slot loads once it is over. */
static void init_looks_at_itself(uint8_t tag)
{
    (void)tag;
    seen[0] = wrapper_a == NULL ? DYNAPPS_OK : DYNAPPS_ERR_ALREADY_LOADED;
    seen[1] = dynapps_unload_handle(&wrapper_a);
    seen[2] = dynapps_load_handle("a", &wrapper_a);
}

static void test_app_invisible_during_init(void)
{
    app.on_init = init_looks_at_itself;
    app.init_result = -1;
    CHECK_ERR(dynapps_load_handle("a", &wrapper_a), DYNAPPS_ERR_INIT_FAILED);
    CHECK_ERR(seen[0], DYNAPPS_OK);
    CHECK_ERR(seen[1], DYNAPPS_ERR_NOT_LOADED);
    CHECK_ERR(seen[2], DYNAPPS_ERR_SLOT_BUSY);
    CHECK(wrapper_a == NULL && app.deinit_calls == 0 && host.heap_bytes == 0);
    app.on_init = NULL;
    app.init_result = 0;
    CHECK_ERR(dynapps_load_handle("a", &wrapper_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload_handle(&wrapper_a), DYNAPPS_OK);
}

/* ---- the table of loaded apps ------------------------------------------------------------- */

/* DYNAPPS_MAX_LOADED_APPS apps at once (the test build sets it), then TOO_MANY_APPS. */
static void test_too_many_apps(void)
{
    size_t size;
    uint8_t *image = tiny_image("t", 't', &size);
    dynapps_app_t *apps[DYNAPPS_MAX_LOADED_APPS + 1];
    for (int i = 0; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        CHECK_ERR(dynapps_load_from_buffer(image, size, &apps[i]), DYNAPPS_OK);
    }
    size_t heap = host.heap_bytes;
    long hashed = host.sha_calls;
    apps[DYNAPPS_MAX_LOADED_APPS] = (dynapps_app_t *)&heap;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &apps[DYNAPPS_MAX_LOADED_APPS]),
              DYNAPPS_ERR_TOO_MANY_APPS);
    CHECK(apps[DYNAPPS_MAX_LOADED_APPS] == NULL && host.heap_bytes == heap && host.sha_calls == hashed);
    CHECK_ERR(dynapps_unload(apps[0]), DYNAPPS_OK);
    CHECK_ERR(dynapps_load_from_buffer(image, size, &apps[0]), DYNAPPS_OK);
    for (int i = 0; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        CHECK_ERR(dynapps_unload(apps[i]), DYNAPPS_OK);
    }
    free(image);
}

/* ---- runner ------------------------------------------------------------------------------- */

static void before(void)
{
    memset(&app, 0, sizeof app);
    memset(seen, 0xFF, sizeof seen);
    wrapper_a = wrapper_b = NULL;
    add_slots();
}

static void after(void) { CHECK_CLEAN(); }

#define TEST(fn) {#fn, fn}

int main(int argc, char **argv)
{
    static const tiny_test_t tests[] = {
        TEST(test_call_through_unloaded_handle),
        TEST(test_unload_handle_after_unload),
        TEST(test_stale_handle_of_reused_record),
        TEST(test_unmatched_call_end),
        TEST(test_call_by_export_name),
        TEST(test_made_up_handles),
        TEST(test_init_and_deinit_call_the_loader),
        TEST(test_app_invisible_during_init),
        TEST(test_too_many_apps),
    };
    int result = tiny_run(tests, sizeof tests / sizeof tests[0], &failures, before, after, 10, argc, argv);
    free(image_a);
    free(image_b);
    return result;
}
