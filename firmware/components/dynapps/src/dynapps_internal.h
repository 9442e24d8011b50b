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
void dynapps_call_deinit(uintptr_t address); /* the app's void deinit(void) */

/*
 * Which check refused an image. Several causes share one error code (nine header rules all
 * say DYNAPPS_ERR_BAD_HEADER: the user's action is the same, rebuild the app); the trace names
 * the rule. Compiled out unless DYNAPPS_TRACE is defined; then the core calls this function,
 * which the build that defines DYNAPPS_TRACE must provide (the host tests record the name).
 * `check` is a static string such as "header.size_sum", one per rule (docs/loader-api.md).
 */
void dynapps_trace_refusal(const char *check);

/*
 * The stages of a load, in order, for the bench (bench/loadcost.py): the core calls
 * dynapps_trace_phase(phase) as each one starts, and DYNAPPS_PHASE_DONE when the load has
 * finished (successfully or not). Compiled in only where DYNAPPS_TRACE_PHASES is defined: the
 * emulator firmware, whose build defines DYNAPPS_EMU_CTRL_BASE; its default does nothing, the
 * bench firmware's records an emulator mark. An ESP-IDF build has no call at all.
 */
#define DYNAPPS_PHASES(X)                                                                     \
    X(DYNAPPS_PHASE_LOOKUP)      /* finding the slot, "is it loaded already" */             \
    X(DYNAPPS_PHASE_HEADER)      /* header and identity checks */                           \
    X(DYNAPPS_PHASE_BOOKKEEPING) /* a place in the table of loaded apps, the app record */   \
    X(DYNAPPS_PHASE_RESERVE)     /* executable RAM (IRAM) or the data arena range (XIP) */   \
    X(DYNAPPS_PHASE_HASH)        /* SHA-256 of the image */                                 \
    X(DYNAPPS_PHASE_TABLES)      /* firmware id, import slots, export table */              \
    X(DYNAPPS_PHASE_COPY)        /* code/data copy, zeroing; the XIP mapping */             \
    X(DYNAPPS_PHASE_FIXUP)       /* the fix-up loop (IRAM) */                               \
    X(DYNAPPS_PHASE_BIND)        /* import binding */                                       \
    X(DYNAPPS_PHASE_EXPORTS)     /* the export table copied into the allocation (IRAM) */   \
    X(DYNAPPS_PHASE_INIT)        /* looking for and running init */                         \
    X(DYNAPPS_PHASE_DONE)

typedef enum {
#define DYNAPPS_PHASE_ENTRY(name) name,
    DYNAPPS_PHASES(DYNAPPS_PHASE_ENTRY)
#undef DYNAPPS_PHASE_ENTRY
} dynapps_phase_t;

void dynapps_trace_phase(dynapps_phase_t phase);
