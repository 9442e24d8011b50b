/*
 * The loader core's host tests (tests/test_loader_host.py): runs each test of loader_tests.h,
 * checks the port is clean after it, prints PASS/FAIL per test and the totals.
 * ./test_loader xip runs only the tests whose name contains "xip".
 */
#include "loader_tests.h"

#define TEST(fn) {#fn, fn},

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {LOADER_TESTS(TEST)};

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) {
            continue; /* optional filter: ./test_loader xip */
        }
        host_port_reset();
        memset(&calls, 0, sizeof calls);
        memset(&refusals, 0, sizeof refusals);
        failures = 0;
        tests[i].fn();
        CHECK_CLEAN(); /* whatever the test did, the port must be back where it started */
        printf("%s %s\n", failures == 0 ? "PASS" : "FAIL", tests[i].name);
        fflush(stdout);
        if (failures == 0) {
            passed++;
        } else {
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
