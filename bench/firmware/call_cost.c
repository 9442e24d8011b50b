/*
 * Call-path firmware for the emulator (bench/callcost.py, tests/test_call_path.py): what a call
 * through a generated wrapper costs over the same call through a plain function pointer. The
 * example app crc's crc32_compute(data, 0), both ways, each between two marks:
 *   1, 2   the raw call, through the address dynapps_find_export gave
 *   3, 4   the call through the wrapper (app loaded: its fast path)
 * then a handle made stale behind the wrapper's back is refused, and the wrapper loads the app
 * again on the call after. One UART line each. The emulator main (firmware/emulator/emu_main.c)
 * calls dynapps_demo().
 */
#include <stdio.h>

#include "demo.h"
#include "dynapps.h"
#include "dynapps_crc.h"
#include "dynapps_emu.h"

typedef uint32_t (*crc_fn)(const uint8_t *, uint32_t);

static volatile uint32_t sink;

int dynapps_demo(void)
{
    static const uint8_t data[4] = {1, 2, 3, 4};
    crc_fn raw = NULL;
    if (crc_load() != DYNAPPS_OK || dynapps_find_export(crc_handle(), "crc32_compute", (void **)&raw)) return 10;
    crc_fn volatile fn = raw; /* read from memory, as a wrapper reads its cached entry */
    sink = crc32_compute(data, 0); /* warm: the wrapper's first call may take its slow path */
    for (int round = 0; round < 2; round++) {
        dynapps_emu_mark(1);
        sink = fn(data, 0);
        dynapps_emu_mark(2);
        dynapps_emu_mark(3);
        sink = crc32_compute(data, 0);
        dynapps_emu_mark(4);
    }
    printf("raw %08lx wrapped %08lx\n", (unsigned long)fn(data, 4), (unsigned long)crc32_compute(data, 4));

    /* Unloaded through the loader, not the wrapper: the wrapper's handle is stale now. */
    if (dynapps_unload(crc_handle()) != DYNAPPS_OK) return 20;
    uint32_t refused = crc32_compute(data, 4);
    printf("stale %08lx %s\n", (unsigned long)refused, dynapps_err_name(crc_status()));
    uint32_t again = crc32_compute(data, 4); /* loads the app again */
    printf("again %08lx\n", (unsigned long)again);
    printf("unload %s\n", dynapps_err_name(crc_unload()));
    return 0;
}
