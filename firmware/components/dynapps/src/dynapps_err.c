/* Error names, generated from the same X-macro as the enum so the two can't drift apart. */
#include "dynapps.h"

static const char *const names[DYNAPPS_ERR_COUNT] = {
#define DYNAPPS_NAME_ENTRY(name) #name,
    DYNAPPS_ERRORS(DYNAPPS_NAME_ENTRY)
#undef DYNAPPS_NAME_ENTRY
};

const char *dynapps_err_name(dynapps_err_t err)
{
    /* Compare as unsigned: a negative value from a bad cast is also out of range. */
    if ((unsigned)err >= (unsigned)DYNAPPS_ERR_COUNT) {
        return "DYNAPPS_ERR_UNKNOWN";
    }
    return names[err];
}
