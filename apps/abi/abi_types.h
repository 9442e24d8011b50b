/* Types of the abi app's exports: listed under `headers` in app.yaml, so the firmware's
 * generated wrappers see the same definitions as the app. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct { uint8_t a; } abi_s1_t;                                  /* 1 byte */
typedef struct { uint8_t a; int8_t b; } abi_s2_t;                        /* 2 bytes */
typedef struct { uint8_t a, b, c; } abi_s3_t;                            /* 3 bytes */
typedef struct { int32_t i; float f; } abi_s8_t;                         /* 8: int + float (a0 + fa0 on ilp32f) */
typedef struct { int16_t h; uint8_t b; int32_t i; float f; } abi_s12_t;  /* 12: through memory */
typedef struct { double d; int64_t l; uint32_t u; int8_t c; } abi_s24_t; /* 24: hidden pointer */

typedef union {
    float f;
    uint32_t u;
    int16_t h[2];
} abi_u4_t;

typedef enum { ABI_RED = 1, ABI_GREEN = 2, ABI_BLUE = 4, ABI_BIG = 0x7FFFFFFF } abi_color_t;

/* A firmware function the app calls back. */
typedef int64_t (*abi_combine_fn)(int64_t a, int32_t b, void *context);
