/*
 * The emulator firmware's main: run the example firmware's demo (firmware/main/demo.c) and
 * check that loading and unloading every app gave back every byte of the heap.
 */
#include <stdio.h>

#include "demo.h"
#include "dynapps_emu.h"

int main(void)
{
    size_t before = dynapps_emu_heap_free();
    int failures = dynapps_demo();
    size_t after = dynapps_emu_heap_free();
    printf("HEAP free %lu before, %lu after\n", (unsigned long)before, (unsigned long)after);
    return failures + (before != after);
}
