/* ESP-IDF entry point of the example firmware; the demo itself is in demo.c. */
#include "demo.h"

void app_main(void)
{
    dynapps_demo(); /* prints its results and the number of failures */
}
