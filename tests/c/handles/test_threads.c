/*
 * Four threads load, call, unload and reload the same apps at once, through shared wrappers
 * (the call path of the generated ones: dynapps.h's lock-free fast path, the core's slow path),
 * through shared handles (dynapps_call_begin/_end), through the generic API and from a buffer,
 * with a real, non-recursive mutex in the port. Run by tests/test_loader_handles.py twice: under
 * ASan/UBSan (a record or code block freed while in use is reported) and under TSan (so is any
 * access to shared state outside the lock).
 *
 * A "call" reads the app's code at the address the core gave out; init and deinit read it too,
 * check they run without the lock, count the instances of each slot's app (never more than one)
 * and, in a's init, call b through b's wrapper.
 */
#define _POSIX_C_SOURCE 200809L /* rand_r */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dynapps.h"
#include "dynapps_internal.h"
#include "host_port.h"
#include "tiny_app.h"

#define THREADS 4
#define ROUNDS 20000
#define SLOTS 2 /* "a" and "b"; the buffer app is tagged 'c' */

static const char *const slot_names[SLOTS] = {"a", "b"};
/* As `scons apps` generates them for an app with one export (templates/app_wrappers.*.j2). */
typedef struct {
    dynapps_wrapper_t wrapper;
    void (*entry[1])(void);
} tiny_wrapper_t;
static tiny_wrapper_t wrappers[SLOTS] = {
    {{DYNAPPS_WRAPPER_CLOSED, NULL, "a", wrappers[0].entry, 1u, NULL}, {0}}, /* stubs: host has atomics */
    {{DYNAPPS_WRAPPER_CLOSED, NULL, "b", wrappers[1].entry, 1u, NULL}, {0}},
};
static dynapps_app_t *handles[SLOTS]; /* shared handles of dynapps_call_begin and _end */
static atomic_uintptr_t shared_c;      /* a buffer app's handle, passed between threads */
static uint8_t *image_c;
static size_t size_c;

static atomic_int live[SLOTS];     /* instances of each slot's app between init and deinit */
static atomic_int inits, deinits, calls, lock_held_in_app, unexpected;

static int slot_of(uint8_t tag) { return tag == 'a' ? 0 : tag == 'b' ? 1 : -1; }

static void unexpected_at(const char *what, dynapps_err_t err, int line)
{
    fprintf(stderr, "  test_threads.c:%d: %s: %s\n", line, what, dynapps_err_name(err));
    atomic_fetch_add(&unexpected, 1);
}

static atomic_int outcomes[DYNAPPS_ERR_COUNT]; /* how often each result came back */

#define EXPECT_ONE_OF(err, mask, what)                                                          \
    do {                                                                                        \
        atomic_fetch_add(&outcomes[(err)], 1);                                                  \
        if ((((mask) >> (err)) & 1u) == 0) {                                                    \
            unexpected_at((what), (err), __LINE__);                                             \
        }                                                                                       \
    } while (0)
#define BIT(err) (1u << (err))

/* "Runs" the app: its code must be there (ASan: not freed), and be the slot's app. */
static void run_app_code(int i, uintptr_t address)
{
    for (int step = 0; step < 2; step++) { /* before and after giving way to the other threads */
        if (slot_of(tiny_tag(address)) != i) {
            unexpected_at("call ran another app's code", DYNAPPS_OK, __LINE__);
        }
        if (step == 0) {
            sched_yield();
        }
    }
    atomic_fetch_add(&calls, 1);
}

/* One call through wrapper `i`, as the generated wrapper makes it. */
static void call_through(int i)
{
    dynapps_wrapper_t *wrapper = &wrappers[i].wrapper;
    if (!dynapps_wrapper_enter(wrapper)) {
        dynapps_err_t err = dynapps_wrapper_call(wrapper);
        if (err != DYNAPPS_OK) {
            EXPECT_ONE_OF(err, BIT(DYNAPPS_ERR_SLOT_BUSY) | BIT(DYNAPPS_ERR_STALE_HANDLE) |
                                   BIT(DYNAPPS_ERR_ALREADY_LOADED) | BIT(DYNAPPS_ERR_NOT_LOADED),
                          "wrapper call");
            return;
        }
    }
    run_app_code(i, (uintptr_t)wrappers[i].entry[0]);
    dynapps_wrapper_leave(wrapper);
}

/* One call through shared handle `i` with dynapps_call_begin and _end. */
static void call_through_handle(int i)
{
    void *fn = NULL;
    dynapps_err_t err = dynapps_call_begin(slot_names[i], &handles[i], TINY_RUN, &fn);
    if (err != DYNAPPS_OK) {
        EXPECT_ONE_OF(err, BIT(DYNAPPS_ERR_SLOT_BUSY) | BIT(DYNAPPS_ERR_STALE_HANDLE) |
                               BIT(DYNAPPS_ERR_ALREADY_LOADED) | BIT(DYNAPPS_ERR_NOT_LOADED),
                      "call_begin");
        return;
    }
    run_app_code(i, (uintptr_t)fn);
    err = dynapps_call_end(handles[i]);
    EXPECT_ONE_OF(err, BIT(DYNAPPS_OK), "call_end");
}

/* A buffer app: load one, publish it, unload the one published before. */
static void swap_buffer_app(void)
{
    dynapps_app_t *app = NULL;
    dynapps_err_t err = dynapps_load_from_buffer(image_c, size_c, &app);
    EXPECT_ONE_OF(err, BIT(DYNAPPS_OK), "load_from_buffer");
    uintptr_t old = atomic_exchange(&shared_c, (uintptr_t)app);
    if (old != 0) {
        err = dynapps_unload((dynapps_app_t *)old);
        EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_STALE_HANDLE), "unload buffer app");
    }
}

/* Whatever handle was published: possibly unloaded by another thread meanwhile. */
static void use_published(void)
{
    dynapps_app_t *app = (dynapps_app_t *)atomic_load(&shared_c);
    if (app == NULL) {
        return;
    }
    dynapps_app_info_t info;
    dynapps_err_t err = dynapps_get_info(app, &info);
    EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_STALE_HANDLE), "get_info");
    void *fn = NULL;
    err = dynapps_find_export(app, "tiny_run", &fn);
    EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_STALE_HANDLE), "find_export");
}

/* The generic API on a slot: its own handle, loaded and unloaded at once. */
static void load_and_unload(int i)
{
    dynapps_app_t *app = NULL;
    dynapps_err_t err = dynapps_load(slot_names[i], &app);
    EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_ALREADY_LOADED) | BIT(DYNAPPS_ERR_SLOT_BUSY), "load");
    if (err == DYNAPPS_OK) {
        err = dynapps_unload(app); /* nobody else has this handle, so nobody calls through it */
        EXPECT_ONE_OF(err, BIT(DYNAPPS_OK), "unload own handle");
    }
}

static void unload_behind_wrapper(int i)
{
    dynapps_app_t *app = __atomic_load_n(&wrappers[i].wrapper.handle, __ATOMIC_RELAXED);
    if (app != NULL) {
        dynapps_err_t err = dynapps_unload(app);
        EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_BUSY) | BIT(DYNAPPS_ERR_STALE_HANDLE), "unload behind");
    }
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        int i = (int)(rand_r(&seed) % SLOTS);
        switch (rand_r(&seed) % 10) {
        case 0:
        case 1:
            call_through(i);
            break;
        case 2: {
            dynapps_err_t err = dynapps_wrapper_load(&wrappers[i].wrapper);
            EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_ALREADY_LOADED) | BIT(DYNAPPS_ERR_SLOT_BUSY), "wrapper load");
            break;
        }
        case 3: {
            dynapps_err_t err = dynapps_wrapper_unload(&wrappers[i].wrapper);
            EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_NOT_LOADED) | BIT(DYNAPPS_ERR_BUSY) |
                                   BIT(DYNAPPS_ERR_STALE_HANDLE), "wrapper unload");
            break;
        }
        case 7:
            call_through_handle(i);
            break;
        case 8: {
            dynapps_err_t err = dynapps_unload_handle(&handles[i]);
            EXPECT_ONE_OF(err, BIT(DYNAPPS_OK) | BIT(DYNAPPS_ERR_NOT_LOADED) | BIT(DYNAPPS_ERR_BUSY) |
                                   BIT(DYNAPPS_ERR_STALE_HANDLE), "unload_handle");
            break;
        }
        case 9: /* the wrapper's app unloaded behind its back: its next call finds the handle stale */
            unload_behind_wrapper(i);
            break;
        case 4:
            swap_buffer_app();
            break;
        case 5:
            use_published();
            break;
        default:
            load_and_unload(i);
            break;
        }
    }
    return NULL;
}

/* ---- the app's init and deinit ------------------------------------------------------------ */

int dynapps_call_init(uintptr_t address)
{
    if (host_port_lock_held()) {
        atomic_fetch_add(&lock_held_in_app, 1);
    }
    int slot = slot_of(tiny_tag(address));
    if (slot >= 0 && atomic_fetch_add(&live[slot], 1) != 0) {
        unexpected_at("two instances of one slot's app", DYNAPPS_OK, __LINE__);
    }
    if (slot == 0) {
        call_through(1); /* init may call the loader: a calls b */
    }
    atomic_fetch_add(&inits, 1);
    return 0;
}

void dynapps_call_deinit(uintptr_t address)
{
    if (host_port_lock_held()) {
        atomic_fetch_add(&lock_held_in_app, 1);
    }
    int slot = slot_of(tiny_tag(address));
    if (slot >= 0) {
        atomic_fetch_sub(&live[slot], 1);
    }
    atomic_fetch_add(&deinits, 1);
}

/* ---- the test ------------------------------------------------------------------------------ */

static uint8_t *images[SLOTS];

static void test_four_threads(void)
{
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, worker, (void *)(uintptr_t)(t * 7919 + 1)) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    for (int i = 0; i < SLOTS; i++) {
        dynapps_err_t err = dynapps_wrapper_unload(&wrappers[i].wrapper);
        CHECK(err == DYNAPPS_OK || err == DYNAPPS_ERR_NOT_LOADED || err == DYNAPPS_ERR_STALE_HANDLE);
        err = dynapps_unload_handle(&handles[i]);
        CHECK(err == DYNAPPS_OK || err == DYNAPPS_ERR_NOT_LOADED || err == DYNAPPS_ERR_STALE_HANDLE);
    }
    dynapps_app_t *last = (dynapps_app_t *)atomic_exchange(&shared_c, 0);
    if (last != NULL) {
        CHECK_ERR(dynapps_unload(last), DYNAPPS_OK);
    }
    printf("  %d inits, %d deinits, %d calls; results:", inits, deinits, calls);
    for (int err = 0; err < DYNAPPS_ERR_COUNT; err++) {
        if (outcomes[err] != 0) {
            printf(" %s %d", dynapps_err_name((dynapps_err_t)err) + sizeof "DYNAPPS_" - 1, outcomes[err]);
        }
    }
    printf("\n");
    CHECK(inits == deinits && inits > THREADS && calls > THREADS);
    /* the threads did get in each other's way (thousands of each in a normal run) */
    CHECK(outcomes[DYNAPPS_ERR_SLOT_BUSY] > 0 && outcomes[DYNAPPS_ERR_BUSY] > 0);
    CHECK(live[0] == 0 && live[1] == 0);
    CHECK(lock_held_in_app == 0);
    CHECK(unexpected == 0);
}

static void before(void)
{
    for (int i = 0; i < SLOTS; i++) {
        size_t size;
        images[i] = tiny_image(slot_names[i], (uint8_t)('a' + i), &size);
        host_port_add_slot(slot_names[i], images[i], (uint32_t)size);
    }
    image_c = tiny_image("c", 'c', &size_c);
}

static void after(void) { CHECK_CLEAN(); }

int main(int argc, char **argv)
{
    static const tiny_test_t tests[] = {{"test_four_threads", test_four_threads}};
    int result = tiny_run(tests, 1, &failures, before, after, 240, argc, argv);
    for (int i = 0; i < SLOTS; i++) {
        free(images[i]);
    }
    free(image_c);
    return result;
}
