#include <stdint.h>

int32_t scale(int32_t value)
{
    return value * 2;
}
