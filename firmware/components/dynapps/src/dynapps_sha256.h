/*
 * Portable SHA-256 (FIPS 180-4), used by the loader to verify images and by the host tests'
 * image builder. No allocation, no platform headers: it runs before anything in an image does.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define DYNAPPS_SHA256_SIZE 32u

typedef struct {
    uint32_t state[8];  /* H0..H7 */
    uint64_t length;    /* message bytes hashed so far */
    uint8_t block[64];  /* pending partial block */
    uint32_t used;      /* bytes pending in block */
} dynapps_sha256_t;

void dynapps_sha256_init(dynapps_sha256_t *ctx);
void dynapps_sha256_update(dynapps_sha256_t *ctx, const void *data, size_t size);
void dynapps_sha256_final(dynapps_sha256_t *ctx, uint8_t digest[DYNAPPS_SHA256_SIZE]);

/* One-shot convenience: digest of size bytes at data. */
void dynapps_sha256(const void *data, size_t size, uint8_t digest[DYNAPPS_SHA256_SIZE]);
