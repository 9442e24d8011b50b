#include <stdint.h>

int32_t tls_add(int32_t a, int32_t b) { return a + b; }
