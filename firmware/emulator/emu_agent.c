/*
 * The emulator firmware's agent port (docs/live.md): the agent's protocol core
 * (components/dynapps/agent) served in the main loop, no RTOS, over the emulator's UART, which
 * the host reaches through a pty (src/dynapps/emulator/bridge.py). Flash erase and write go
 * through the control block's flash controller; the slot is read back through its data view.
 */
#include <stdio.h>
#include <string.h>

#include "dynapps_agent.h"
#include "dynapps_agent_port.h"
#include "dynapps_emu.h"

/* Each empty status read of a bridged UART stands for 1 ms (dynapps_emu.h), the agent's clock. */
static size_t emu_agent_read(void *context, uint8_t *data, size_t size, uint32_t timeout_ms)
{
    (void)context;
    size_t got = 0;
    uint32_t idle_ms = 0;
    while (got < size) {
        uint32_t waiting = dynapps_emu_uart_rx_count();
        if (waiting == 0) {
            if (got > 0 || idle_ms >= timeout_ms) {
                break;
            }
            idle_ms++;
            continue;
        }
        while (waiting-- > 0 && got < size) {
            data[got++] = dynapps_emu_uart_getc();
        }
    }
    return got;
}

static void emu_agent_write(void *context, const uint8_t *data, size_t size)
{
    (void)context;
    for (size_t i = 0; i < size; i++) {
        dynapps_emu_uart_putc((char)data[i]);
    }
}

/* The port's heap: single core, no RTOS, so no lock is needed around it. */
void *dynapps_agent_port_alloc(size_t size)
{
    return dynapps_port_malloc(size);
}

void dynapps_agent_port_free(void *ptr)
{
    dynapps_port_free(ptr);
}

void dynapps_agent_port_heap(uint32_t free_bytes[DYNAPPS_AGENT_HEAP_KINDS])
{
    uint32_t heap = (uint32_t)dynapps_emu_heap_free(); /* one heap: data and executable RAM */
    free_bytes[0] = heap;
    free_bytes[1] = heap;
    free_bytes[2] = (uint32_t)dynapps_emu_psram_free(); /* 0 on a chip without PSRAM */
}

/* The emulator has no entropy source: sessions are numbered, so an earlier session's frames are
 * still refused, but the numbers repeat from one boot to the next (a board's do not). */
uint32_t dynapps_agent_port_session_start(void)
{
    static uint32_t sessions;
    return ++sessions << 20;
}

int dynapps_agent_port_flash_erase(const dynapps_slot_t *slot, uint32_t offset, uint32_t size)
{
    return dynapps_emu_flash(DYNAPPS_EMU_FLASH_ERASE, slot->flash_offset + offset, NULL, size) ==
                   DYNAPPS_EMU_FLASH_OK ? 0 : -1;
}

int dynapps_agent_port_flash_write(const dynapps_slot_t *slot, uint32_t offset, const void *data, uint32_t size)
{
    return dynapps_emu_flash(DYNAPPS_EMU_FLASH_WRITE, slot->flash_offset + offset, data, size) ==
                   DYNAPPS_EMU_FLASH_OK ? 0 : -1;
}

int dynapps_agent_port_flash_read(const dynapps_slot_t *slot, uint32_t offset, void *data, uint32_t size)
{
    if (offset > slot->size || size > slot->size - offset) {
        return -1;
    }
    memcpy(data, slot->bytes + offset, size); /* the identity data view of the flash */
    return 0;
}

void dynapps_emu_agent_serve(void)
{
    static const dynapps_agent_transport_t transport = {emu_agent_read, emu_agent_write, NULL};
    printf("AGENT ready: protocol %u, heap %lu free\n", DYNAPPS_AGENT_PROTOCOL_VERSION,
           (unsigned long)dynapps_emu_heap_free());
    for (;;) {
        dynapps_agent_poll(&transport, 1000);
    }
}
