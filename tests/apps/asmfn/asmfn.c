#include <stdint.h>

int32_t asmfn_mac(const int32_t *a, const int32_t *b, uint32_t count); /* mac.S */

int32_t asmfn_dot(const int32_t *a, const int32_t *b, uint32_t count)
{
    return asmfn_mac(a, b, count);
}
