/* Host test port (see host_port.h). The lock is a real, non-recursive pthread mutex, like the
 * FreeRTOS mutex of the ESP-IDF port: a task that takes it twice deadlocks. Everything else in
 * the port is only touched with that lock held (require_lock checks it, per thread), so the
 * counters need no locking of their own. */
#define _DEFAULT_SOURCE /* mmap */

#include "host_port.h"
#include "dynapps_sha256.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_SIZE 0x1000u
#define ARENA_HINT ((void *)0x20000000) /* any free address below 4 GiB */
#define MAX_LIVE 64

host_port_t host;

/* PTHREAD_MUTEX_DEFAULT: not recursive, as FreeRTOS's xSemaphoreCreateMutex. */
static pthread_mutex_t port_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int lock_held_here; /* this thread holds port_mutex */

/* Every live allocation, so frees can be checked and bytes counted. */
static struct {
    void *ptr;
    size_t size;
    int exec;
} live[MAX_LIVE];

/* The block dynapps_port_free kept for reuse (host.reuse_freed), and its size. */
static void *kept_block;
static size_t kept_size;

static void violation(const char *what)
{
    fprintf(stderr, "  port contract violation: %s\n", what);
    host.violations++;
}

static void require_lock(const char *fn)
{
    if (!lock_held_here) {
        violation(fn);
    }
}

int host_port_lock_held(void) { return lock_held_here; }

static void map_arena(void)
{
    void *p = mmap(ARENA_HINT, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED || (uintptr_t)p + ARENA_SIZE > ((uintptr_t)1 << 32)) {
        fprintf(stderr, "cannot map a data arena below 4 GiB\n");
        exit(2);
    }
    host.arena = p;
}

void host_port_reset(void)
{
    uint8_t *arena = host.arena;
    free(kept_block);
    kept_block = NULL;
    memset(&host, 0, sizeof host);
    memset(live, 0, sizeof live);
    host.arena = arena;
    if (host.arena == NULL) {
        map_arena();
    }
    host.arena_size = ARENA_SIZE;
    memset(host.arena, 0xA5, ARENA_SIZE); /* so tests see what the core wrote */
    host.i_d_offset = 0x700000;
    host.fail_alloc_at = -1;
    host.exec_err = DYNAPPS_OK;
}

host_slot_t *host_port_add_slot(const char *name, const uint8_t *bytes, uint32_t size)
{
    if (host.slot_count >= HOST_MAX_SLOTS) {
        return NULL;
    }
    host.slots[host.slot_count++] =
        (host_slot_t){name, bytes, size, 0x100000u * (uint32_t)(host.slot_count + 1), 0};
    return &host.slots[host.slot_count - 1];
}

void host_port_allow_xip(uintptr_t vaddr)
{
    for (int i = 0; i < HOST_MAX_XIP_VADDRS; i++) {
        if (host.xip_vaddrs[i] == 0) {
            host.xip_vaddrs[i] = vaddr;
            return;
        }
    }
}

/* Decide whether this allocation is the one to fail. */
static int alloc_fails(void) { return host.alloc_calls++ == host.fail_alloc_at; }

static void track(void *ptr, size_t size, int exec)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i].ptr == NULL) {
            live[i].ptr = ptr;
            live[i].size = size;
            live[i].exec = exec;
            host.heap_bytes += size;
            host.heap_blocks++;
            return;
        }
    }
    violation("too many live allocations");
}

static size_t untracked_size; /* size of the block untrack found last */

static int untrack(void *ptr, int exec)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i].ptr == ptr && ptr != NULL && live[i].exec == exec) {
            untracked_size = live[i].size;
            host.heap_bytes -= live[i].size;
            host.heap_blocks--;
            live[i].ptr = NULL;
            return 1;
        }
    }
    violation(exec == 2 ? "psram_free of unknown memory" : exec ? "exec_free of unknown memory"
                                                                : "free of unknown memory");
    return 0;
}

void *dynapps_port_malloc(size_t size)
{
    require_lock("malloc without lock");
    if (alloc_fails()) {
        return NULL;
    }
    void *p = NULL;
    if (kept_block != NULL && kept_size == size) {
        p = kept_block;
        kept_block = NULL;
        host.reused_blocks++;
    } else {
        p = malloc(size);
    }
    if (p != NULL) {
        memset(p, 0x5A, size);
        track(p, size, 0);
    }
    return p;
}

void dynapps_port_free(void *ptr)
{
    require_lock("free without lock");
    if (ptr != NULL && untrack(ptr, 0)) {
        if (host.reuse_freed && kept_block == NULL) {
            kept_block = ptr;
            kept_size = untracked_size;
        } else {
            free(ptr);
        }
    }
}

/* Code memory of `kind` (1: exec_alloc, 2: psram_alloc), fetched at the view + i_d_offset. */
static dynapps_err_t code_alloc(int kind, dynapps_err_t refusal, uintptr_t i_d_offset, size_t size, size_t align,
                                uintptr_t *exec_addr, uint8_t **data_view)
{
    host.exec_align = align;
    if (align == 0 || (align & (align - 1)) != 0) {
        violation("exec_alloc alignment not a power of two");
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (refusal != DYNAPPS_OK) {
        return refusal;
    }
    if (host.exec_limit != 0 && size > host.exec_limit) {
        return DYNAPPS_ERR_NO_MEM;
    }
    if (alloc_fails()) {
        return DYNAPPS_ERR_NO_MEM;
    }
    size_t a = align < 16 ? 16 : align;
    uint8_t *p = aligned_alloc(a, (size + a) & ~(a - 1)); /* C11: size a multiple of align */
    if (p == NULL) {
        return DYNAPPS_ERR_NO_MEM;
    }
    memset(p, 0xA5, size); /* garbage the core must overwrite or zero */
    track(p, size, kind);
    host.exec_view = *data_view = p;
    host.exec_addr = *exec_addr = (uintptr_t)p + i_d_offset;
    return DYNAPPS_OK;
}

dynapps_err_t dynapps_port_exec_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                      uint8_t **data_view)
{
    require_lock("exec_alloc without lock");
    return code_alloc(1, host.exec_err, host.i_d_offset, size, align, exec_addr, data_view);
}

void dynapps_port_exec_free(uint8_t *data_view)
{
    require_lock("exec_free without lock");
    if (untrack(data_view, 1)) {
        free(data_view);
    }
}

/* PSRAM has one address for fetch and data. */
dynapps_err_t dynapps_port_psram_alloc(size_t size, size_t align, uintptr_t *exec_addr,
                                       uint8_t **data_view)
{
    require_lock("psram_alloc without lock");
    dynapps_err_t err = code_alloc(2, host.psram_err, 0, size, align, exec_addr, data_view);
    host.psram_allocs += err == DYNAPPS_OK;
    return err;
}

void dynapps_port_psram_free(uint8_t *data_view)
{
    require_lock("psram_free without lock");
    if (untrack(data_view, 2)) {
        free(data_view);
    }
}

void dynapps_port_sync_code(uint8_t *data_view, uintptr_t exec_addr, size_t size)
{
    require_lock("sync_code without lock");
    host.sync_view = data_view;
    host.sync_exec = exec_addr;
    host.sync_size = size;
    host.sync_calls++;
}

dynapps_err_t dynapps_port_find_slot(const char *name, dynapps_slot_t *slot)
{
    require_lock("find_slot without lock");
    for (size_t i = 0; i < host.slot_count; i++) {
        if (strcmp(host.slots[i].name, name) == 0) {
            slot->bytes = host.slots[i].bytes;
            slot->size = host.slots[i].size;
            slot->flash_offset = host.slots[i].flash_offset;
            slot->id = (uintptr_t)&host.slots[i];
            slot->port_handle = &host.slots[i];
            memset(slot->label, 0, sizeof slot->label);
            strncpy(slot->label, host.slots[i].name, sizeof slot->label);
            slot->xip_vaddr = host.slots[i].xip_vaddr;
            host.slots_live++;
            return DYNAPPS_OK;
        }
    }
    return DYNAPPS_ERR_NOT_FOUND;
}

void dynapps_port_release_slot(dynapps_slot_t *slot)
{
    require_lock("release_slot without lock");
    host_slot_t *s = slot->port_handle;
    if (s < host.slots || s >= host.slots + host.slot_count) {
        violation("release_slot of an unknown slot");
        return;
    }
    host.slots_live--;
}

/* The host's slots are RAM: the mark is written into the slot's bytes, erased sector first. */
bool dynapps_port_write_trust_mark(const dynapps_slot_t *slot, uint32_t offset, const void *mark, size_t size)
{
    require_lock("write_trust_mark without lock");
    host_slot_t *s = slot->port_handle;
    if (offset + 4096u > s->size || size > 4096u) {
        violation("write_trust_mark outside the slot");
        return false;
    }
    memset((uint8_t *)s->bytes + offset, 0xFF, 4096u);
    memcpy((uint8_t *)s->bytes + offset, mark, size);
    host.marks_written++;
    return true;
}

/* The mapping handle: any unique non-NULL pointer will do. */
static char mapping_token;

dynapps_err_t dynapps_port_map_xip(const dynapps_slot_t *slot, uintptr_t vaddr, size_t size,
                                   void **mapping)
{
    require_lock("map_xip without lock");
    host.xip_vaddr = vaddr;
    host.xip_size = size;
    host.xip_flash_offset = slot->flash_offset;
    if (size > slot->size) {
        violation("map_xip beyond the slot");
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (vaddr != slot->xip_vaddr || vaddr == 0) {
        violation("map_xip where the slot is not mapped (the core must check xip_vaddr)");
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    for (int i = 0; i < HOST_MAX_XIP_VADDRS; i++) {
        if (host.xip_vaddrs[i] != 0 && host.xip_vaddrs[i] == vaddr) {
            host.maps_live++;
            *mapping = &mapping_token;
            return DYNAPPS_OK;
        }
    }
    return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
}

void dynapps_port_unmap_xip(void *mapping)
{
    require_lock("unmap_xip without lock");
    if (mapping != &mapping_token) {
        violation("unmap_xip of an unknown mapping");
        return;
    }
    host.maps_live--;
}

void dynapps_port_data_arena(uintptr_t *base, size_t *size)
{
    require_lock("data_arena without lock");
    *base = (uintptr_t)host.arena;
    *size = host.arena_size;
}

void dynapps_port_arena_refused(uint32_t base, uint64_t size, uintptr_t arena, size_t arena_size)
{
    require_lock("arena_refused without lock");
    host.arena_refusals++;
    host.refused_base = base;
    host.refused_size = size;
    host.refused_arena = arena;
    host.refused_arena_size = arena_size;
}

/* The core's software SHA-256, as a port without an accelerator would do it. */
void dynapps_port_sha256(const void *data, size_t size, uint8_t digest[32])
{
    require_lock("sha256 without lock");
    host.sha_calls++;
    host.sha_bytes = size;
    dynapps_sha256(data, size, digest);
}

/* ECDSA P-256 through OpenSSL 3 (libcrypto): the raw r || s is turned into the DER form
 * OpenSSL verifies. Anything malformed (a key not on the curve, r or s out of range) is false. */
static EVP_PKEY *p256_public_key(const uint8_t *point)
{
    char group[] = "prime256v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, DYNAPPS_SIGNING_KEY_SIZE),
        OSSL_PARAM_END,
    };
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static int der_signature(const uint8_t *raw, unsigned char **der)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    int length = -1;
    if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* the signature owns them */
        length = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return length;
}

bool dynapps_port_verify_signature(const uint8_t hash[32], const uint8_t *signature, const uint8_t *public_key)
{
    require_lock("verify_signature without lock");
    host.signature_checks++;
    EVP_PKEY *key = p256_public_key(public_key);
    unsigned char *der = NULL;
    int der_length = der_signature(signature, &der);
    EVP_PKEY_CTX *ctx = key != NULL ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    bool ok = ctx != NULL && der_length > 0 && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_verify(ctx, der, (size_t)der_length, hash, 32) == 1;
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    return ok;
}

/* A nested lock is reported, then deadlocks for real (as it would on FreeRTOS): the test runner
 * turns the hang into a failure. */
void dynapps_port_lock(void)
{
    if (lock_held_here) {
        fprintf(stderr, "  port contract violation: nested lock: this thread deadlocks now\n");
    }
    pthread_mutex_lock(&port_mutex);
    lock_held_here = 1;
    host.lock_depth++;
}

void dynapps_port_unlock(void)
{
    if (!lock_held_here) {
        violation("unlock without lock");
        return;
    }
    host.lock_depth--;
    lock_held_here = 0;
    pthread_mutex_unlock(&port_mutex);
}
