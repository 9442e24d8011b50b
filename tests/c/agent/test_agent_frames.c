/*
 * The agent's protocol core on the host, under ASan/UBSan (tests/test_live_host.py): tens of
 * thousands of frames, well-formed, mutated, cut short, replayed and random, fed through a
 * memory transport. Checks: every frame gets exactly one answer or error frame, well-formed
 * (magic, version, CRC-32, sequence echoed); nothing is run (no app is loaded: calls find none);
 * no sanitizer report; the port's contract kept (its slot calls under the loader lock); every byte the agent allocated is back after the last HELLO.
 */
#define _GNU_SOURCE /* MAP_32BIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dynapps_agent.h"
#include "dynapps_agent_port.h"
#include "dynapps_trust_mark.h" /* dynapps_crc32 */
#include "host_port.h"

const dynapps_firmware_t dynapps_firmware = {.id = 0x1234u, .count = 0, .symbols = NULL};

int dynapps_call_init(uintptr_t address)
{
    (void)address;
    return 0;
}

void dynapps_call_deinit(uintptr_t address)
{
    (void)address;
}

/* ---------------------------------------------------------------- port hooks */

static long agent_blocks;

/* Below 4 GiB, as on the device: the protocol carries 32-bit addresses. One mapping per block,
 * its size in the first 16 bytes (a write past the block's pages still faults). */
void *dynapps_agent_port_alloc(size_t size)
{
    if (size > (1u << 20)) {
        return NULL; /* a small device */
    }
    uint8_t *p = mmap(NULL, size + 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    agent_blocks++;
    return p + 16;
}

void dynapps_agent_port_free(void *ptr)
{
    if (ptr) {
        uint8_t *block = (uint8_t *)ptr - 16;
        size_t size;
        memcpy(&size, block, sizeof size);
        munmap(block, size + 16);
        agent_blocks--;
    }
}

void dynapps_agent_port_heap(uint32_t free_bytes[DYNAPPS_AGENT_HEAP_KINDS])
{
    free_bytes[0] = free_bytes[1] = (uint32_t)(1000000 - agent_blocks);
    free_bytes[2] = 0;
}

static uint32_t session_seed = 1;

uint32_t dynapps_agent_port_session_start(void)
{
    session_seed = session_seed * 1103515245u + 12345u;
    return session_seed;
}

static uint8_t flash[0x10000];

int dynapps_agent_port_flash_erase(const dynapps_slot_t *slot, uint32_t offset, uint32_t size)
{
    (void)slot;
    if (offset > sizeof flash || size > sizeof flash - offset) return -1;
    memset(flash + offset, 0xFF, size);
    return 0;
}

int dynapps_agent_port_flash_write(const dynapps_slot_t *slot, uint32_t offset, const void *data, uint32_t size)
{
    (void)slot;
    if (offset > sizeof flash || size > sizeof flash - offset) return -1;
    for (uint32_t i = 0; i < size; i++) flash[offset + i] &= ((const uint8_t *)data)[i];
    return 0;
}

int dynapps_agent_port_flash_read(const dynapps_slot_t *slot, uint32_t offset, void *data, uint32_t size)
{
    (void)slot;
    if (offset > sizeof flash || size > sizeof flash - offset) return -1;
    memcpy(data, flash + offset, size);
    return 0;
}

/* ---------------------------------------------------------------- memory transport */

static uint8_t in[8192], out[65536];
static size_t in_size, in_at, out_size;

static size_t mem_read(void *context, uint8_t *data, size_t size, uint32_t timeout_ms)
{
    (void)context;
    (void)timeout_ms; /* no time passes: an empty input is a timeout at once */
    size_t n = in_size - in_at < size ? in_size - in_at : size;
    memcpy(data, in + in_at, n);
    in_at += n;
    return n;
}

static void mem_write(void *context, const uint8_t *data, size_t size)
{
    (void)context;
    if (out_size + size > sizeof out) {
        fprintf(stderr, "FAIL output overflow\n");
        exit(1);
    }
    memcpy(out + out_size, data, size);
    out_size += size;
}

static const dynapps_agent_transport_t transport = {mem_read, mem_write, NULL};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static size_t frame(uint8_t *at, uint8_t type, uint32_t sequence, const uint8_t *payload, uint32_t size)
{
    at[0] = DYNAPPS_AGENT_MAGIC0;
    at[1] = DYNAPPS_AGENT_MAGIC1;
    at[2] = DYNAPPS_AGENT_PROTOCOL_VERSION;
    at[3] = type;
    wr32(at + 4, sequence);
    wr32(at + 8, size);
    if (size) memcpy(at + 12, payload, size);
    wr32(at + 12 + size, dynapps_crc32(0, at + 2, 10 + size));
    return 16 + size;
}

static uint32_t next; /* the sequence number the agent expects, tracked from its answers */

/* Whether the agent took the frame this answers in sequence (it advanced its number). */
static int advanced(uint8_t type, const uint8_t *payload)
{
    if (type != DYNAPPS_AGENT_ERROR) {
        return 1;
    }
    switch (rd32(payload)) {
    case DYNAPPS_AGENT_ERR_BAD_CRC: case DYNAPPS_AGENT_ERR_TRUNCATED: case DYNAPPS_AGENT_ERR_TOO_LONG:
    case DYNAPPS_AGENT_ERR_BAD_VERSION: case DYNAPPS_AGENT_ERR_NO_SESSION: case DYNAPPS_AGENT_ERR_BAD_SEQUENCE:
        return 0;
    default:
        return 1;
    }
}

/* Serve everything in `in`; returns the frames answered, checking each is well-formed. */
static int serve(uint32_t *last_type, uint8_t *last_payload, uint32_t *last_size, uint32_t *last_sequence)
{
    in_at = 0;
    out_size = 0;
    while (in_at < in_size) {
        dynapps_agent_poll(&transport, 0);
    }
    int frames = 0;
    for (size_t at = 0; at < out_size; frames++) {
        if (out_size - at < 16 || out[at] != 0xA5 || out[at + 1] != 0x5A || out[at + 2] != 1) {
            fprintf(stderr, "FAIL malformed answer at %zu\n", at);
            exit(1);
        }
        uint32_t size = rd32(out + at + 8);
        if (size > DYNAPPS_AGENT_MAX_PAYLOAD || at + 16 + size > out_size ||
            rd32(out + at + 12 + size) != dynapps_crc32(0, out + at + 2, 10 + size)) {
            fprintf(stderr, "FAIL answer with a bad length or CRC\n");
            exit(1);
        }
        if (out[at + 3] == (DYNAPPS_AGENT_HELLO | 0x80)) {
            next = rd32(out + at + 12 + 8);
        } else if (rd32(out + at + 4) == next && advanced(out[at + 3], out + at + 12)) {
            next++;
        }
        *last_type = out[at + 3];
        *last_sequence = rd32(out + at + 4);
        *last_size = size;
        memcpy(last_payload, out + at + 12, size);
        at += 16 + size;
    }
    return frames;
}

static uint32_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return n ? rng % n : 0;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 20000;
    host_port_reset();
    memset(flash, 0xFF, sizeof flash);
    host_port_add_slot("alpha", flash, sizeof flash); /* XIP pushes write it through the flash hooks */
    static uint8_t payload[4096], answer[DYNAPPS_AGENT_MAX_PAYLOAD];
    uint32_t type, size, sequence;
    in_size = frame(in, DYNAPPS_AGENT_HELLO, 0, NULL, 0);
    if (serve(&type, answer, &size, &sequence) != 1 || type != (DYNAPPS_AGENT_HELLO | 0x80) || size < 32) {
        fprintf(stderr, "FAIL hello\n");
        return 1;
    }
    uint32_t buffers[8] = {0};
    long answered = 0, errors = 0, by_type[256] = {0};
    for (long i = 0; i < iterations; i++) {
        uint8_t command = (uint8_t)(rnd(10) ? 1 + rnd(11) : rnd(256));
        uint32_t length = rnd(4) ? rnd(40) : rnd(2100);
        for (uint32_t k = 0; k < length; k++) payload[k] = (uint8_t)rnd(256);
        if (length >= 4 && rnd(2)) wr32(payload, buffers[rnd(8)]);   /* a known buffer address */
        if (command == DYNAPPS_AGENT_BUF_ALLOC && rnd(2)) { length = 4; wr32(payload, 1 + rnd(300)); }
        if (command == DYNAPPS_AGENT_PUSH_BEGIN && rnd(2)) { /* a plausible push, often into the slot */
            length = 28;
            wr32(payload, 88 + rnd(3000));
            payload[8] = (uint8_t)(1 + rnd(2));
            if (rnd(2)) memcpy(payload + 12, "alpha\0", 6);
        }
        if (command == DYNAPPS_AGENT_PUSH_DATA && rnd(2)) wr32(payload, rnd(3) ? 0 : rnd(3000));
        if (command == DYNAPPS_AGENT_BUF_READ && rnd(2)) { length = 12; wr32(payload + 8, rnd(400)); }
        if ((command == DYNAPPS_AGENT_BUF_READ || command == DYNAPPS_AGENT_BUF_WRITE) && length >= 8 && rnd(2)) {
            wr32(payload + 4, rnd(16)); /* an offset inside most buffers */
        }
        uint32_t seq = rnd(8) ? next : rnd(0xFFFFFFFFu);
        in_size = frame(in, command, seq, payload, length > DYNAPPS_AGENT_MAX_PAYLOAD + 40 ? 0 : length);
        switch (rnd(6)) {
        case 0: in[rnd((uint32_t)in_size)] ^= (uint8_t)(1 + rnd(255)); break; /* corrupted */
        case 1: in_size = rnd((uint32_t)in_size); break;                      /* cut short */
        case 2: memcpy(in + in_size, in, in_size); in_size *= 2; break;       /* replayed */
        default: break;
        }
        int frames = serve(&type, answer, &size, &sequence);
        answered += frames;
        if (type == DYNAPPS_AGENT_ERROR) errors++;
        if (frames) by_type[type]++;
        if (type == (DYNAPPS_AGENT_BUF_ALLOC | 0x80)) buffers[rnd(8)] = rd32(answer);
    }
    in_size = frame(in, DYNAPPS_AGENT_HELLO, 0, NULL, 0);
    serve(&type, answer, &size, &sequence);
    in_size = frame(in, DYNAPPS_AGENT_HELLO, 0, NULL, 0);
    serve(&type, answer, &size, &sequence);
    if (agent_blocks != 0 || host.heap_bytes != 0 || host.violations != 0 || answer[28] != 0) {
        fprintf(stderr, "FAIL leaked: %ld agent blocks, %zu loader bytes, %ld violations, %u apps\n", agent_blocks,
                host.heap_bytes, host.violations, answer[28]);
        return 1;
    }
    static const uint8_t reached[] = {DYNAPPS_AGENT_PUSH_BEGIN, DYNAPPS_AGENT_PUSH_DATA, DYNAPPS_AGENT_BUF_ALLOC,
                                      DYNAPPS_AGENT_BUF_WRITE, DYNAPPS_AGENT_BUF_READ, DYNAPPS_AGENT_BUF_FREE};
    for (size_t k = 0; k < sizeof reached; k++) {
        if (by_type[reached[k] | 0x80] == 0) { /* the fuzzing must get past the checks of each */
            fprintf(stderr, "FAIL no accepted command %#x (allocs %ld, reads %ld)\n", reached[k], by_type[0x88], by_type[0x8A]);
            return 1;
        }
    }
    printf("PASS %ld iterations, %ld frames answered, %ld ended in an error frame\n", iterations, answered, errors);
    return 0;
}
