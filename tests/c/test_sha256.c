/*
 * The port's software SHA-256 (dynapps_sha256.c): FIPS vectors, block boundaries, chunks.
 */
#include "loader_tests.h"

#define CHECK_SHA(data, size, want) check_sha((data), (size), (want), __FILE__, __LINE__)

void test_sha256_fips_vectors(void)
{
    CHECK_SHA("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_SHA(m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                       "nopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK_SHA(m896, strlen(m896),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK_SHA("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    uint8_t *million = malloc(1000000);
    memset(million, 'a', 1000000);
    CHECK_SHA(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

/* Padding edge cases (55/56 bytes: length fits / doesn't fit the last block) and incremental
 * updates in awkward chunk sizes. Reference digests from Python's hashlib. */
void test_sha256_boundaries_and_chunks(void)
{
    static const struct {
        size_t n;
        const char *digest;
    } as[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    uint8_t a[120];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
        CHECK_SHA(a, as[i].n, as[i].digest);
    }

    static const size_t chunks[] = {1, 3, 63, 64, 65, 1000, 4096};
    uint8_t *million = malloc(1000000);
    memset(million, 'a', 1000000);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        dynapps_sha256_t ctx;
        uint8_t d[32];
        char got[65];
        dynapps_sha256_init(&ctx);
        for (size_t done = 0; done < 1000000;) {
            size_t n = 1000000 - done < chunks[c] ? 1000000 - done : chunks[c];
            dynapps_sha256_update(&ctx, million + done, n);
            done += n;
        }
        dynapps_sha256_final(&ctx, d);
        hex(d, got);
        CHECK(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    }
    free(million);
}
