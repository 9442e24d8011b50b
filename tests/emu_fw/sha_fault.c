/* One digest of a range the test writes into sha_source / sha_size before the run. */
#include "emu_test.h"
volatile uint32_t sha_source = 1, sha_size = 1;  /* .data: the test writes them before the run */
int main(void) {
    uint8_t digest[32];
    puts("before");
    dynapps_emu_sha256((const void *)(uintptr_t)sha_source, sha_size, digest);
    puts("after");
    return 0;
}
