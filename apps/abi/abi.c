/* Pure functions over every type class: the firmware calls them through the generated
 * wrappers and the tests compare each result with the host's. */
#include <stddef.h>
#include <stdint.h>

#include "abi_types.h"

int8_t abi_i8(int8_t a, int8_t b) { return (int8_t)(a - b); }
uint8_t abi_u8(uint8_t a, uint8_t b) { return (uint8_t)(a + b); }
int16_t abi_i16(int16_t a, int16_t b) { return (int16_t)(a * 3 - b); }
uint16_t abi_u16(uint16_t a, uint16_t b) { return (uint16_t)(a ^ (b << 1)); }
int32_t abi_i32(int32_t a, int32_t b) { return a / (b | 1) + a % 1000; }
uint32_t abi_u32(uint32_t a, uint32_t b) { return a * 2654435761u + b; }
int64_t abi_i64(int64_t a, int64_t b) { return (a >> 1) - b / 3; }
uint64_t abi_u64(uint64_t a, uint64_t b) { return a / (b | 1) + (a % 1000003u) * b; }

int64_t abi_mixed(int8_t a, int64_t b, int16_t c, int64_t d, int32_t e, uint64_t f, uint8_t g)
{
    return a + b * 3 + c - d + e + (int64_t)(f >> 7) + g; /* 64-bit pairs spill to the stack */
}

float abi_f32(float a, float b) { return a * b + a / 3.0f; }
double abi_f64(double a, double b) { return a * b + a / 3.0; }

double abi_fp_many(double a, float b, double c, float d, double e, float f, double g, float h, double i, float j)
{
    return a + 2.0 * b + 3.0 * c + 4.0 * d + 5.0 * e + 6.0 * f + 7.0 * g + 8.0 * h + 9.0 * i + 10.0 * j;
}

float abi_f32_identity(float x) { return x; }
double abi_f64_identity(double x) { return x; }
bool abi_bool(bool a, bool b) { return a != b; }

abi_color_t abi_enum(abi_color_t color)
{
    switch (color) {
    case ABI_RED: return ABI_GREEN;
    case ABI_GREEN: return ABI_BLUE;
    case ABI_BLUE: return ABI_BIG;
    default: return ABI_RED;
    }
}

size_t abi_sum(const int32_t *values, size_t count)
{
    size_t sum = 0;
    for (size_t i = 0; i < count; i++) sum += (size_t)values[i];
    return sum;
}

void abi_fill(int32_t *out, uint32_t count, int32_t seed)
{
    for (uint32_t i = 0; i < count; i++) out[i] = seed * (int32_t)i - (int32_t)(i * i);
}

const char *abi_pick(const char *const *names, uint32_t count, uint32_t index) { return names[index % count]; }

abi_s1_t abi_s1(abi_s1_t x) { return (abi_s1_t){(uint8_t)(x.a + 1)}; }
abi_s2_t abi_s2(abi_s2_t x) { return (abi_s2_t){(uint8_t)(x.a * 2), (int8_t)-x.b}; }
abi_s3_t abi_s3(abi_s3_t x) { return (abi_s3_t){x.c, x.a, x.b}; }
abi_s8_t abi_s8(abi_s8_t x, abi_s8_t y) { return (abi_s8_t){x.i - y.i, x.f * y.f}; }

abi_s12_t abi_s12(abi_s12_t x)
{
    return (abi_s12_t){(int16_t)(x.h - 1), (uint8_t)(x.b + 1), x.i * 2, x.f + 0.5f};
}

abi_s24_t abi_s24(abi_s24_t x, abi_s24_t y)
{
    return (abi_s24_t){x.d - y.d, x.l + y.l, x.u ^ y.u, (int8_t)(x.c - y.c)};
}

abi_u4_t abi_u4(abi_u4_t x)
{
    abi_u4_t r;
    r.u = x.u ^ 0x80000000u; /* flips the float's sign */
    return r;
}

int64_t abi_callback(abi_combine_fn combine, int64_t a, int32_t b, void *context)
{
    return combine(a, b, context) + combine(-a, b + 1, context);
}
