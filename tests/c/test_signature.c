/*
 * Signed images (src/dynapps_verify.c, signature_ok): an ECDSA P-256 signature over the image's
 * SHA-256 follows it, checked with the firmware's key (dynapps_firmware.signing_key) through the
 * port (here OpenSSL, tests/c/host_port.c). The host tests build the core without
 * DYNAPPS_REQUIRE_SIGNED_IMAGES; an unsigned image refused where signing is required is tested
 * in the emulator (tests/test_signing.py).
 */
#include "loader_tests.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

/* A fresh P-256 key pair; its public point becomes the firmware's key when `install`. */
static EVP_PKEY *new_key(bool install)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    CHECK(key != NULL);
    size_t length = 0;
    uint8_t point[DYNAPPS_SIGNING_KEY_SIZE];
    CHECK(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &length) == 1);
    CHECK(length == DYNAPPS_SIGNING_KEY_SIZE && point[0] == 0x04);
    if (install) {
        memcpy(fw_signing_key, point, sizeof point);
    }
    return key;
}

/* The raw r || s signature of `hash` by `key`. */
static void sign_hash(EVP_PKEY *key, const uint8_t hash[32], uint8_t out[DYNAPPS_IMAGE_SIGNATURE_SIZE])
{
    unsigned char der[80];
    size_t der_length = sizeof der;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    CHECK(ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_sign(ctx, der, &der_length, hash, 32) == 1);
    EVP_PKEY_CTX_free(ctx);
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_length);
    CHECK(sig != NULL);
    CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32);
    ECDSA_SIG_free(sig);
}

/* A signed copy of an unsigned image, as image.py writes one: the flag set, image_size 64 bytes
 * more, the SHA-256 over the header and body, then the signature of that SHA-256. */
static uint8_t *signed_copy(EVP_PKEY *key, const uint8_t *image, size_t size, size_t *signed_size)
{
    uint8_t *out = malloc(size + DYNAPPS_IMAGE_SIGNATURE_SIZE);
    CHECK(out != NULL);
    memcpy(out, image, size);
    dynapps_image_header_t h;
    ib_read_header(out, &h);
    h.flags |= DYNAPPS_IMAGE_FLAG_SIGNED;
    h.image_size += DYNAPPS_IMAGE_SIGNATURE_SIZE;
    ib_write_header(out, &h);
    ib_rehash(out, size); /* the hash stays where it was: [size - 32, size) */
    sign_hash(key, out + size - DYNAPPS_IMAGE_HASH_SIZE, out + size);
    *signed_size = size + DYNAPPS_IMAGE_SIGNATURE_SIZE;
    return out;
}

void test_signed_image_loads(void)
{
    size_t size, signed_size;
    uint8_t *image = iram_image(&size);
    EVP_PKEY *key = new_key(true);
    uint8_t *good = signed_copy(key, image, size, &signed_size);
    EXPECT_BUFFER(good, signed_size, DYNAPPS_OK);
    CHECK(host.signature_checks == 1);
    long allocations = host.alloc_calls;
    CHECK(dynapps_verify_image(good, signed_size) == DYNAPPS_OK);
    CHECK(host.alloc_calls == allocations && host.signature_checks == 2); /* verified, nothing placed */
    EXPECT_BUFFER(image, size, DYNAPPS_OK); /* unsigned: accepted, signing is not required here */
    free(good);
    free(image);
    EVP_PKEY_free(key);
    memset(fw_signing_key, 0, DYNAPPS_SIGNING_KEY_SIZE);
}

/* Every tampering is refused before anything is copied or run: a byte of the body or header
 * with the SHA-256 made to match (what an attacker would do), a byte of the signature, a
 * signature by another key, and the signature cut off with the image made to look unsigned
 * is accepted only because this firmware does not require signing (the emulator tests show
 * it refused where it does). */
void test_tampered_signed_image_is_refused(void)
{
    size_t size, signed_size;
    uint8_t *image = iram_image(&size);
    EVP_PKEY *key = new_key(true), *other = new_key(false);
    uint8_t *good = signed_copy(key, image, size, &signed_size);
    const size_t body = DYNAPPS_IMAGE_HEADER_SIZE + 4u;
    const size_t header = offsetof(dynapps_image_header_t, version_patch); /* the loader ignores it */
    const size_t offsets[] = {body, header};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *bad = copy_of(good, signed_size, 0);
        bad[offsets[i]] ^= 0x01;
        EXPECT_BUFFER(bad, signed_size, DYNAPPS_ERR_HASH_MISMATCH);
        ib_rehash(bad, size);
        EXPECT_BUFFER(bad, signed_size, DYNAPPS_ERR_BAD_SIGNATURE);
        CHECK(dynapps_verify_image(bad, signed_size) == DYNAPPS_ERR_BAD_SIGNATURE);
        free(bad);
    }
    for (size_t at = size; at < signed_size; at += 7u) {
        uint8_t *bad = copy_of(good, signed_size, 0);
        bad[at] ^= 0x80;
        EXPECT_BUFFER(bad, signed_size, DYNAPPS_ERR_BAD_SIGNATURE);
        free(bad);
    }
    uint8_t *by_other = signed_copy(other, image, size, &signed_size);
    EXPECT_BUFFER(by_other, signed_size, DYNAPPS_ERR_BAD_SIGNATURE);
    EXPECT_BUFFER(good, signed_size - 1u, DYNAPPS_ERR_TRUNCATED);
    CHECK(calls.init_calls == 0); /* nothing of a refused image ran */
    free(by_other);
    free(good);
    free(image);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    memset(fw_signing_key, 0, DYNAPPS_SIGNING_KEY_SIZE);
}
