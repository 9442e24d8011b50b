/*
 * The loader host tests' firmware export table and the hooks the core calls: init/deinit
 * (recorded, not executed: -DDYNAPPS_APP_CALL_HOOK) and the refusal trace (-DDYNAPPS_TRACE).
 */
#include "loader_fixtures.h"

/* ---- the firmware export table the test images bind against ------------------------------ */

int fw_puts(const char *s) { return s != NULL; }
int fw_add(int a, int b) { return a + b; }
void fw_unused(void) {}

static const dynapps_symbol_t fw_symbols[] = {
    {"fw_puts", (const void *)fw_puts},
    {"fw_add", (const void *)fw_add},
    {"fw_unused", (const void *)fw_unused},
};

/* The ids of the table's prefixes (the build computes them from the names; here any distinct
 * values do): an image names the prefix it needs, the whole table in these tests. */
static const uint32_t fw_prefix_ids[] = {FW_PREFIX_1_ID, FW_PREFIX_2_ID, FW_ID};

/* The firmware's public key: the signature tests put one there and clear it after; all zeros
 * is not a point on the curve, so no signature verifies with it. */
uint8_t fw_signing_key[DYNAPPS_SIGNING_KEY_SIZE];

const dynapps_firmware_t dynapps_firmware = {FW_ID, 3, fw_symbols, fw_prefix_ids, fw_signing_key};

/* ---- call hooks: what the core would have called ------------------------------------------ */

call_record_t calls;
refusal_record_t refusals;

static void log_call(char kind, uintptr_t address)
{
    if (calls.count < CALL_LOG_DEPTH) {
        calls.kinds[calls.count] = kind;
        calls.addrs[calls.count] = (uint32_t)address;
    }
    calls.count++;
}

int dynapps_call_init(uintptr_t address)
{
    CHECK(!host_port_lock_held()); /* documented: init runs without the loader lock */
    log_call('i', address);
    calls.init_calls++;
    calls.init_addr = address;
    return calls.init_result;
}

void dynapps_call_deinit(uintptr_t address)
{
    CHECK(!host_port_lock_held());
    log_call('v', address);
    calls.deinit_calls++;
    calls.deinit_addr = address;
}

void dynapps_trace_refusal(const char *check)
{
    refusals.checks[refusals.count % TRACE_DEPTH] = check;
    refusals.count++;
}
