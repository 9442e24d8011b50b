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

const dynapps_firmware_t dynapps_firmware = {FW_ID, 3, fw_symbols};

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
