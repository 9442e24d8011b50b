/*
 * What the loader core's host tests share (tests/test_loader_host.py builds them into one
 * program, tests/c/test_main.c runs them): the standard IRAM and XIP test apps, the helpers that
 * load an image and expect an error, and the edits the verify tests make to images. Helpers are
 * static inline so that each topic file (test_verify.c, test_place.c, test_bind.c,
 * test_lifecycle.c, test_sha256.c) takes the ones it uses.
 *
 * App code is never executed: the core is built with -DDYNAPPS_APP_CALL_HOOK and the call hooks
 * (loader_fixtures.c) record the addresses of init/deinit. The host port (host_port.c) hands out
 * heap memory with a fake IRAM alias, a data arena below 4 GiB and counters that must all be
 * back to zero after every load, failed or not.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynapps.h"
#include "dynapps_image.h"
#include "dynapps_internal.h"
#include "dynapps_sha256.h"
#include "check.h"
#include "host_port.h"
#include "image_builder.h"

#define FW_ID 0xC0FFEE01u /* the firmware export table the test images bind against */
#define FW_PREFIX_1_ID 0xC0FFEE11u /* the ids of its first one and first two entries */
#define FW_PREFIX_2_ID 0xC0FFEE12u
extern uint8_t fw_signing_key[DYNAPPS_SIGNING_KEY_SIZE]; /* dynapps_firmware.signing_key */

/* What the core would have called (loader_fixtures.c). */
#define CALL_LOG_DEPTH 8
typedef struct {
    int init_calls, deinit_calls, init_result;
    uintptr_t init_addr, deinit_addr;
    /* Every call, in order: 'i' init, 'v' a void (void) function (deinit, constructor, destructor),
     * with the low 32 bits of its address (a fixed-up array entry holds no more). */
    char kinds[CALL_LOG_DEPTH + 1];
    uint32_t addrs[CALL_LOG_DEPTH];
    int count;
} call_record_t;

extern call_record_t calls;

/* The firmware functions the test images import (loader_fixtures.c). */
int fw_puts(const char *s);
int fw_add(int a, int b);
void fw_unused(void);

/* The checks the core's trace (DYNAPPS_TRACE) named since the last reset, the last one last. */
#define TRACE_DEPTH 8
typedef struct {
    const char *checks[TRACE_DEPTH];
    int count;
} refusal_record_t;

extern refusal_record_t refusals;

/* The last refusal, or "" when none was traced. */
static inline const char *last_refusal(void)
{
    return refusals.count == 0 ? "" : refusals.checks[(refusals.count - 1) % TRACE_DEPTH];
}

static inline uint32_t addr32(const void *p) { return (uint32_t)(uintptr_t)p; }

/* ---- the standard IRAM test app ----------------------------------------------------------- */

/* align 16: a 40-byte code segment spans 48, so the padding is exercised. */
#define CODE_SIZE 40u
#define CODE_SPAN 48u
#define DATA_SIZE 32u
#define BSS_SIZE 20u
#define IRAM_RAM (CODE_SPAN + DATA_SIZE + BSS_SIZE)
#define SLOTS_AT 16u /* import slots: data segment offset */

typedef struct {
    uint8_t code[CODE_SIZE];
    uint8_t data[DATA_SIZE];
    uint32_t fixups[3];
    ib_import_t imports[2];
    ib_export_t exports[3];
    ib_spec_t spec;
} iram_app_t;

/*
 * Linked as design.md says: code at code_vaddr = i_d_offset, data segment at code_span. It holds
 * an absolute code pointer in the code (offset 8), a data pointer and a code pointer in the data
 * (fix-ups at code_span + 0 and + 4), two import slots and three exports.
 */
static inline void iram_app(iram_app_t *a, uint32_t i_d_offset)
{
    uint32_t code_vaddr = i_d_offset, data_vaddr = CODE_SPAN;
    memset(a, 0, sizeof *a);
    for (uint32_t i = 0; i < CODE_SIZE; i++) {
        a->code[i] = (uint8_t)(i * 7u + 1u);
    }
    ib_put32(a->code + 8, code_vaddr + 12);
    const uint32_t data[8] = {data_vaddr + 8, code_vaddr + 20, 0x11223344u, 0x55667788u,
                              0xDEADBEEFu, 0xDEADBEEFu, 0xCAFEF00Du, 0x01020304u};
    memcpy(a->data, data, sizeof data);
    a->fixups[0] = 8;
    a->fixups[1] = CODE_SPAN + 0;
    a->fixups[2] = CODE_SPAN + 4;
    a->imports[0] = (ib_import_t){"fw_add", 1};
    a->imports[1] = (ib_import_t){"fw_puts", 0};
    a->exports[0] = (ib_export_t){"app_init", code_vaddr + 0, DYNAPPS_EXPORT_FLAG_INIT};
    a->exports[1] = (ib_export_t){"app_deinit", code_vaddr + 4, DYNAPPS_EXPORT_FLAG_DEINIT};
    a->exports[2] = (ib_export_t){"app_run", code_vaddr + 16, 0};
    a->spec = (ib_spec_t){
        .chip_id = 0, .strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 4, .exports_id = FW_ID, .exports_count = 3,
        .code = a->code, .code_size = CODE_SIZE, .data = a->data, .data_size = DATA_SIZE,
        .bss_size = BSS_SIZE, .code_vaddr = code_vaddr, .data_vaddr = data_vaddr,
        .fixups = a->fixups, .fixup_count = 3, .imports = a->imports, .import_count = 2,
        .import_slots_vaddr = data_vaddr + SLOTS_AT, .exports = a->exports, .export_count = 3};
}

/* The standard IRAM image for the port's current i_d_offset. */
static inline uint8_t *iram_image(size_t *size)
{
    iram_app_t a;
    iram_app(&a, (uint32_t)host.i_d_offset);
    return ib_build(&a.spec, size);
}

/* ---- the standard XIP test app ------------------------------------------------------------ */

#define XIP_SLOT_VADDR 0x42010000u
#define XIP_CODE_SIZE 48u
#define XIP_DATA_SIZE 16u
#define XIP_BSS_SIZE 8u
#define XIP_RAM (XIP_DATA_SIZE + XIP_BSS_SIZE)
#define ARENA_AT 0x100u /* where in the arena the standard XIP app's data goes */

typedef struct {
    uint8_t code[XIP_CODE_SIZE];
    uint8_t data[XIP_DATA_SIZE];
    ib_import_t imports[2];
    ib_export_t exports[3];
    ib_spec_t spec;
} xip_app_t;

/* Linked at final addresses: code right after the header at slot_vaddr, data in the arena. */
static inline void xip_app(xip_app_t *a, uint32_t slot_vaddr, uint32_t data_vaddr)
{
    uint32_t code_vaddr = slot_vaddr + DYNAPPS_IMAGE_HEADER_SIZE;
    memset(a, 0, sizeof *a);
    for (uint32_t i = 0; i < XIP_CODE_SIZE; i++) {
        a->code[i] = (uint8_t)(0x80u + i);
    }
    const uint32_t data[4] = {0x10101010u, 0x20202020u, 0xDEADBEEFu, 0xDEADBEEFu};
    memcpy(a->data, data, sizeof data);
    a->imports[0] = (ib_import_t){"fw_puts", 0};
    a->imports[1] = (ib_import_t){"fw_unused", 2};
    a->exports[0] = (ib_export_t){"xip_init", code_vaddr + 0, DYNAPPS_EXPORT_FLAG_INIT};
    a->exports[1] = (ib_export_t){"xip_deinit", code_vaddr + 4, DYNAPPS_EXPORT_FLAG_DEINIT};
    a->exports[2] = (ib_export_t){"xip_run", code_vaddr + 8, 0};
    a->spec = (ib_spec_t){
        .chip_id = 0, .strategy = DYNAPPS_STRATEGY_XIP, .align_log2 = 0, .exports_id = FW_ID, .exports_count = 3,
        .code = a->code, .code_size = XIP_CODE_SIZE, .data = a->data,
        .data_size = XIP_DATA_SIZE, .bss_size = XIP_BSS_SIZE, .code_vaddr = code_vaddr,
        .data_vaddr = data_vaddr, .imports = a->imports, .import_count = 2,
        .import_slots_vaddr = data_vaddr + 8, .exports = a->exports, .export_count = 3};
}

static inline uint32_t arena_addr(uint32_t offset) { return addr32(host.arena) + offset; }

static inline uint8_t *xip_image(uint32_t slot_vaddr, uint32_t data_vaddr, size_t *size)
{
    xip_app_t a;
    xip_app(&a, slot_vaddr, data_vaddr);
    return ib_build(&a.spec, size);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static inline uint8_t *copy_of(const uint8_t *image, size_t size, size_t slack)
{
    uint8_t *c = malloc(size + slack);
    memcpy(c, image, size);
    memset(c + size, 0xFF, slack);
    return c;
}

/* A slot holding an image built for it: the image is named like the slot (and rehashed), and an
 * XIP slot is mapped where the image was linked. The identity tests break either on purpose. */
static inline host_slot_t *add_app_slot(const char *name, uint8_t *image, uint32_t slot_size)
{
    ib_set_name(image, name);
    host_slot_t *slot = host_port_add_slot(name, image, slot_size);
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    if (slot != NULL && h.strategy == DYNAPPS_STRATEGY_XIP) {
        slot->xip_vaddr = h.code_vaddr - DYNAPPS_IMAGE_HEADER_SIZE;
    }
    return slot;
}

/* Load from a buffer expecting `want`; unload if it loaded; the port must end up clean. */
static inline void expect_buffer_at(const uint8_t *image, size_t size, dynapps_err_t want,
                             const char *file, int line)
{
    dynapps_app_t *app = (dynapps_app_t *)(uintptr_t)1;
    dynapps_err_t err = dynapps_load_from_buffer(image, size, &app);
    check_err_at(err, want, file, line);
    if (err == DYNAPPS_OK) {
        check_err_at(dynapps_unload(app), DYNAPPS_OK, file, line);
    } else {
        check_at(app == NULL, "app == NULL after a failed load", file, line);
    }
    check_clean_at(file, line);
}

#define EXPECT_BUFFER(image, size, want) expect_buffer_at((image), (size), (want), __FILE__, __LINE__)

/* The same through a named slot. */
static inline void expect_slot_at(const char *name, dynapps_err_t want, const char *file, int line)
{
    dynapps_app_t *app = (dynapps_app_t *)(uintptr_t)1;
    dynapps_err_t err = dynapps_load(name, &app);
    check_err_at(err, want, file, line);
    if (err == DYNAPPS_OK) {
        check_err_at(dynapps_unload(app), DYNAPPS_OK, file, line);
    } else {
        check_at(app == NULL, "app == NULL after a failed load", file, line);
    }
    check_clean_at(file, line);
}

#define EXPECT_SLOT(name, want) expect_slot_at((name), (want), __FILE__, __LINE__)

/* Header of the image, edited with `edit`, then the hash recomputed. Size unchanged. */
typedef void (*header_edit_t)(dynapps_image_header_t *h);

static inline void expect_header_edit_at(const uint8_t *image, size_t size, header_edit_t edit,
                                  dynapps_err_t want, const char *file, int line)
{
    uint8_t *c = copy_of(image, size, 64); /* slack: a grown image_size isn't "truncated" */
    dynapps_image_header_t h;
    ib_read_header(c, &h);
    edit(&h);
    ib_write_header(c, &h);
    ib_rehash(c, size);
    expect_buffer_at(c, size + 64, want, file, line);
    free(c);
}

#define EXPECT_HEADER_EDIT(image, size, edit, want)                                           \
    expect_header_edit_at((image), (size), (edit), (want), __FILE__, __LINE__)

static inline void hex(const uint8_t *d, char out[65])
{
    for (int i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}

static inline int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

/* ---- SHA-256 ------------------------------------------------------------------------------ */

static inline void check_sha(const void *data, size_t size, const char *want, const char *file, int line)
{
    uint8_t d[32];
    char got[65];
    dynapps_sha256(data, size, d);
    hex(d, got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  %s:%d: sha256 of %zu bytes = %s, want %s\n", file, line, size, got, want);
        failures++;
    }
}

/* ---- good IRAM loads ---------------------------------------------------------------------- */

/* Check a loaded standard IRAM app byte by byte, then its exports, info and init. */
static inline void check_iram_app(dynapps_app_t *app, const iram_app_t *a)
{
    const uint8_t *v = host.exec_view;
    uintptr_t exec = host.exec_addr;
    CHECK(exec == (uintptr_t)v + host.i_d_offset);
    CHECK(host.exec_align == 16 && exec % 16 == 0);
    CHECK(memcmp(v, a->code, 8) == 0 && memcmp(v + 12, a->code + 12, CODE_SIZE - 12) == 0);
    CHECK(ib_get32(v + 8) == (uint32_t)(exec + 12));                  /* code -> code */
    CHECK(all_bytes(v + CODE_SIZE, CODE_SPAN - CODE_SIZE, 0));         /* padding */
    CHECK(ib_get32(v + CODE_SPAN + 0) == addr32(v + CODE_SPAN + 8));   /* data -> data view */
    CHECK(ib_get32(v + CODE_SPAN + 4) == (uint32_t)(exec + 20));       /* data -> code */
    CHECK(ib_get32(v + CODE_SPAN + 8) == 0x11223344u);
    CHECK(ib_get32(v + CODE_SPAN + 12) == 0x55667788u);
    CHECK(ib_get32(v + CODE_SPAN + SLOTS_AT) == addr32((const void *)fw_add));
    CHECK(ib_get32(v + CODE_SPAN + SLOTS_AT + 4) == addr32((const void *)fw_puts));
    CHECK(ib_get32(v + CODE_SPAN + 24) == 0xCAFEF00Du);
    CHECK(ib_get32(v + CODE_SPAN + 28) == 0x01020304u);
    CHECK(all_bytes(v + CODE_SPAN + DATA_SIZE, BSS_SIZE, 0));
    CHECK(host.sync_calls == 1 && host.sync_view == v && host.sync_exec == exec &&
          host.sync_size == CODE_SIZE);
    CHECK(calls.init_calls == 1 && calls.init_addr == exec);

    void *fn = NULL;
    CHECK_ERR(dynapps_find_export(app, "app_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(exec + 16));
    CHECK_ERR(dynapps_find_export(app, "app_deinit", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(exec + 4));
    CHECK_ERR(dynapps_find_export(app, "app_runx", &fn), DYNAPPS_ERR_NOT_FOUND);
    CHECK(fn == NULL);

    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.strategy == DYNAPPS_STRATEGY_IRAM);
    CHECK(info.code_addr == exec && info.data_addr == (uintptr_t)v + CODE_SPAN);
    CHECK(info.code_size == CODE_SIZE && info.data_size == DATA_SIZE && info.bss_size == BSS_SIZE);
    CHECK(info.fixup_count == 3 && info.import_count == 2 && info.export_count == 3);
    CHECK(info.ram_bytes == host.heap_bytes); /* exec RAM + bookkeeping, nothing else */
    CHECK(info.ram_bytes > IRAM_RAM);
}

static inline void unload_checked(dynapps_app_t *app, uintptr_t deinit_addr)
{
    int before = calls.deinit_calls;
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK(calls.deinit_calls == before + 1 && calls.deinit_addr == deinit_addr);
    CHECK_CLEAN();
}

static inline void e_header_size_small(dynapps_image_header_t *h) { h->header_size = 60; }
static inline void e_header_size_big(dynapps_image_header_t *h) { h->header_size = 68; }
static inline void e_strategy_0(dynapps_image_header_t *h) { h->strategy = 0; }
static inline void e_strategy_4(dynapps_image_header_t *h) { h->strategy = 4; } /* 3 is PSRAM */
static inline void e_reserved(dynapps_image_header_t *h) { h->reserved2 = 1; }
/* docs/image-format.md: flags an older loader does not know are ones it may ignore */
static inline void e_unknown_flag(dynapps_image_header_t *h) { h->flags |= 0x8000; }
static inline void e_code_size_odd(dynapps_image_header_t *h) { h->code_size += 1; h->image_size += 1; }
static inline void e_code_size_more(dynapps_image_header_t *h) { h->code_size += 4; }
static inline void e_data_size_odd(dynapps_image_header_t *h) { h->data_size -= 2; h->strtab_size += 2; }
static inline void e_strtab_odd(dynapps_image_header_t *h) { h->strtab_size -= 2; h->image_size -= 2; }
static inline void e_image_size_more(dynapps_image_header_t *h) { h->image_size += 4; }
static inline void e_image_size_less(dynapps_image_header_t *h) { h->image_size -= 4; }
static inline void e_fixups_more(dynapps_image_header_t *h) { h->fixup_count += 1; }
static inline void e_align_low(dynapps_image_header_t *h) { h->align_log2 = 1; }
static inline void e_align_high(dynapps_image_header_t *h) { h->align_log2 = 13; }
static inline void e_bss_huge(dynapps_image_header_t *h) { h->bss_size = 0xFFFFFFF0u; }
static inline void e_data_wraps(dynapps_image_header_t *h) { h->data_vaddr = 0xFFFFFFF0u; }
/* code_span + data + bss past 4 GiB while [data_vaddr, +data+bss) fits: without a 64-bit check
 * the exec allocation size would wrap on a 32-bit target. */
static inline void e_ram_wraps(dynapps_image_header_t *h) { h->data_vaddr = 0; h->bss_size = 0xFFFFFFE0u; }
static inline void e_code_wraps(dynapps_image_header_t *h) { h->code_vaddr = 0xFFFFFFF0u; }
/* Counts whose 32-bit byte sizes wrap to exactly the same total: only 64-bit sums catch them. */
static inline void e_fixups_wrap(dynapps_image_header_t *h) { h->fixup_count += 0x40000000u; }
static inline void e_imports_wrap(dynapps_image_header_t *h) { h->import_count += 0x20000000u; }
static inline void e_exports_wrap(dynapps_image_header_t *h) { h->export_count += 0x40000000u; }
static inline void e_wrong_chip(dynapps_image_header_t *h) { h->chip_id = 5; }
static inline void e_fpu(dynapps_image_header_t *h) { h->flags |= DYNAPPS_IMAGE_FLAG_FPU_ABI; }
static inline void e_wrong_chip_bad_header(dynapps_image_header_t *h) { h->chip_id = 5; h->reserved2 = 1; }
static inline void e_wrong_chip_truncated(dynapps_image_header_t *h) { h->chip_id = 5; }
static inline void e_firmware_id(dynapps_image_header_t *h) { h->exports_id ^= 1u; }
/* align 4: code_span becomes 40, so code_vaddr + code_span - data_vaddr no longer equals the
 * port's alias offset: only found once exec RAM is allocated, which must then be freed. */
static inline void e_alias(dynapps_image_header_t *h) { h->align_log2 = 2; }
static inline void e_data_moved(dynapps_image_header_t *h) { h->data_vaddr += 16; h->import_slots_vaddr += 16; }
static inline void e_xip_code_low(dynapps_image_header_t *h) { h->code_vaddr = 32; }
/* header + code + data wraps 32 bits to the right total */
static inline void e_xip_segments_wrap(dynapps_image_header_t *h)
{
    h->code_size += 0x80000000u;
    h->data_size += 0x80000000u;
}

static inline void flip_expect_at(const uint8_t *image, size_t size, size_t at, dynapps_err_t want,
                           const char *file, int line)
{
    uint8_t *c = copy_of(image, size, 0);
    c[at] ^= 0x40;
    expect_buffer_at(c, size, want, file, line);
    free(c);
}

/* Replace fix-up 0 by `offset`, re-hash, expect `want`. */
static inline void fixup_expect_at(uint32_t offset, dynapps_err_t want, const char *file, int line)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_put32(image + ib_layout(image).fixups, offset);
    ib_rehash(image, size);
    expect_buffer_at(image, size, want, file, line);
    free(image);
}

/* Edit the standard IRAM image's tables through `edit`, re-hash, expect `want`. */
typedef void (*table_edit_t)(uint8_t *image, const ib_layout_t *l);

static inline void table_expect_at(table_edit_t edit, dynapps_err_t want, const char *file, int line)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_layout_t l = ib_layout(image);
    edit(image, &l);
    ib_rehash(image, size);
    expect_buffer_at(image, size, want, file, line);
    free(image);
}

#define TABLE_EXPECT(edit, want) table_expect_at((edit), (want), __FILE__, __LINE__)

static inline void set_slots_vaddr(uint8_t *image, uint32_t data_offset)
{
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    h.import_slots_vaddr = h.data_vaddr + data_offset;
    ib_write_header(image, &h);
}

static inline uint32_t strtab_size_of(const uint8_t *image)
{
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    return h.strtab_size;
}

/* imports: {name_offset, firmware_index} x2; exports: {name_offset, vaddr, flags} x3 */
static inline void t_slots_past_data(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, DATA_SIZE - 4); }
static inline void t_slots_before_data(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, (uint32_t)-4); }
static inline void t_slots_misaligned(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, SLOTS_AT + 2); }
static inline void t_slots_last_words(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, DATA_SIZE - 8); }
static inline void t_import_name_past(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports, strtab_size_of(i)); }
static inline void t_import_name_huge(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 8, 0xFFFFFFFFu); }
static inline void t_import_name_empty(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports, strtab_size_of(i) - 1); }
static inline void t_name_unterminated(uint8_t *i, const ib_layout_t *l)
{
    /* the last name ("app_run") and the padding after it lose every NUL */
    memset(i + l->strtab + strtab_size_of(i) - 4, 'x', 4);
}
static inline void t_export_past_code(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 12 + 4, (uint32_t)host.i_d_offset + CODE_SIZE); }
static inline void t_export_before_code(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 4, (uint32_t)host.i_d_offset - 2); }
static inline void t_export_in_padding(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 4, (uint32_t)host.i_d_offset + CODE_SPAN - 4); }
static inline void t_export_in_data(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 4, CODE_SPAN); }
static inline void t_export_unknown_flag(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 8, 4); }
static inline void t_export_two_inits(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 8, DYNAPPS_EXPORT_FLAG_INIT); }
static inline void t_export_init_deinit(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 8, 3); }
static inline void t_export_name_past(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 12, strtab_size_of(i) + 100); }
static inline void t_import_index_past(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 4, 3); }
static inline void t_import_index_huge(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 8 + 4, 0xFFFFFFFFu); }
static inline void t_import_wrong_name(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 4, 2); } /* "fw_add" -> fw_unused */
static inline void t_unresolved_and_bad_export(uint8_t *i, const ib_layout_t *l)
{
    t_import_index_past(i, l);
    t_export_past_code(i, l);
}

/* ---- resource failures -------------------------------------------------------------------- */

/* Fail the 1st, 2nd, ... allocation until the load needs no more: each must be NO_MEM and leave
 * nothing behind. */
static inline int oom_sweep(const char *slot)
{
    int failed_loads = 0;
    for (long n = 0; n < 16; n++) {
        host.fail_alloc_at = n;
        host.alloc_calls = 0;
        host.sha_calls = 0;
        dynapps_app_t *app = NULL;
        dynapps_err_t err = dynapps_load(slot, &app);
        if (err == DYNAPPS_OK) {
            CHECK(host.alloc_calls == n); /* the n-th allocation was never asked for */
            CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
            CHECK_CLEAN();
            return failed_loads;
        }
        CHECK_ERR(err, DYNAPPS_ERR_NO_MEM);
        CHECK(app == NULL);
        CHECK(host.sha_calls == 0); /* memory is taken before the image is hashed */
        CHECK_CLEAN();
        failed_loads++;
    }
    CHECK(!"load never succeeded");
    return failed_loads;
}

/* ---- fix-ups, imports, bookkeeping: the fast paths and their fallbacks ----------------------- */

/* An IRAM app as the build makes it: code_size a multiple of the alignment (no padding before the
 * data), `count` fix-ups alternating between code and data words, one export. */
#define FAST_CODE 64u
#define FAST_DATA 64u
#define FAST_BSS 5u /* not a multiple of 4: the export table after it is still word aligned */

typedef struct {
    uint8_t code[FAST_CODE];
    uint8_t data[FAST_DATA];
    uint32_t fixups[16];
    ib_import_t imports[3];
    ib_export_t exports[1];
    ib_spec_t spec;
} fast_app_t;

static inline void fast_app(fast_app_t *a, uint32_t count)
{
    uint32_t code_vaddr = (uint32_t)host.i_d_offset, data_vaddr = FAST_CODE;
    memset(a, 0, sizeof *a);
    for (uint32_t i = 0; i < FAST_CODE / 4; i++) {
        ib_put32(a->code + 4 * i, code_vaddr + 4 * i);
    }
    for (uint32_t i = 0; i < FAST_DATA / 4; i++) {
        ib_put32(a->data + 4 * i, i < 12 ? data_vaddr + 4 * i : 0);
    }
    for (uint32_t i = 0; i < count; i++) {
        a->fixups[i] = (i % 2 == 0) ? 4 * i : FAST_CODE + 4 * i; /* data words 1, 3, ... < 12 */
    }
    a->imports[0] = (ib_import_t){"fw_unused", 2};
    a->imports[1] = (ib_import_t){"fw_puts", 0};
    a->imports[2] = (ib_import_t){"fw_add", 1};
    a->exports[0] = (ib_export_t){"fast_run", code_vaddr + 8, 0};
    a->spec = (ib_spec_t){
        .chip_id = 0, .strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 4, .exports_id = FW_ID, .exports_count = 3,
        .code = a->code, .code_size = FAST_CODE, .data = a->data, .data_size = FAST_DATA,
        .bss_size = FAST_BSS, .code_vaddr = code_vaddr, .data_vaddr = data_vaddr,
        .fixups = a->fixups, .fixup_count = count, .imports = a->imports, .import_count = 3,
        .import_slots_vaddr = data_vaddr + 48, .exports = a->exports, .export_count = 1};
}

/* The image at every alignment of a buffer, so both the word path and the memcpy path run. */
static inline uint8_t *at_offset(const uint8_t *image, size_t size, size_t misalign, uint8_t **block)
{
    *block = malloc(size + 3);
    memcpy(*block + misalign, image, size);
    return *block + misalign;
}

/* Replace fix-up `which` of a 9-fix-up fast image by `offset`; expect `want` at every alignment. */
static inline void fast_fixup_expect_at(uint32_t which, uint32_t offset, dynapps_err_t want, const char *file,
                                 int line)
{
    fast_app_t a;
    fast_app(&a, 9);
    a.fixups[which] = offset;
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    for (size_t misalign = 0; misalign < 4; misalign++) {
        uint8_t *block;
        uint8_t *buffer = at_offset(image, size, misalign, &block);
        expect_buffer_at(buffer, size, want, file, line);
        free(block);
    }
    free(image);
}

/* The documented order of the table errors holds although each table is checked where it is
 * used: fix-ups before tables before import resolution. */
static inline void t_bad_fixup(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->fixups + 4, CODE_SPAN + DATA_SIZE); }
static inline void t_fixup_and_table(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_export_past_code(i, l); }
static inline void t_fixup_and_slots(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_slots_past_data(i, l); }
static inline void t_fixup_and_import(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_import_index_past(i, l); }
static inline void t_fixup_and_name(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_import_name_empty(i, l); }
/* import 0 unresolved, import 1 with a bad name: the bad table wins */
static inline void t_unresolved_then_bad_name(uint8_t *i, const ib_layout_t *l)
{
    t_import_index_past(i, l);
    ib_put32(i + l->imports + 8, strtab_size_of(i) + 3);
}
/* The string table's last byte is not a NUL, but every name is terminated before it: a good
 * image (the fast binding declines it, the checked one binds it). */
static inline void t_strtab_tail_junk(uint8_t *i, const ib_layout_t *l) { i[l->strtab + strtab_size_of(i) - 1] = 'x'; }
/* Code and data linked 2 bytes further (the alias still holds), the slots left where they were:
 * their addresses are aligned, their offset in the data segment is not, and the IRAM loader
 * writes them through the data view at that offset. */
static inline void t_slots_misaligned_in_data(uint8_t *i, const ib_layout_t *l)
{
    dynapps_image_header_t h;
    ib_read_header(i, &h);
    h.code_vaddr += 2;
    h.data_vaddr += 2;
    ib_write_header(i, &h);
    for (uint32_t e = 0; e < h.export_count; e++) {
        ib_put32(i + l->exports + 12 * e + 4, ib_get32(i + l->exports + 12 * e + 4) + 2);
    }
}

