/* The failure count of check.h, one per test binary. */
#include "check.h"

int failures;
