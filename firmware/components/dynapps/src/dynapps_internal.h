/*
 * Private to the loader core and its host unit tests; not part of the component's API.
 */
#pragma once

#include <stdint.h>

/*
 * Calling into a loaded app. On a target the core jumps straight to the export's address
 * (dynapps_core.c defines these two). The host unit tests cannot execute app code: it is RISC-V
 * and their "executable RAM" is ordinary heap seen at a fake alias address. They compile the core
 * with -DDYNAPPS_APP_CALL_HOOK and define these functions themselves to record the addresses the
 * core would have called.
 */
int dynapps_call_init(uintptr_t address);    /* the app's int init(void) */
void dynapps_call_deinit(uintptr_t address); /* the app's void deinit(void), a static constructor
                                              * or a static destructor */
