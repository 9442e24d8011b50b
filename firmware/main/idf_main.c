/* ESP-IDF entry point of the example firmware; the demo itself is in demo.c. */
#include "demo.h"
#include "sdkconfig.h"

#if CONFIG_DYNAPPS_AGENT
#include "dynapps_agent.h"
#endif

void app_main(void)
{
    dynapps_demo(); /* prints its results and the number of failures */
#if CONFIG_DYNAPPS_AGENT
    dynapps_agent_start(); /* development builds only: sdkconfig.defaults leaves it off (docs/live.md) */
#endif
}
