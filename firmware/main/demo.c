/*
 * The example firmware's main job, shared by the ESP-IDF app (idf_main.c) and the emulator
 * firmware: load each example app through its generated wrappers, call it, unload it.
 */
#include "demo.h"

#include <stdio.h>

#include "demo_calls.h"
#include "dynapps.h"
#include "dynapps_image.h"
#include "dynapps_abi.h"
#include "dynapps_crc.h"
#include "dynapps_dispatch.h"
#include "dynapps_fir.h"
#include "dynapps_pid.h"
#include "dynapps_stats.h"

typedef struct {
    const char *name;
    dynapps_err_t (*load)(void);
    dynapps_err_t (*unload)(void);
    dynapps_app_t *(*handle)(void);
} demo_app_t;

static const demo_app_t apps[] = {
    {"abi", abi_load, abi_unload, abi_handle},
    {"crc", crc_load, crc_unload, crc_handle},
    {"dispatch", dispatch_load, dispatch_unload, dispatch_handle},
    {"fir", fir_load, fir_unload, fir_handle},
    {"pid", pid_load, pid_unload, pid_handle},
    {"stats", stats_load, stats_unload, stats_handle},
};

/* The wrappers report calls that could not run here. */
void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    printf("CALL-ERROR %s %s %s\n", app, function, dynapps_err_name(err));
}

/*
 * The loader's own list of what is loaded, one line per app in a fixed format (docs/loader-api.md,
 * "Listing the loaded apps"), which `scons run` turns into its "where the apps ran" table:
 *   LOADED <name> <iram|xip|psram> code=0x<8 hex> data=0x<8 hex> code_size=N data_size=N bss_size=N
 *          ram=N version=<major>.<minor>.<patch> fixups=N imports=N
 * Everything comes from the loader's record, nothing from the demo's table of apps.
 */
static const char *strategy_name(uint8_t strategy)
{
    switch (strategy) {
    case DYNAPPS_STRATEGY_XIP: return "xip";
    case DYNAPPS_STRATEGY_PSRAM: return "psram";
    default: return "iram";
    }
}

static void print_loaded_apps(void)
{
    dynapps_app_t *app = NULL;
    dynapps_app_info_t info;
    while (dynapps_next_loaded(&app, &info) == DYNAPPS_OK) {
        printf("LOADED %s %s code=0x%08lx data=0x%08lx code_size=%lu data_size=%lu bss_size=%lu ram=%lu "
               "version=%u.%u.%u fixups=%lu imports=%lu\n",
               info.name, strategy_name(info.strategy), (unsigned long)info.code_addr,
               (unsigned long)info.data_addr, (unsigned long)info.code_size, (unsigned long)info.data_size,
               (unsigned long)info.bss_size, (unsigned long)info.ram_bytes, info.version.major,
               info.version.minor, info.version.patch, (unsigned long)info.fixup_count,
               (unsigned long)info.import_count);
    }
}

static int run_app(const demo_app_t *app)
{
    dynapps_err_t err = app->load();
    if (err != DYNAPPS_OK) {
        printf("LOAD-ERROR %s %s\n", app->name, dynapps_err_name(err));
        return 1;
    }
    dynapps_app_t *found = NULL;
    err = dynapps_find_loaded(app->name, &found);
    if (err != DYNAPPS_OK || found != app->handle()) {
        printf("FIND-ERROR %s %s\n", app->name, dynapps_err_name(err)); /* the loader lost it */
        return 1;
    }
    print_loaded_apps(); /* the demo holds one app at a time: this one */
    demo_call_app(app->name);
    err = app->unload();
    if (err != DYNAPPS_OK) {
        printf("UNLOAD-ERROR %s %s\n", app->name, dynapps_err_name(err));
        return 1;
    }
    printf("UNLOADED %s\n", app->name);
    return 0;
}

/* A wrapper call without an explicit load: the first call loads the app (or, if it can't be
 * loaded, returns 0 without jumping anywhere and leaves the reason in crc_status()). */
static int lazy_call(void)
{
    static const uint8_t check[] = "123456789";
    uint32_t crc = crc32_compute(check, 9);
    dynapps_err_t status = crc_status();
    printf("LAZY crc crc32_compute=%08lx status=%s\n", (unsigned long)crc, dynapps_err_name(status));
    if (status != DYNAPPS_OK) return 1;
    return crc_unload() != DYNAPPS_OK || crc != 0xCBF43926u;
}

int dynapps_demo(void)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) failures += run_app(&apps[i]);
    failures += lazy_call();
    printf("DEMO %s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
    return failures;
}
