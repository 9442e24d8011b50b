/* The host reference of the test apps (tests/test_link_apps.py compiles it natively with the
 * apps' C sources): calls each app named on the command line, as the emulator firmware does. */
#include "checks_calls.h"
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (checks_call_app(argv[i]) != 0) return 1;
    }
    return 0;
}
