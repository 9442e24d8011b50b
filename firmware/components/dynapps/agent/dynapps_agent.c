/*
 * dynapps agent: the protocol core (docs/live.md has the frames byte by byte).
 *
 * Portable C11, no ESP-IDF includes: the port passes a byte transport to dynapps_agent_poll and
 * supplies dynapps_agent_port.h. One frame at a time, in the caller's task; all state is static
 * (two frame buffers of DYNAPPS_AGENT_MAX_PAYLOAD + 16 bytes), so a malformed or truncated frame
 * never allocates. Images go through the loader's own entry points (dynapps_load_from_buffer for
 * an IRAM image, dynapps_load from its slot for an XIP one), so a pushed image is verified by the
 * same path as one loaded from flash: nothing the loader refuses is ever run.
 */
#include "dynapps_agent.h"

#include <string.h>

#include "dynapps_agent_port.h"
#include "dynapps_image.h"
#include "dynapps_trust_mark.h"

#ifndef DYNAPPS_CHIP_ID
#error "DYNAPPS_CHIP_ID must be defined (the esp_chip_id_t of the target)"
#endif

#define FRAME_BYTES (DYNAPPS_AGENT_HEADER_SIZE + DYNAPPS_AGENT_MAX_PAYLOAD + DYNAPPS_AGENT_CRC_SIZE)
#define APP_RECORD_SIZE 28u  /* name 16, strategy 1, pad 1, version 3 x 2, ram_bytes 4 */
#define HELLO_FIXED_SIZE 32u /* before the app records */
#define CALL_FIXED_SIZE 20u  /* app name 16, return kind, int count, float count, export name length */
#define EXPORT_NAME_MAX 63u

typedef struct {
    uint8_t *data;
    uint32_t size;
} agent_buffer_t;

typedef struct {
    bool active;
    uint8_t strategy;
    char name[DYNAPPS_NAME_MAX + 1];
    uint32_t size, crc, received, running_crc;
    uint8_t *image;       /* IRAM: the image in RAM */
    dynapps_slot_t slot;  /* XIP: the slot written in place */
    bool slot_held;
} agent_push_t;

static struct {
    bool session;
    uint32_t next_sequence;
    agent_push_t push;
    agent_buffer_t buffers[DYNAPPS_AGENT_MAX_BUFFERS];
    dynapps_err_t loader_err; /* the loader's code behind DYNAPPS_AGENT_ERR_LOADER */
    uint8_t frame[FRAME_BYTES];
    uint8_t answer[FRAME_BYTES];
} agent;

/* ---------------------------------------------------------------- little-endian fields, CRC */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/* A name field of 16 bytes, NUL-padded (or exactly 16 characters), as a C string. */
static void get_name(const uint8_t *field, char name[DYNAPPS_NAME_MAX + 1])
{
    memcpy(name, field, DYNAPPS_NAME_MAX);
    name[DYNAPPS_NAME_MAX] = '\0';
}

/* ---------------------------------------------------------------- session state */

static void push_abort(void)
{
    agent_push_t *push = &agent.push;
    dynapps_agent_port_free(push->image);
    if (push->slot_held) {
        dynapps_port_lock(); /* the port's slot bookkeeping is the loader's: under its lock */
        dynapps_port_release_slot(&push->slot);
        dynapps_port_unlock();
    }
    memset(push, 0, sizeof *push);
}

void dynapps_agent_reset(void)
{
    push_abort();
    for (size_t i = 0; i < DYNAPPS_AGENT_MAX_BUFFERS; i++) {
        dynapps_agent_port_free(agent.buffers[i].data);
        agent.buffers[i].data = NULL;
        agent.buffers[i].size = 0;
    }
    agent.session = false;
}

static dynapps_agent_err_t loader_refused(dynapps_err_t err)
{
    agent.loader_err = err;
    return DYNAPPS_AGENT_ERR_LOADER;
}

/* ---------------------------------------------------------------- answers */

static void put_app_record(uint8_t *p, const dynapps_app_info_t *info)
{
    memset(p, 0, APP_RECORD_SIZE);
    const char *end = memchr(info->name, '\0', DYNAPPS_NAME_MAX);
    memcpy(p, info->name, end ? (size_t)(end - info->name) : DYNAPPS_NAME_MAX);
    p[16] = info->strategy;
    put16(p + 18, info->version.major);
    put16(p + 20, info->version.minor);
    put16(p + 22, info->version.patch);
    put32(p + 24, info->ram_bytes);
}

static dynapps_agent_err_t answer_app(dynapps_app_t *app, uint8_t *out, size_t *out_size)
{
    dynapps_app_info_t info;
    dynapps_err_t err = dynapps_get_info(app, &info);
    if (err != DYNAPPS_OK) {
        return loader_refused(err);
    }
    put_app_record(out, &info);
    *out_size = APP_RECORD_SIZE;
    return DYNAPPS_AGENT_OK;
}

static dynapps_agent_err_t do_hello(uint8_t *out, size_t *out_size)
{
    dynapps_agent_reset();
    agent.session = true;
    agent.next_sequence = dynapps_agent_port_session_start();
    uint32_t heap[DYNAPPS_AGENT_HEAP_KINDS];
    dynapps_agent_port_heap(heap);
    memset(out, 0, HELLO_FIXED_SIZE);
    out[0] = DYNAPPS_AGENT_PROTOCOL_VERSION;
    out[1] = DYNAPPS_FPU_ABI;
    put16(out + 2, DYNAPPS_CHIP_ID);
    put32(out + 4, dynapps_firmware.id);
    put32(out + 8, agent.next_sequence);
    put32(out + 12, DYNAPPS_AGENT_MAX_PAYLOAD);
    for (int i = 0; i < DYNAPPS_AGENT_HEAP_KINDS; i++) {
        put32(out + 16 + 4 * i, heap[i]);
    }
    size_t size = HELLO_FIXED_SIZE;
    uint8_t count = 0;
    dynapps_app_t *app = NULL;
    dynapps_app_info_t info;
    while (size + APP_RECORD_SIZE <= DYNAPPS_AGENT_MAX_PAYLOAD && count < 255 &&
           dynapps_next_loaded(&app, &info) == DYNAPPS_OK) {
        put_app_record(out + size, &info);
        size += APP_RECORD_SIZE;
        count++;
    }
    out[28] = count;
    *out_size = size;
    return DYNAPPS_AGENT_OK;
}

/* ---------------------------------------------------------------- push */

static dynapps_agent_err_t push_begin_xip(agent_push_t *push)
{
    dynapps_port_lock(); /* the port's slot bookkeeping is the loader's: under its lock */
    dynapps_err_t err = dynapps_port_find_slot(push->name, &push->slot);
    dynapps_port_unlock();
    if (err != DYNAPPS_OK) {
        return loader_refused(err);
    }
    push->slot_held = true;
    if (push->size > push->slot.size) {
        return loader_refused(DYNAPPS_ERR_TRUNCATED);
    }
    /* The old app runs from this slot: it goes before the first byte is erased. */
    dynapps_app_t *old = NULL;
    if (dynapps_find_loaded(push->name, &old) == DYNAPPS_OK && (err = dynapps_unload(old)) != DYNAPPS_OK) {
        return loader_refused(err);
    }
    /* The image's sectors and the one after them, where the loader keeps the slot's trust mark
     * (dynapps_trust_mark.h): the new image must not inherit the old one's. */
    uint64_t erase = dynapps_trust_mark_at(push->size) + DYNAPPS_TRUST_MARK_SECTOR;
    if (erase > push->slot.size) {
        erase = push->slot.size;
    }
    return dynapps_agent_port_flash_erase(&push->slot, 0, (uint32_t)erase) == 0 ? DYNAPPS_AGENT_OK
                                                                                 : DYNAPPS_AGENT_ERR_FLASH;
}

/* PUSH_BEGIN: u32 size, u32 crc32, u8 strategy, 3 reserved, name[16]. An image the loader copies
 * into RAM (IRAM or PSRAM) is pushed into a RAM buffer, an XIP image into its slot. */
static dynapps_agent_err_t do_push_begin(const uint8_t *in, size_t in_size)
{
    push_abort();
    if (in_size != 28) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    agent_push_t *push = &agent.push;
    push->size = get32(in);
    push->crc = get32(in + 4);
    push->strategy = in[8];
    get_name(in + 12, push->name);
    if (push->size < DYNAPPS_IMAGE_HEADER_SIZE || push->name[0] == '\0') {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    dynapps_agent_err_t result;
    if (DYNAPPS_STRATEGY_IS_COPIED(push->strategy)) {
        push->image = dynapps_agent_port_alloc(push->size);
        result = push->image ? DYNAPPS_AGENT_OK : DYNAPPS_AGENT_ERR_NO_MEM;
    } else if (push->strategy == DYNAPPS_STRATEGY_XIP) {
        result = push_begin_xip(push);
    } else {
        result = DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    if (result != DYNAPPS_AGENT_OK) {
        push_abort();
        return result;
    }
    push->active = true;
    return DYNAPPS_AGENT_OK;
}

/* Write a piece into the slot and read it back: a slot that does not hold what was sent is
 * refused here, and one left half-written fails the loader's hash check. */
static dynapps_agent_err_t push_write_flash(agent_push_t *push, uint32_t offset, const uint8_t *data, uint32_t size)
{
    if (dynapps_agent_port_flash_write(&push->slot, offset, data, size) != 0) {
        return DYNAPPS_AGENT_ERR_FLASH;
    }
    uint8_t *readback = agent.answer + DYNAPPS_AGENT_HEADER_SIZE; /* free until the answer is built */
    if (dynapps_agent_port_flash_read(&push->slot, offset, readback, size) != 0 || memcmp(readback, data, size) != 0) {
        return DYNAPPS_AGENT_ERR_FLASH_VERIFY;
    }
    return DYNAPPS_AGENT_OK;
}

/* PUSH_DATA: u32 offset, then the bytes. */
static dynapps_agent_err_t do_push_data(const uint8_t *in, size_t in_size)
{
    agent_push_t *push = &agent.push;
    if (!push->active) {
        return DYNAPPS_AGENT_ERR_NO_PUSH;
    }
    if (in_size < 4) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    uint32_t offset = get32(in);
    uint32_t size = (uint32_t)(in_size - 4);
    if (offset != push->received || size > push->size - push->received) {
        return DYNAPPS_AGENT_ERR_PUSH_OFFSET;
    }
    if (DYNAPPS_STRATEGY_IS_COPIED(push->strategy)) {
        memcpy(push->image + offset, in + 4, size);
    } else {
        dynapps_agent_err_t err = push_write_flash(push, offset, in + 4, size);
        if (err != DYNAPPS_AGENT_OK) {
            push_abort();
            return err;
        }
    }
    push->running_crc = dynapps_crc32(push->running_crc, in + 4, size);
    push->received += size;
    return DYNAPPS_AGENT_OK;
}

/* The new copy is loaded first, the old one unloaded after: a push the loader refuses leaves the
 * running app alone. */
static dynapps_agent_err_t push_load_copied(agent_push_t *push, dynapps_app_t **loaded)
{
    dynapps_app_t *old = NULL;
    if (dynapps_find_loaded(push->name, &old) != DYNAPPS_OK) {
        old = NULL;
    }
    dynapps_err_t err = dynapps_load_from_buffer(push->image, push->size, loaded);
    if (err != DYNAPPS_OK) {
        return loader_refused(err);
    }
    dynapps_app_info_t info;
    if (dynapps_get_info(*loaded, &info) != DYNAPPS_OK || strcmp(info.name, push->name) != 0) {
        dynapps_unload(*loaded); /* not the app the host announced: it would never be found by name */
        return loader_refused(DYNAPPS_ERR_WRONG_SLOT);
    }
    if (old && (err = dynapps_unload(old)) != DYNAPPS_OK) {
        dynapps_unload(*loaded);
        return loader_refused(err);
    }
    return DYNAPPS_AGENT_OK;
}

static dynapps_agent_err_t do_push_end(uint8_t *out, size_t *out_size)
{
    agent_push_t *push = &agent.push;
    if (!push->active) {
        return DYNAPPS_AGENT_ERR_NO_PUSH;
    }
    dynapps_agent_err_t result = DYNAPPS_AGENT_OK;
    dynapps_app_t *app = NULL;
    if (push->received != push->size) {
        result = DYNAPPS_AGENT_ERR_PUSH_INCOMPLETE;
    } else if (push->running_crc != push->crc) {
        result = DYNAPPS_AGENT_ERR_PUSH_CRC;
    } else if (DYNAPPS_STRATEGY_IS_COPIED(push->strategy)) {
        result = push_load_copied(push, &app);
    } else {
        dynapps_err_t err = dynapps_load(push->name, &app);
        result = err == DYNAPPS_OK ? DYNAPPS_AGENT_OK : loader_refused(err);
    }
    push_abort(); /* the loader keeps copies of what it needs: the RAM image goes */
    return result == DYNAPPS_AGENT_OK ? answer_app(app, out, out_size) : result;
}

/* ---------------------------------------------------------------- load, unload, call */

static dynapps_agent_err_t do_load(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size)
{
    if (in_size != DYNAPPS_NAME_MAX) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    char name[DYNAPPS_NAME_MAX + 1];
    get_name(in, name);
    dynapps_app_t *app = NULL;
    dynapps_err_t err = dynapps_load(name, &app);
    return err == DYNAPPS_OK ? answer_app(app, out, out_size) : loader_refused(err);
}

static dynapps_agent_err_t do_unload(const uint8_t *in, size_t in_size)
{
    if (in_size != DYNAPPS_NAME_MAX) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    char name[DYNAPPS_NAME_MAX + 1];
    get_name(in, name);
    dynapps_app_t *app = NULL;
    dynapps_err_t err = dynapps_find_loaded(name, &app);
    if (err == DYNAPPS_OK) {
        err = dynapps_unload(app);
    }
    return err == DYNAPPS_OK ? DYNAPPS_AGENT_OK : loader_refused(err);
}

/* The host lowered the arguments to the registers the ilp32 / ilp32f calling convention puts
 * them in (remote.py); the agent loads a0..a7 (and fa0..fa7) and reads a0:a1 or fa0 back. Every
 * export is called through one of these types: extra registers are ignored by the callee. */
typedef uint64_t (*call_int_t)(uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t
#if DYNAPPS_FPU_ABI
                               , float, float, float, float, float, float, float, float
#endif
);
#if DYNAPPS_FPU_ABI
typedef float (*call_float_t)(uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t,
                              float, float, float, float, float, float, float, float);
#endif

static uint64_t call_export(void *function, uint8_t kind, const uint32_t x[8], const uint32_t f_bits[8])
{
#if DYNAPPS_FPU_ABI
    float f[8];
    memcpy(f, f_bits, sizeof f);
    if (kind == DYNAPPS_AGENT_RETURN_FLOAT) {
        float value = ((call_float_t)function)(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], f[0], f[1], f[2],
                                               f[3], f[4], f[5], f[6], f[7]);
        uint32_t bits;
        memcpy(&bits, &value, sizeof bits);
        return bits;
    }
    return ((call_int_t)function)(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], f[0], f[1], f[2], f[3], f[4], f[5],
                                  f[6], f[7]);
#else
    (void)kind;
    (void)f_bits;
    return ((call_int_t)function)(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
#endif
}

/* CALL: app name[16], u8 return kind, u8 integer registers, u8 float registers, u8 export name
 * length, the integer registers (u32 each), the float registers (u32 bits each), the export name. */
static dynapps_agent_err_t do_call(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size)
{
    if (in_size < CALL_FIXED_SIZE) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    uint8_t kind = in[16], ints = in[17], floats = in[18], name_length = in[19];
    if (ints > DYNAPPS_AGENT_CALL_REGS || floats > DYNAPPS_AGENT_CALL_REGS || name_length == 0 ||
        name_length > EXPORT_NAME_MAX) {
        return DYNAPPS_AGENT_ERR_BAD_CALL;
    }
    if ((!DYNAPPS_FPU_ABI && (floats || kind != DYNAPPS_AGENT_RETURN_INT)) || kind > DYNAPPS_AGENT_RETURN_FLOAT) {
        return DYNAPPS_AGENT_ERR_BAD_CALL; /* float registers on a chip without an FPU */
    }
    if (in_size != CALL_FIXED_SIZE + 4u * (ints + floats) + name_length) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    uint32_t x[8] = {0}, f[8] = {0};
    const uint8_t *p = in + CALL_FIXED_SIZE;
    for (unsigned i = 0; i < ints; i++, p += 4) {
        x[i] = get32(p);
    }
    for (unsigned i = 0; i < floats; i++, p += 4) {
        f[i] = get32(p);
    }
    char app_name[DYNAPPS_NAME_MAX + 1], export_name[EXPORT_NAME_MAX + 1];
    get_name(in, app_name);
    memcpy(export_name, p, name_length);
    export_name[name_length] = '\0';
    dynapps_app_t *app = NULL;
    void *function = NULL;
    dynapps_err_t err = dynapps_find_loaded(app_name, &app);
    if (err == DYNAPPS_OK) {
        /* counted: another task's unload of the app is refused (BUSY) while the call runs */
        err = dynapps_call_begin_export(app, export_name, &function);
    }
    if (err != DYNAPPS_OK) {
        return loader_refused(err);
    }
    uint64_t value = call_export(function, kind, x, f);
    dynapps_call_end(app);
    put32(out, (uint32_t)value);
    put32(out + 4, (uint32_t)(value >> 32));
    *out_size = 8;
    return DYNAPPS_AGENT_OK;
}

/* ---------------------------------------------------------------- buffers */

static agent_buffer_t *find_buffer(uint32_t address)
{
    for (size_t i = 0; i < DYNAPPS_AGENT_MAX_BUFFERS; i++) {
        if (agent.buffers[i].data && (uintptr_t)agent.buffers[i].data == address) {
            return &agent.buffers[i];
        }
    }
    return NULL;
}

static dynapps_agent_err_t do_buf_alloc(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size)
{
    if (in_size != 4 || get32(in) == 0) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    agent_buffer_t *free_entry = NULL;
    for (size_t i = 0; !free_entry && i < DYNAPPS_AGENT_MAX_BUFFERS; i++) {
        free_entry = agent.buffers[i].data ? NULL : &agent.buffers[i];
    }
    if (!free_entry) {
        return DYNAPPS_AGENT_ERR_TOO_MANY_BUFFERS;
    }
    uint32_t size = get32(in);
    uint8_t *data = dynapps_agent_port_alloc(size);
    if (!data) {
        return DYNAPPS_AGENT_ERR_NO_MEM;
    }
    memset(data, 0, size);
    free_entry->data = data;
    free_entry->size = size;
    put32(out, (uint32_t)(uintptr_t)data);
    *out_size = 4;
    return DYNAPPS_AGENT_OK;
}

/* The buffer at `address` if [offset, offset + size) lies inside it. */
static agent_buffer_t *buffer_range(uint32_t address, uint32_t offset, uint32_t size)
{
    agent_buffer_t *buffer = find_buffer(address);
    if (!buffer || offset > buffer->size || size > buffer->size - offset) {
        return NULL;
    }
    return buffer;
}

static dynapps_agent_err_t do_buf_write(const uint8_t *in, size_t in_size)
{
    if (in_size < 8) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    uint32_t offset = get32(in + 4), size = (uint32_t)(in_size - 8);
    agent_buffer_t *buffer = buffer_range(get32(in), offset, size);
    if (!buffer) {
        return DYNAPPS_AGENT_ERR_BAD_BUFFER;
    }
    memcpy(buffer->data + offset, in + 8, size);
    return DYNAPPS_AGENT_OK;
}

static dynapps_agent_err_t do_buf_read(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size)
{
    if (in_size != 12 || get32(in + 8) > DYNAPPS_AGENT_MAX_PAYLOAD) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    uint32_t offset = get32(in + 4), size = get32(in + 8);
    agent_buffer_t *buffer = buffer_range(get32(in), offset, size);
    if (!buffer) {
        return DYNAPPS_AGENT_ERR_BAD_BUFFER;
    }
    memcpy(out, buffer->data + offset, size);
    *out_size = size;
    return DYNAPPS_AGENT_OK;
}

static dynapps_agent_err_t do_buf_free(const uint8_t *in, size_t in_size)
{
    if (in_size != 4) {
        return DYNAPPS_AGENT_ERR_BAD_PAYLOAD;
    }
    agent_buffer_t *buffer = find_buffer(get32(in));
    if (!buffer) {
        return DYNAPPS_AGENT_ERR_BAD_BUFFER;
    }
    dynapps_agent_port_free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
    return DYNAPPS_AGENT_OK;
}

/* ---------------------------------------------------------------- frames */

static void send_frame(const dynapps_agent_transport_t *t, uint8_t type, uint32_t sequence, size_t size)
{
    uint8_t *frame = agent.answer;
    frame[0] = DYNAPPS_AGENT_MAGIC0;
    frame[1] = DYNAPPS_AGENT_MAGIC1;
    frame[2] = DYNAPPS_AGENT_PROTOCOL_VERSION;
    frame[3] = type;
    put32(frame + 4, sequence);
    put32(frame + 8, (uint32_t)size);
    size_t end = DYNAPPS_AGENT_HEADER_SIZE + size;
    put32(frame + end, dynapps_crc32(0, frame + 2, end - 2));
    t->write(t->context, frame, end + DYNAPPS_AGENT_CRC_SIZE);
}

static void send_error(const dynapps_agent_transport_t *t, uint32_t sequence, dynapps_agent_err_t err)
{
    uint8_t *payload = agent.answer + DYNAPPS_AGENT_HEADER_SIZE;
    put32(payload, (uint32_t)err);
    put32(payload + 4, err == DYNAPPS_AGENT_ERR_LOADER ? (uint32_t)agent.loader_err : 0u);
    send_frame(t, DYNAPPS_AGENT_ERROR, sequence, 8);
}

static dynapps_agent_err_t dispatch(uint8_t type, const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size)
{
    switch (type) {
    case DYNAPPS_AGENT_HELLO: return do_hello(out, out_size);
    case DYNAPPS_AGENT_PUSH_BEGIN: return do_push_begin(in, in_size);
    case DYNAPPS_AGENT_PUSH_DATA: return do_push_data(in, in_size);
    case DYNAPPS_AGENT_PUSH_END: return do_push_end(out, out_size);
    case DYNAPPS_AGENT_LOAD: return do_load(in, in_size, out, out_size);
    case DYNAPPS_AGENT_UNLOAD: return do_unload(in, in_size);
    case DYNAPPS_AGENT_CALL: return do_call(in, in_size, out, out_size);
    case DYNAPPS_AGENT_BUF_ALLOC: return do_buf_alloc(in, in_size, out, out_size);
    case DYNAPPS_AGENT_BUF_WRITE: return do_buf_write(in, in_size);
    case DYNAPPS_AGENT_BUF_READ: return do_buf_read(in, in_size, out, out_size);
    case DYNAPPS_AGENT_BUF_FREE: return do_buf_free(in, in_size);
    default: return DYNAPPS_AGENT_ERR_UNKNOWN_COMMAND;
    }
}

/* A whole, CRC-checked frame: check the session and its sequence number, run it, answer. */
static void serve_frame(const dynapps_agent_transport_t *t, uint8_t type, uint32_t sequence, size_t size)
{
    if (type != DYNAPPS_AGENT_HELLO) {
        if (!agent.session) {
            send_error(t, sequence, DYNAPPS_AGENT_ERR_NO_SESSION);
            return;
        }
        if (sequence != agent.next_sequence) {
            send_error(t, sequence, DYNAPPS_AGENT_ERR_BAD_SEQUENCE);
            return;
        }
        agent.next_sequence++;
    }
    agent.loader_err = DYNAPPS_OK;
    size_t out_size = 0;
    dynapps_agent_err_t err = dispatch(type, agent.frame + DYNAPPS_AGENT_HEADER_SIZE, size,
                                       agent.answer + DYNAPPS_AGENT_HEADER_SIZE, &out_size);
    if (err != DYNAPPS_AGENT_OK) {
        send_error(t, sequence, err);
    } else {
        send_frame(t, (uint8_t)(type | DYNAPPS_AGENT_ANSWER), sequence, out_size);
    }
}

static bool read_exact(const dynapps_agent_transport_t *t, uint8_t *data, size_t size)
{
    while (size) {
        size_t got = t->read(t->context, data, size, DYNAPPS_AGENT_FRAME_TIMEOUT_MS);
        if (got == 0) {
            return false;
        }
        data += got;
        size -= got;
    }
    return true;
}

/* Skip bytes up to the magic (anything else on the line is not the agent's); false on timeout. */
static bool find_magic(const dynapps_agent_transport_t *t, uint8_t first)
{
    uint8_t previous = first, byte;
    while (t->read(t->context, &byte, 1, DYNAPPS_AGENT_FRAME_TIMEOUT_MS) == 1) {
        if (previous == DYNAPPS_AGENT_MAGIC0 && byte == DYNAPPS_AGENT_MAGIC1) {
            return true;
        }
        previous = byte;
    }
    return false;
}

bool dynapps_agent_poll(const dynapps_agent_transport_t *t, uint32_t idle_timeout_ms)
{
    uint8_t *frame = agent.frame;
    if (t->read(t->context, frame, 1, idle_timeout_ms) == 0) {
        return false;
    }
    if (!find_magic(t, frame[0])) {
        return true; /* noise, then silence */
    }
    if (!read_exact(t, frame + 2, DYNAPPS_AGENT_HEADER_SIZE - 2)) {
        send_error(t, 0, DYNAPPS_AGENT_ERR_TRUNCATED);
        return true;
    }
    uint32_t sequence = get32(frame + 4), size = get32(frame + 8);
    if (frame[2] != DYNAPPS_AGENT_PROTOCOL_VERSION) {
        send_error(t, sequence, DYNAPPS_AGENT_ERR_BAD_VERSION);
        return true;
    }
    if (size > DYNAPPS_AGENT_MAX_PAYLOAD) {
        send_error(t, sequence, DYNAPPS_AGENT_ERR_TOO_LONG);
        return true;
    }
    uint8_t *rest = frame + DYNAPPS_AGENT_HEADER_SIZE;
    if (!read_exact(t, rest, size + DYNAPPS_AGENT_CRC_SIZE)) {
        send_error(t, sequence, DYNAPPS_AGENT_ERR_TRUNCATED);
        return true;
    }
    if (get32(rest + size) != dynapps_crc32(0, frame + 2, DYNAPPS_AGENT_HEADER_SIZE - 2 + size)) {
        send_error(t, sequence, DYNAPPS_AGENT_ERR_BAD_CRC);
        return true;
    }
    serve_frame(t, frame[3], sequence, size);
    return true;
}

const char *dynapps_agent_err_name(dynapps_agent_err_t err)
{
    static const char *const names[] = {
#define DYNAPPS_AGENT_ERR_NAME(name) #name,
        DYNAPPS_AGENT_ERRORS(DYNAPPS_AGENT_ERR_NAME)
#undef DYNAPPS_AGENT_ERR_NAME
    };
    return (unsigned)err < DYNAPPS_AGENT_ERR_COUNT ? names[err] : "DYNAPPS_AGENT_ERR_UNKNOWN";
}
