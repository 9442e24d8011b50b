/*
 * The emulator firmware's side of the C++ test app (tests/test_cpp_apps.py): load it, call it,
 * unload it, printing one line per step so that the test sees the order of the app's static
 * constructors, init, deinit and destructors in the UART output.
 */
#include <stdio.h>

#include "demo.h"
#include "dynapps.h"
#include "dynapps_cppdemo.h"

void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    printf("CALL-ERROR %s %s %s\n", app, function, dynapps_err_name(err));
}

int dynapps_demo(void)
{
    dynapps_err_t err = cppdemo_load();
    if (err != DYNAPPS_OK) {
        printf("LOAD-ERROR cppdemo %s\n", dynapps_err_name(err));
        return 1;
    }
    dynapps_app_info_t info;
    if (dynapps_get_info(cppdemo_handle(), &info) == DYNAPPS_OK) {
        static const char *const strategies[] = {"?", "iram", "xip", "psram"}; /* dynapps_strategy_t */
        printf("LOADED cppdemo %s code=0x%08lx\n", strategies[info.strategy < 4 ? info.strategy : 0],
               (unsigned long)info.code_addr);
    }
    printf("RESULT constructed %ld\n", (long)cppdemo_constructed());
    cppdemo_push(5);
    cppdemo_push(7);
    printf("RESULT push %ld\n", (long)cppdemo_push(11));
    printf("RESULT sum %ld\n", (long)cppdemo_sum());
    printf("RESULT scaled %ld\n", (long)cppdemo_scaled(14));
    printf("RESULT late %ld\n", (long)cppdemo_late()); /* constructs the local static */
    printf("RESULT late %ld\n", (long)cppdemo_late()); /* once */
    printf("RESULT heap %ld\n", (long)cppdemo_heap_sum(10));
    err = cppdemo_unload();
    printf("UNLOADED cppdemo %s\n", dynapps_err_name(err));
    return err != DYNAPPS_OK;
}
