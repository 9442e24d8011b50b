/*
 * The host tests' tiny test framework: checks that count failures instead of stopping, so one
 * run reports every broken check, each with its file and line. The count is shared by every
 * file of a test binary (check.c).
 */
#pragma once

#include <stdio.h>

#include "dynapps.h"
#include "host_port.h"

extern int failures; /* failed checks in the current test (check.c) */

static inline void check_at(int ok, const char *what, const char *file, int line)
{
    if (!ok) {
        fprintf(stderr, "  %s:%d: CHECK failed: %s\n", file, line, what);
        failures++;
    }
}

static inline void check_err_at(dynapps_err_t got, dynapps_err_t want, const char *file, int line)
{
    if (got != want) {
        fprintf(stderr, "  %s:%d: got %s, want %s\n", file, line, dynapps_err_name(got),
                dynapps_err_name(want));
        failures++;
    }
}

/* Everything the core took from the port has been given back. */
static inline void check_clean_at(const char *file, int line)
{
    if (host.heap_bytes != 0 || host.heap_blocks != 0 || host.slots_live != 0 ||
        host.maps_live != 0 || host.lock_depth != 0 || host.violations != 0) {
        fprintf(stderr,
                "  %s:%d: port not clean: heap %zu bytes in %ld blocks, %ld slots, %ld maps, "
                "lock depth %ld, %ld violations\n",
                file, line, host.heap_bytes, host.heap_blocks, host.slots_live, host.maps_live,
                host.lock_depth, host.violations);
        failures++;
    }
}

#define CHECK(cond) check_at((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_ERR(got, want) check_err_at((got), (want), __FILE__, __LINE__)
#define CHECK_CLEAN() check_clean_at(__FILE__, __LINE__)
