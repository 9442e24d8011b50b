/*
 * What a port supplies to the agent's protocol core (agent/dynapps_agent.c), besides the byte
 * transport it passes to dynapps_agent_poll. Ports: agent/port/esp-idf (FreeRTOS task, UART or
 * USB-Serial-JTAG), the emulator firmware (firmware/emulator/emu_agent.c).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "dynapps_port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DYNAPPS_AGENT_HEAP_KINDS 3 /* byte-addressable internal RAM, executable RAM, PSRAM */

/* RAM for a pushed IRAM image and the host's buffers (byte-addressable data RAM, any task, no
 * loader lock held). NULL when there is none. */
void *dynapps_agent_port_alloc(size_t size);
void dynapps_agent_port_free(void *ptr);

/* Free heap bytes of each kind, for HELLO (0 for a kind the chip does not have). */
void dynapps_agent_port_heap(uint32_t free_bytes[DYNAPPS_AGENT_HEAP_KINDS]);

/* The first sequence number of a new session: differs from one HELLO to the next, so the frames
 * of an earlier session are refused as replayed (a random number on a chip). */
uint32_t dynapps_agent_port_session_start(void);

/* The flash of an app slot (an XIP push), `offset` from the slot's start. Erase takes whole
 * sectors (DYNAPPS_TRUST_MARK_SECTOR, 4 KiB). Each returns 0 on success. */
int dynapps_agent_port_flash_erase(const dynapps_slot_t *slot, uint32_t offset, uint32_t size);
int dynapps_agent_port_flash_write(const dynapps_slot_t *slot, uint32_t offset, const void *data, uint32_t size);
int dynapps_agent_port_flash_read(const dynapps_slot_t *slot, uint32_t offset, void *data, uint32_t size);

#ifdef __cplusplus
}
#endif
