/*
 * The emulator firmware's side of the test apps: load each one through its wrappers, print
 * where it was placed, call it (checks_calls.c), unload it.
 */
#include <stdio.h>

#include "checks_calls.h"
#include "demo.h"
#include "dynapps.h"
#include "checks_apps.h"

typedef struct {
    const char *name;
    dynapps_err_t (*load)(void);
    dynapps_err_t (*unload)(void);
    dynapps_app_t *(*handle)(void);
} check_app_t;

static const check_app_t apps[] = {
#if HAVE_ASMFN
    {"asmfn", asmfn_load, asmfn_unload, asmfn_handle},
#endif
#if HAVE_CTYPES
    {"ctypes", ctypes_load, ctypes_unload, ctypes_handle},
#endif
#if HAVE_MATHLIB
    {"mathlib", mathlib_load, mathlib_unload, mathlib_handle},
#endif
#if HAVE_ODDSIZE
    {"oddsize", oddsize_load, oddsize_unload, oddsize_handle},
#endif
#if HAVE_STRTAB
    {"strtab", strtab_load, strtab_unload, strtab_handle},
#endif
};

void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    printf("CALL-ERROR %s %s %s\n", app, function, dynapps_err_name(err));
}

static int check_app(const check_app_t *app)
{
    dynapps_err_t err = app->load();
    if (err != DYNAPPS_OK) {
        printf("LOAD-ERROR %s %s\n", app->name, dynapps_err_name(err));
        return 1;
    }
    dynapps_app_info_t info;
    if (dynapps_get_info(app->handle(), &info) == DYNAPPS_OK) {
        static const char *const strategies[] = {"?", "iram", "xip", "psram"};
        printf("LOADED %s %s imports=%lu\n", app->name, strategies[info.strategy < 4 ? info.strategy : 0],
               (unsigned long)info.import_count);
        printf("PLACED %s code=0x%08lx data=0x%08lx fixups=%lu\n", app->name, (unsigned long)info.code_addr,
               (unsigned long)info.data_addr, (unsigned long)info.fixup_count);
    }
    checks_call_app(app->name);
    err = app->unload();
    if (err != DYNAPPS_OK) {
        printf("UNLOAD-ERROR %s %s\n", app->name, dynapps_err_name(err));
        return 1;
    }
    return 0;
}

int dynapps_demo(void)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) failures += check_app(&apps[i]);
    printf("CHECKS %s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
    return failures;
}
