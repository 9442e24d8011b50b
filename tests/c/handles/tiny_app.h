/*
 * What the handle and thread tests share: a tiny IRAM app image, the (empty) firmware export
 * table it binds against, and a runner that turns a deadlock into a failure.
 *
 * The tiny app is 16 bytes of code, every byte its tag: one callable export at 8 (index 0, so
 * that a wrapper with one export fits it), init at 0 and deinit at 4 (indexes 1 and 2). The host port runs without an IRAM alias (i_d_offset 0), so the address
 * the core hands out for a call is the app's code in host memory: reading the tag there is how
 * the tests "execute" it, and ASan reports it if that memory has been freed.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TINY_RUN 0u /* export index of the callable function */

/* A malloc'd image (free with free()) of the tiny app `name` (its slot's label) whose code bytes
 * are all `tag`. */
uint8_t *tiny_image(const char *name, uint8_t tag, size_t *size);

/* The tag of the app whose code is at `address` (an address the core gave out). */
uint8_t tiny_tag(uintptr_t address);

typedef struct {
    const char *name;
    void (*fn)(void);
} tiny_test_t;

/* Run the tests whose name contains argv[1] (all without it): each between host_port_reset +
 * `before` and `after`, with a watchdog: a test still running after `seconds` is reported as
 * deadlocked and the process exits 3. *failures counts a test's failed checks. Prints PASS/FAIL
 * per test and "N passed, M failed"; returns the exit code. */
int tiny_run(const tiny_test_t *tests, size_t count, int *failures, void (*before)(void),
             void (*after)(void), unsigned seconds, int argc, char **argv);
