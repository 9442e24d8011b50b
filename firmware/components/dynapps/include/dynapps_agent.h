/*
 * dynapps agent: serves the live development protocol (docs/live.md) so that a host can push an
 * app into a running firmware, reload it and call its exports, without a reset.
 *
 * Off unless the firmware enables it (ESP-IDF: Kconfig CONFIG_DYNAPPS_AGENT; the emulator
 * firmware: built with DYNAPPS_AGENT=1). Whoever can talk to its transport can run any code:
 * never enable it in a production build (docs/live.md, "Exposure").
 *
 * The protocol core (agent/dynapps_agent.c) is portable C11 with no ESP-IDF includes: a port
 * gives it a byte transport and the hooks of dynapps_agent_port.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dynapps.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DYNAPPS_AGENT_PROTOCOL_VERSION 1u
#define DYNAPPS_AGENT_MAGIC0 0xA5u
#define DYNAPPS_AGENT_MAGIC1 0x5Au
#define DYNAPPS_AGENT_HEADER_SIZE 12u /* magic 2, version 1, type 1, sequence 4, length 4 */
#define DYNAPPS_AGENT_CRC_SIZE 4u
#ifndef DYNAPPS_AGENT_MAX_PAYLOAD
#define DYNAPPS_AGENT_MAX_PAYLOAD 2048u /* bytes of payload in one frame, either way */
#endif
#ifndef DYNAPPS_AGENT_MAX_BUFFERS
#define DYNAPPS_AGENT_MAX_BUFFERS 16u /* host-allocated buffers alive at once */
#endif
#ifndef DYNAPPS_AGENT_FRAME_TIMEOUT_MS
#define DYNAPPS_AGENT_FRAME_TIMEOUT_MS 500u /* a frame that stops for this long is truncated */
#endif
#define DYNAPPS_AGENT_CALL_REGS 8u /* a0..a7, and fa0..fa7 on ilp32f */

/* Frame types: a command, its answer (command | DYNAPPS_AGENT_ANSWER) or an error frame. */
#define DYNAPPS_AGENT_COMMANDS(X)                                                                 \
    X(DYNAPPS_AGENT_HELLO, 0x01)      /* new session: versions, ids, heap, loaded apps */        \
    X(DYNAPPS_AGENT_PUSH_BEGIN, 0x02) /* size, CRC-32, strategy, name: start receiving */        \
    X(DYNAPPS_AGENT_PUSH_DATA, 0x03)  /* offset, bytes: the next piece of the image */           \
    X(DYNAPPS_AGENT_PUSH_END, 0x04)   /* check size and CRC-32, load it, unload the old one */   \
    X(DYNAPPS_AGENT_LOAD, 0x05)       /* load an app from its flash slot */                      \
    X(DYNAPPS_AGENT_UNLOAD, 0x06)     /* unload a loaded app by name */                          \
    X(DYNAPPS_AGENT_CALL, 0x07)       /* call an export with register values the host lowered */ \
    X(DYNAPPS_AGENT_BUF_ALLOC, 0x08)  /* a buffer for array arguments */                         \
    X(DYNAPPS_AGENT_BUF_WRITE, 0x09)                                                             \
    X(DYNAPPS_AGENT_BUF_READ, 0x0A)                                                              \
    X(DYNAPPS_AGENT_BUF_FREE, 0x0B)

typedef enum {
#define DYNAPPS_AGENT_COMMAND_ENTRY(name, value) name = value,
    DYNAPPS_AGENT_COMMANDS(DYNAPPS_AGENT_COMMAND_ENTRY)
#undef DYNAPPS_AGENT_COMMAND_ENTRY
} dynapps_agent_command_t;

#define DYNAPPS_AGENT_ANSWER 0x80u /* answer to command C: type C | 0x80 */
#define DYNAPPS_AGENT_ERROR 0x7Fu  /* error frame: u32 agent error, i32 loader error */

/* What an error frame says; one code per cause the host's user acts on (names: docs/live.md). */
#define DYNAPPS_AGENT_ERRORS(X)                                                                  \
    X(DYNAPPS_AGENT_OK)                                                                          \
    X(DYNAPPS_AGENT_ERR_BAD_CRC)         /* the frame's CRC-32 does not match: corrupted */      \
    X(DYNAPPS_AGENT_ERR_TRUNCATED)       /* the frame stopped before its length was reached */   \
    X(DYNAPPS_AGENT_ERR_TOO_LONG)        /* payload longer than DYNAPPS_AGENT_MAX_PAYLOAD */     \
    X(DYNAPPS_AGENT_ERR_BAD_VERSION)     /* another protocol version */                          \
    X(DYNAPPS_AGENT_ERR_NO_SESSION)      /* a command before HELLO */                            \
    X(DYNAPPS_AGENT_ERR_BAD_SEQUENCE)    /* not the next sequence number: replayed or lost */    \
    X(DYNAPPS_AGENT_ERR_UNKNOWN_COMMAND) /* a frame type the agent does not serve */             \
    X(DYNAPPS_AGENT_ERR_BAD_PAYLOAD)     /* payload too short or its fields inconsistent */      \
    X(DYNAPPS_AGENT_ERR_NO_MEM)          /* no RAM for the image or the buffer */                \
    X(DYNAPPS_AGENT_ERR_NO_PUSH)         /* PUSH_DATA / PUSH_END without PUSH_BEGIN */           \
    X(DYNAPPS_AGENT_ERR_PUSH_OFFSET)     /* a piece out of order, or past the announced size */  \
    X(DYNAPPS_AGENT_ERR_PUSH_INCOMPLETE) /* PUSH_END before every byte arrived */                \
    X(DYNAPPS_AGENT_ERR_PUSH_CRC)        /* the whole image's CRC-32 does not match */           \
    X(DYNAPPS_AGENT_ERR_FLASH)           /* erasing or writing the slot failed */                \
    X(DYNAPPS_AGENT_ERR_FLASH_VERIFY)    /* the slot does not read back what was written */      \
    X(DYNAPPS_AGENT_ERR_LOADER)          /* the loader refused: its dynapps_err_t follows */     \
    X(DYNAPPS_AGENT_ERR_BAD_BUFFER)      /* not a buffer of this session, or out of its range */ \
    X(DYNAPPS_AGENT_ERR_TOO_MANY_BUFFERS)                                                        \
    X(DYNAPPS_AGENT_ERR_BAD_CALL)        /* register counts or return kind this chip can't do */

typedef enum {
#define DYNAPPS_AGENT_ERR_ENTRY(name) name,
    DYNAPPS_AGENT_ERRORS(DYNAPPS_AGENT_ERR_ENTRY)
#undef DYNAPPS_AGENT_ERR_ENTRY
        DYNAPPS_AGENT_ERR_COUNT
} dynapps_agent_err_t;

const char *dynapps_agent_err_name(dynapps_agent_err_t err);

/* How a CALL returns its value: a0 (and a1 for 64-bit values and doubles), or fa0 (a float on
 * ilp32f). */
#define DYNAPPS_AGENT_RETURN_INT 0u
#define DYNAPPS_AGENT_RETURN_FLOAT 1u

/* The byte transport a port gives the agent. */
typedef struct {
    /* Read up to `size` bytes into `data`; wait at most `timeout_ms` for the first one. Returns
     * how many were read, 0 when nothing came in time. */
    size_t (*read)(void *context, uint8_t *data, size_t size, uint32_t timeout_ms);
    /* Send every byte of `data`. */
    void (*write)(void *context, const uint8_t *data, size_t size);
    void *context;
} dynapps_agent_transport_t;

/* Serve at most one frame: wait up to `idle_timeout_ms` for its first byte, then answer it (or
 * refuse it with an error frame). Returns true if a frame (good or bad) was handled. Never blocks
 * longer than idle_timeout_ms + DYNAPPS_AGENT_FRAME_TIMEOUT_MS per piece of the frame. */
bool dynapps_agent_poll(const dynapps_agent_transport_t *transport, uint32_t idle_timeout_ms);

/* Forget the session: abort a push, free every host buffer (the next command needs HELLO). */
void dynapps_agent_reset(void);

/* ESP-IDF port (CONFIG_DYNAPPS_AGENT): start the transport Kconfig chose and the agent's task;
 * 0 on success (also when it runs already), -1 (logged) otherwise. */
int dynapps_agent_start(void);


#ifdef __cplusplus
}
#endif
