/*
 * Host test port: implements dynapps_port.h on malloc, with knobs to inject failures and
 * counters so a test can check the core gave back every byte, slot, mapping and lock.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "dynapps_port.h"

#define HOST_MAX_SLOTS 8
#define HOST_MAX_XIP_VADDRS 8

typedef struct {
    const char *name;
    const uint8_t *bytes;
    uint32_t size; /* slot size (may be larger than the image) */
    uint32_t flash_offset;
    uintptr_t xip_vaddr; /* dynapps_slot_t.xip_vaddr: 0 (no XIP) unless a test sets it */
} host_slot_t;

typedef struct {
    /* configuration (host_port_reset restores the defaults) */
    uintptr_t i_d_offset;   /* exec_addr = data_view + i_d_offset */
    long fail_alloc_at;     /* the n-th allocation (malloc or exec, counting from 0) fails; -1 never */
    dynapps_err_t exec_err; /* if not DYNAPPS_OK, exec_alloc fails with it */
    dynapps_err_t psram_err; /* if not DYNAPPS_OK, psram_alloc fails with it */
    size_t exec_limit;      /* exec_alloc of more than this many bytes fails with NO_MEM; 0: no limit */
    int reuse_freed;        /* malloc hands back the block free took last when the size matches,
                               as a real heap may: a record address then comes back at once */
    uintptr_t xip_vaddrs[HOST_MAX_XIP_VADDRS]; /* map_xip succeeds only at these */
    host_slot_t slots[HOST_MAX_SLOTS];
    size_t slot_count;
    uint8_t *arena; /* the data arena: host memory below 4 GiB (addresses are 32-bit) */
    size_t arena_size;

    /* accounting */
    long alloc_calls;
    long reused_blocks; /* mallocs that got the block free kept (reuse_freed) */
    size_t heap_bytes; /* live bytes: bookkeeping malloc + exec allocations (requested sizes) */
    long heap_blocks;
    long slots_live;
    long marks_written; /* trust marks written (only a core built with DYNAPPS_TRUST_MARKS writes one) */
    long maps_live;
    long lock_depth; /* lock holders: 0 or 1 (changed only with the lock held) */
    long violations; /* port contract broken by the core: bad free, call without lock, ... */

    /* what the core asked for last */
    uintptr_t xip_vaddr;
    size_t xip_size;
    uint32_t xip_flash_offset;
    uint8_t *sync_view;
    uintptr_t sync_exec;
    size_t sync_size;
    long sync_calls;
    long signature_checks; /* dynapps_port_verify_signature calls */
    long sha_calls;      /* dynapps_port_sha256 calls (software SHA-256, like a port without hardware) */
    size_t sha_bytes;    /* bytes hashed by the last one */
    uintptr_t exec_addr;
    uint8_t *exec_view;
    size_t exec_align;
    long psram_allocs; /* psram_alloc calls that succeeded (their memory is "exec" memory of kind 2) */
    long arena_refusals;           /* dynapps_port_arena_refused calls */
    uint32_t refused_base;         /* ... and what the last one was told */
    uint64_t refused_size;
    uintptr_t refused_arena;
    size_t refused_arena_size;
} host_port_t;

extern host_port_t host;

/* Whether the calling thread holds the loader lock (dynapps_port_lock). */
int host_port_lock_held(void);

/* Map the arena once (first call), then reset configuration and counters. */
void host_port_reset(void);
/* A slot labelled `name`; NULL when all HOST_MAX_SLOTS are taken. */
host_slot_t *host_port_add_slot(const char *name, const uint8_t *bytes, uint32_t size);
void host_port_allow_xip(uintptr_t vaddr);
