/* The host's twin of tests/apps/asmfn/mac.S, for the host reference. */
#include <stdint.h>

int32_t asmfn_mac(const int32_t *a, const int32_t *b, uint32_t count)
{
    uint32_t sum = 0; /* wraps like the RV32 mul/add */
    for (uint32_t i = 0; i < count; i++) sum += (uint32_t)a[i] * (uint32_t)b[i];
    return (int32_t)sum;
}
