/*
 * The generated wrappers of app "tls" (built by the real `scons apps` in
 * tests/test_loader_handles.py) against the core and the host port: <app>_status() is per
 * task, and a wrapper whose app was unloaded behind its back refuses the call and its unload
 * with DYNAPPS_ERR_STALE_HANDLE instead of using the freed record.
 *
 * No call reaches app code (the host can't run RISC-V): every call here is made while the
 * wrappers are closed, and refused on their slow path.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dynapps.h"
#include "dynapps_internal.h"
#include "dynapps_tls.h"
#include "host_port.h"
#include "tiny_app.h"

int dynapps_call_init(uintptr_t address) { return tiny_tag(address) == 't' ? 0 : -1; }

void dynapps_call_deinit(uintptr_t address) { (void)address; }

static dynapps_err_t call_errors[4];
static int call_error_count;

void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    CHECK(strcmp(app, "tls") == 0 && strcmp(function, "tls_add") == 0);
    if (call_error_count < 4) {
        call_errors[call_error_count++] = err;
    }
}

static dynapps_err_t other_task_saw[3];

static void *other_task(void *arg)
{
    (void)arg;
    other_task_saw[0] = tls_status(); /* the main task's failure is not this task's */
    other_task_saw[1] = tls_unload();
    other_task_saw[2] = tls_status();
    return NULL;
}

/* Each task sees the result of its own last load, unload or call. */
static void test_status_is_per_task(void)
{
    CHECK_ERR(tls_status(), DYNAPPS_OK);
    CHECK_ERR(tls_load(), DYNAPPS_ERR_NOT_FOUND); /* no slot "tls" yet */
    pthread_t task;
    CHECK(pthread_create(&task, NULL, other_task, NULL) == 0);
    pthread_join(task, NULL);
    CHECK_ERR(other_task_saw[0], DYNAPPS_OK);
    CHECK_ERR(other_task_saw[1], DYNAPPS_ERR_NOT_LOADED);
    CHECK_ERR(other_task_saw[2], DYNAPPS_ERR_NOT_LOADED);
    CHECK_ERR(tls_status(), DYNAPPS_ERR_NOT_FOUND); /* the other task's unload did not touch it */
}

/* dynapps_unload(tls_handle()) elsewhere: the wrapper's next call and unload are refused. */
static void test_wrapper_after_unload_elsewhere(void)
{
    size_t size;
    uint8_t *image = tiny_image("tls", 't', &size);
    host_port_add_slot("tls", image, (uint32_t)size);
    CHECK_ERR(tls_load(), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(tls_handle()), DYNAPPS_OK);
    CHECK(tls_add(1, 2) == 0);
    CHECK_ERR(tls_status(), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(tls_handle() == NULL); /* forgotten: the next call loads the app again */
    CHECK_ERR(tls_load(), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(tls_handle()), DYNAPPS_OK);
    CHECK_ERR(tls_unload(), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(call_error_count == 1 && call_errors[0] == DYNAPPS_ERR_STALE_HANDLE);
    free(image);
}

static void before(void) {}

static void after(void) { CHECK_CLEAN(); }

int main(int argc, char **argv)
{
    static const tiny_test_t tests[] = {
        {"test_status_is_per_task", test_status_is_per_task},
        {"test_wrapper_after_unload_elsewhere", test_wrapper_after_unload_elsewhere},
    };
    return tiny_run(tests, sizeof tests / sizeof tests[0], &failures, before, after, 10, argc, argv);
}
