/*
 * Bench firmware for the emulator (bench/run.py): loads every app the generated bench_apps.c
 * lists by slot name, between control-block marks, calls its export once, unloads it, and
 * prints what the loader and the heap say about its RAM. The emulator main
 * (firmware/emulator/emu_main.c) calls dynapps_demo() and checks the heap afterwards.
 *
 * Marks (the emulator records the instruction count at each one):
 *   BENCH_MARK_EMPTY, BENCH_MARK_EMPTY + 1     two marks back to back: the cost of a mark pair
 *   BENCH_MARK_APP(i) + 0 / + 1                around dynapps_load of app i
 *   BENCH_MARK_APP(i) + 2 / + 3                around dynapps_unload of app i
 *   BENCH_MARK_PHASE(p)                        the loader starts phase p of a load (dynapps_phase_t,
 *                                              dynapps_port.h): the core calls dynapps_trace_phase,
 *                                              defined here, in every emulator firmware build
 *   BENCH_MARK_PHASE(DYNAPPS_PHASE_DONE) twice, back to back, before any load: the cost of one
 *                                              phase mark, which bench/loadcost.py takes off
 *
 * Output, one line per app:
 *   BENCH <app> OK strategy=<iram|xip> code=<addr> data=<addr> code_size= data_size= bss_size=
 *         ram= fixups= imports= exports= heap=<heap bytes taken while loaded> result=<hex>
 *   BENCH <app> <error name>            the app could not be loaded (e.g. no executable RAM)
 * Apps beyond the 64 the mask covers are always loaded.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dynapps.h"
#include "dynapps_emu.h"
#include "dynapps_port.h"

#define BENCH_MARK_EMPTY 0x0F00u
#define BENCH_MARK_APP(i) (0x1000u + 4u * (uint32_t)(i))
#define BENCH_MARK_PHASE(p) (0x0E00u + (uint32_t)(p))
#define BENCH_ARGUMENT 0x12345u

/* The loader's phase marks (a weak default in the core does nothing). Not inlined into the
 * calibration pair below, so that the pair costs what a call from the core costs. */
__attribute__((noinline)) void dynapps_trace_phase(dynapps_phase_t phase)
{
    dynapps_emu_mark(BENCH_MARK_PHASE(phase));
}

/* Which apps to load (bit i: app i); bench/run.py writes it before the run to spread the apps
 * over several emulator processes. Initialised, so it lives in .data, which the emulator loads in
 * place (the start-up code does not overwrite it). */
volatile uint32_t bench_mask[2] = {0xFFFFFFFFu, 0xFFFFFFFFu};

extern const char *const bench_apps[];
extern const char *const bench_exports[]; /* each app's one export, uint32_t (uint32_t) */
extern const size_t bench_app_count;

/* Failures that are not the app's size: a wrong result, a heap that does not come back. */
static int bench_one(size_t index)
{
    const char *name = bench_apps[index];
    dynapps_app_t *app = NULL;
    size_t free_before = dynapps_emu_heap_free();
    dynapps_emu_mark(BENCH_MARK_APP(index));
    dynapps_err_t err = dynapps_load(name, &app);
    dynapps_emu_mark(BENCH_MARK_APP(index) + 1u);
    if (err != DYNAPPS_OK) {
        printf("BENCH %s %s\n", name, dynapps_err_name(err));
        return err == DYNAPPS_ERR_NO_MEM ? 0 : 1; /* too big for the executable RAM: n/a */
    }
    size_t heap_taken = free_before - dynapps_emu_heap_free();
    dynapps_app_info_t info;
    void *entry = NULL;
    if (dynapps_get_info(app, &info) != DYNAPPS_OK || dynapps_find_export(app, bench_exports[index], &entry) != DYNAPPS_OK) {
        printf("BENCH %s no-info\n", name);
        return 1;
    }
    uint32_t result = ((uint32_t(*)(uint32_t))entry)(BENCH_ARGUMENT);
    printf("BENCH %s OK strategy=%s code=0x%08lx data=0x%08lx code_size=%lu data_size=%lu bss_size=%lu ram=%lu "
           "fixups=%lu imports=%lu exports=%lu heap=%lu result=%08lx\n",
           name, info.strategy == 2 ? "xip" : "iram", (unsigned long)info.code_addr, (unsigned long)info.data_addr,
           (unsigned long)info.code_size, (unsigned long)info.data_size, (unsigned long)info.bss_size,
           (unsigned long)info.ram_bytes, (unsigned long)info.fixup_count, (unsigned long)info.import_count,
           (unsigned long)info.export_count, (unsigned long)heap_taken, (unsigned long)result);
    dynapps_emu_mark(BENCH_MARK_APP(index) + 2u);
    err = dynapps_unload(app);
    dynapps_emu_mark(BENCH_MARK_APP(index) + 3u);
    if (err != DYNAPPS_OK || dynapps_emu_heap_free() != free_before) {
        printf("BENCH %s unload %s, heap %lu of %lu back\n", name, dynapps_err_name(err),
               (unsigned long)dynapps_emu_heap_free(), (unsigned long)free_before);
        return 1;
    }
    return 0;
}

int dynapps_demo(void)
{
    dynapps_emu_mark(BENCH_MARK_EMPTY);
    dynapps_emu_mark(BENCH_MARK_EMPTY + 1u);
    dynapps_trace_phase(DYNAPPS_PHASE_DONE);
    dynapps_trace_phase(DYNAPPS_PHASE_DONE);
    int failures = 0;
    for (size_t i = 0; i < bench_app_count; i++) {
        if (i >= 64 || (bench_mask[i / 32] & (1u << (i % 32))) != 0) {
            failures += bench_one(i);
        }
    }
    printf("BENCH-DONE %d failure(s)\n", failures);
    return failures;
}
