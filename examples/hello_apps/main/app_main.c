/* Calls the two apps through their generated wrappers (dynapps_greet.h, dynapps_scale.h): the
 * first call loads an app from its flash slot. */
#include <stdio.h>

#include "dynapps.h"
#include "dynapps_greet.h"
#include "dynapps_scale.h"

/* A call that could not run (the app is missing or broken) returns 0 and lands here. */
void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    printf("dynapps: %s.%s did not run: %s\n", app, function, dynapps_err_name(err));
}

void app_main(void)
{
    greet("ESP-IDF");
    printf("scale(21) = %ld\n", (long)scale(21));
}
