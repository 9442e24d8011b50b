/* See tiny_app.h. */
#define _POSIX_C_SOURCE 200809L /* alarm, sigaction */

#include "tiny_app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dynapps.h"
#include "host_port.h"
#include "image_builder.h"

#define TINY_FW_ID 0x7E57AB1Eu
#define TINY_CODE 16u

const dynapps_firmware_t dynapps_firmware = {TINY_FW_ID, 0, NULL, NULL, NULL};

uint8_t *tiny_image(const char *name, uint8_t tag, size_t *size)
{
    uint8_t code[TINY_CODE];
    memset(code, tag, sizeof code);
    const ib_export_t exports[] = {
        {"tiny_run", 8, 0}, /* first: what a generated wrapper with one export calls */
        {"tiny_init", 0, DYNAPPS_EXPORT_FLAG_INIT},
        {"tiny_deinit", 4, DYNAPPS_EXPORT_FLAG_DEINIT},
    };
    /* code at 0 and data right after it: the alias rule for a port without an alias */
    const ib_spec_t spec = {.name = name, .strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 2,
                            .exports_id = 0, .code = code, .code_size = TINY_CODE,
                            .bss_size = 8, .code_vaddr = 0, .data_vaddr = TINY_CODE,
                            .exports = exports, .export_count = 3};
    return ib_build(&spec, size);
}

uint8_t tiny_tag(uintptr_t address) { return *(const volatile uint8_t *)address; }

static const char *volatile running; /* the test the watchdog names */

static void watchdog(int signal)
{
    (void)signal;
    static const char text[] = "\nDEADLOCK: still running after the watchdog's time: ";
    const char *name = running;
    ssize_t ignored = write(2, text, sizeof text - 1);
    ignored = write(2, name, strlen(name));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(3);
}

int tiny_run(const tiny_test_t *tests, size_t count, int *failures, void (*before)(void),
             void (*after)(void), unsigned seconds, int argc, char **argv)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = watchdog;
    sigaction(SIGALRM, &action, NULL);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) {
            continue;
        }
        host_port_reset();
        host.i_d_offset = 0;
        before();
        *failures = 0;
        running = tests[i].name;
        alarm(seconds);
        tests[i].fn();
        alarm(0);
        after();
        printf("%s %s\n", *failures == 0 ? "PASS" : "FAIL", tests[i].name);
        fflush(stdout);
        *failures == 0 ? passed++ : failed++;
    }
    host_port_reset(); /* gives back the block a reuse_freed test kept */
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
