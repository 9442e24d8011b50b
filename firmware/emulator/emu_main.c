/*
 * The emulator firmware's main: run the example firmware's demo (firmware/main/demo.c) and
 * check that loading and unloading every app gave back every byte of the heap and of the PSRAM
 * heap (PSRAM apps). Built with the agent (DYNAPPS_AGENT=1, `scons live`), it serves the agent's
 * protocol on the UART instead, until the host stops the machine (docs/live.md).
 */
#include <stdio.h>

#include "demo.h"
#include "dynapps_emu.h"

#if DYNAPPS_AGENT
void dynapps_emu_agent_serve(void); /* emu_agent.c: never returns */
#endif

int main(void)
{
#if DYNAPPS_AGENT
    dynapps_emu_agent_serve();
#endif
    size_t before = dynapps_emu_heap_free(), psram_before = dynapps_emu_psram_free();
    int failures = dynapps_demo();
    size_t after = dynapps_emu_heap_free(), psram_after = dynapps_emu_psram_free();
    printf("HEAP free %lu before, %lu after\n", (unsigned long)before, (unsigned long)after);
    if (DYNAPPS_EMU_PSRAM_SIZE > 0) {
        printf("PSRAM free %lu before, %lu after\n", (unsigned long)psram_before, (unsigned long)psram_after);
    }
    return failures + (before != after) + (psram_before != psram_after);
}
