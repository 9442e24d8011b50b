/*
 * Host unit tests of the dynapps loader core (src/), run by tests/test_loader_host.py.
 *
 * App code is never executed: the core is built with -DDYNAPPS_APP_CALL_HOOK and the two call
 * hooks below record the addresses of init/deinit. The host port (host_port.c) hands out heap
 * memory with a fake IRAM alias, a data arena below 4 GiB and counters that must all be back
 * to zero after every load, failed or not.
 */
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

/* ---- the firmware export table the test images bind against ------------------------------ */

#define FW_ID 0xC0FFEE01u

static int fw_puts(const char *s) { return s != NULL; }
static int fw_add(int a, int b) { return a + b; }
static void fw_unused(void) {}

static const dynapps_symbol_t fw_symbols[] = {
    {"fw_puts", (const void *)fw_puts},
    {"fw_add", (const void *)fw_add},
    {"fw_unused", (const void *)fw_unused},
};

const dynapps_firmware_t dynapps_firmware = {FW_ID, 3, fw_symbols};

static uint32_t addr32(const void *p) { return (uint32_t)(uintptr_t)p; }

/* ---- call hooks: what the core would have called ------------------------------------------ */

static struct {
    int init_calls, deinit_calls, init_result;
    uintptr_t init_addr, deinit_addr;
} calls;

int dynapps_call_init(uintptr_t address)
{
    CHECK(!host_port_lock_held()); /* documented: init runs without the loader lock */
    calls.init_calls++;
    calls.init_addr = address;
    return calls.init_result;
}

void dynapps_call_deinit(uintptr_t address)
{
    CHECK(!host_port_lock_held());
    calls.deinit_calls++;
    calls.deinit_addr = address;
}

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
static void iram_app(iram_app_t *a, uint32_t i_d_offset)
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
        .chip_id = 0, .strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 4, .firmware_id = FW_ID,
        .code = a->code, .code_size = CODE_SIZE, .data = a->data, .data_size = DATA_SIZE,
        .bss_size = BSS_SIZE, .code_vaddr = code_vaddr, .data_vaddr = data_vaddr,
        .fixups = a->fixups, .fixup_count = 3, .imports = a->imports, .import_count = 2,
        .import_slots_vaddr = data_vaddr + SLOTS_AT, .exports = a->exports, .export_count = 3};
}

/* The standard IRAM image for the port's current i_d_offset. */
static uint8_t *iram_image(size_t *size)
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
static void xip_app(xip_app_t *a, uint32_t slot_vaddr, uint32_t data_vaddr)
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
        .chip_id = 0, .strategy = DYNAPPS_STRATEGY_XIP, .align_log2 = 0, .firmware_id = FW_ID,
        .code = a->code, .code_size = XIP_CODE_SIZE, .data = a->data,
        .data_size = XIP_DATA_SIZE, .bss_size = XIP_BSS_SIZE, .code_vaddr = code_vaddr,
        .data_vaddr = data_vaddr, .imports = a->imports, .import_count = 2,
        .import_slots_vaddr = data_vaddr + 8, .exports = a->exports, .export_count = 3};
}

static uint32_t arena_addr(uint32_t offset) { return addr32(host.arena) + offset; }

static uint8_t *xip_image(uint32_t slot_vaddr, uint32_t data_vaddr, size_t *size)
{
    xip_app_t a;
    xip_app(&a, slot_vaddr, data_vaddr);
    return ib_build(&a.spec, size);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static uint8_t *copy_of(const uint8_t *image, size_t size, size_t slack)
{
    uint8_t *c = malloc(size + slack);
    memcpy(c, image, size);
    memset(c + size, 0xFF, slack);
    return c;
}

/* A slot holding an image built for it: the image is named like the slot (and rehashed), and an
 * XIP slot is mapped where the image was linked. The identity tests break either on purpose. */
static host_slot_t *add_app_slot(const char *name, uint8_t *image, uint32_t slot_size)
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
static void expect_buffer_at(const uint8_t *image, size_t size, dynapps_err_t want,
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
static void expect_slot_at(const char *name, dynapps_err_t want, const char *file, int line)
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

static void expect_header_edit_at(const uint8_t *image, size_t size, header_edit_t edit,
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

static void hex(const uint8_t *d, char out[65])
{
    for (int i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

/* ---- SHA-256 ------------------------------------------------------------------------------ */

static void check_sha(const void *data, size_t size, const char *want, const char *file, int line)
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

#define CHECK_SHA(data, size, want) check_sha((data), (size), (want), __FILE__, __LINE__)

static void test_sha256_fips_vectors(void)
{
    CHECK_SHA("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_SHA(m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                       "nopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK_SHA(m896, strlen(m896),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK_SHA("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    uint8_t *million = malloc(1000000);
    memset(million, 'a', 1000000);
    CHECK_SHA(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

/* Padding edge cases (55/56 bytes: length fits / doesn't fit the last block) and incremental
 * updates in awkward chunk sizes. Reference digests from Python's hashlib. */
static void test_sha256_boundaries_and_chunks(void)
{
    static const struct {
        size_t n;
        const char *digest;
    } as[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    uint8_t a[120];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
        CHECK_SHA(a, as[i].n, as[i].digest);
    }

    static const size_t chunks[] = {1, 3, 63, 64, 65, 1000, 4096};
    uint8_t *million = malloc(1000000);
    memset(million, 'a', 1000000);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        dynapps_sha256_t ctx;
        uint8_t d[32];
        char got[65];
        dynapps_sha256_init(&ctx);
        for (size_t done = 0; done < 1000000;) {
            size_t n = 1000000 - done < chunks[c] ? 1000000 - done : chunks[c];
            dynapps_sha256_update(&ctx, million + done, n);
            done += n;
        }
        dynapps_sha256_final(&ctx, d);
        hex(d, got);
        CHECK(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    }
    free(million);
}

/* ---- error names -------------------------------------------------------------------------- */

static void test_err_names(void)
{
#define NAME_CHECK(name) CHECK(strcmp(dynapps_err_name(name), #name) == 0);
    DYNAPPS_ERRORS(NAME_CHECK)
#undef NAME_CHECK
    CHECK(strcmp(dynapps_err_name(DYNAPPS_ERR_COUNT), "DYNAPPS_ERR_UNKNOWN") == 0);
    CHECK(strcmp(dynapps_err_name((dynapps_err_t)-1), "DYNAPPS_ERR_UNKNOWN") == 0);
    CHECK(strcmp(dynapps_err_name((dynapps_err_t)1000), "DYNAPPS_ERR_UNKNOWN") == 0);
}

/* ---- good IRAM loads ---------------------------------------------------------------------- */

/* Check a loaded standard IRAM app byte by byte, then its exports, info and init. */
static void check_iram_app(dynapps_app_t *app, const iram_app_t *a)
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

static void unload_checked(dynapps_app_t *app, uintptr_t deinit_addr)
{
    int before = calls.deinit_calls;
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK(calls.deinit_calls == before + 1 && calls.deinit_addr == deinit_addr);
    CHECK_CLEAN();
}

/* esp32c3-like alias, loaded from a slot by name. */
static void test_iram_load_from_slot_with_alias(void)
{
    iram_app_t a;
    iram_app(&a, 0x700000);
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("iram_app", image, (uint32_t)size + 256);

    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("iram_app", &app), DYNAPPS_OK);
    CHECK(app != NULL && host.slots_live == 0); /* slot released once loaded */
    CHECK(host.sha_calls == 1 && host.sha_bytes == size - DYNAPPS_IMAGE_HASH_SIZE); /* through the port */
    if (app != NULL) {
        check_iram_app(app, &a);
        unload_checked(app, host.exec_addr + 4);
    }
    free(image);
}

/* One address per byte (esp32c6/h2/p4), from a misaligned buffer freed right after loading:
 * the app must keep nothing pointing into it (ASan would catch a use after free). */
static void test_iram_load_from_unaligned_buffer_no_alias(void)
{
    host.i_d_offset = 0;
    iram_app_t a;
    iram_app(&a, 0);
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    uint8_t *buffer = malloc(size + 1);
    memcpy(buffer + 1, image, size);

    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load_from_buffer(buffer + 1, size, &app), DYNAPPS_OK);
    free(buffer);
    if (app != NULL) {
        check_iram_app(app, &a);
        unload_checked(app, host.exec_addr + 4);
    }
    free(image);
}

/* A buffer image has no name: the same one can be loaded twice, into separate RAM. */
static void test_iram_twice_from_buffer(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    dynapps_app_t *one = NULL, *two = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &one), DYNAPPS_OK);
    uintptr_t exec_one = host.exec_addr;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &two), DYNAPPS_OK);
    CHECK(one != two && host.exec_addr != exec_one);
    void *fn = NULL;
    CHECK_ERR(dynapps_find_export(one, "app_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(exec_one + 16));
    CHECK_ERR(dynapps_unload(one), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_export(two, "app_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(host.exec_addr + 16));
    CHECK_ERR(dynapps_unload(two), DYNAPPS_OK);
    CHECK(calls.init_calls == 2 && calls.deinit_calls == 2);
    CHECK_CLEAN();
    free(image);
}

/* No fix-ups, imports, exports, bss: nothing to call, nothing to bind. */
static void test_iram_minimal(void)
{
    host.i_d_offset = 0;
    uint8_t code[4] = {1, 2, 3, 4};
    ib_spec_t s = {.strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 2, .firmware_id = FW_ID,
                   .code = code, .code_size = 4, .code_vaddr = 0, .data_vaddr = 4};
    size_t size;
    uint8_t *image = ib_build(&s, &size);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.ram_bytes == host.heap_bytes && memcmp(host.exec_view, code, 4) == 0);
    CHECK(calls.init_calls == 0);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK(calls.deinit_calls == 0);
    CHECK_CLEAN();
    free(image);

    s.code_size = 0; /* no code at all is a broken build */
    image = ib_build(&s, &size);
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_BAD_HEADER);
    free(image);
}

/* ---- good XIP loads ----------------------------------------------------------------------- */

static void test_xip_load(void)
{
    size_t size;
    uint32_t data_vaddr = arena_addr(ARENA_AT);
    uint8_t *image = xip_image(XIP_SLOT_VADDR, data_vaddr, &size);
    uint8_t *slot = copy_of(image, size, 4096); /* the partition is larger than the image */
    add_app_slot("xip_app", slot, (uint32_t)size + 4096);
    uint8_t *pristine = copy_of(slot, size + 4096, 0);
    host_port_allow_xip(XIP_SLOT_VADDR);

    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("xip_app", &app), DYNAPPS_OK);
    CHECK(host.xip_vaddr == XIP_SLOT_VADDR && host.xip_size == size);
    CHECK(host.xip_flash_offset == host.slots[0].flash_offset);
    CHECK(host.maps_live == 1 && host.slots_live == 0);
    const uint8_t *d = host.arena + ARENA_AT;
    CHECK(ib_get32(d) == 0x10101010u && ib_get32(d + 4) == 0x20202020u);
    CHECK(ib_get32(d + 8) == addr32((const void *)fw_puts));
    CHECK(ib_get32(d + 12) == addr32((const void *)fw_unused));
    CHECK(all_bytes(d + XIP_DATA_SIZE, XIP_BSS_SIZE, 0));
    CHECK(host.arena[ARENA_AT - 1] == 0xA5 && host.arena[ARENA_AT + XIP_RAM] == 0xA5);
    CHECK(memcmp(slot, pristine, size + 4096) == 0); /* text and rodata never written */
    CHECK(host.sync_calls == 0 && host.heap_blocks == 1); /* bookkeeping only */

    uint32_t code_vaddr = XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE;
    CHECK(calls.init_calls == 1 && calls.init_addr == code_vaddr);
    void *fn = NULL;
    CHECK_ERR(dynapps_find_export(app, "xip_run", &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(uintptr_t)(code_vaddr + 8));
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.strategy == DYNAPPS_STRATEGY_XIP);
    CHECK(info.code_addr == code_vaddr && info.data_addr == data_vaddr);
    CHECK(info.code_size == XIP_CODE_SIZE && info.data_size == XIP_DATA_SIZE);
    CHECK(info.bss_size == XIP_BSS_SIZE && info.fixup_count == 0);
    CHECK(info.import_count == 2 && info.export_count == 3);
    CHECK(info.ram_bytes == XIP_RAM + host.heap_bytes);

    unload_checked(app, code_vaddr + 4);
    CHECK(memcmp(slot, pristine, size + 4096) == 0);
    free(pristine);
    free(slot);
    free(image);
}

/* Two XIP apps side by side in the arena; a third overlapping the first is refused. */
static void test_xip_arena_overlap(void)
{
    size_t sa, sb, sc, sd;
    uint8_t *a = xip_image(XIP_SLOT_VADDR, arena_addr(0x100), &sa);
    uint8_t *b = xip_image(0x42020000u, arena_addr(0x100 + XIP_RAM), &sb); /* adjacent */
    uint8_t *c = xip_image(0x42030000u, arena_addr(0x100 + XIP_RAM - 4), &sc); /* overlaps */
    uint8_t *d = xip_image(0x42040000u, arena_addr(0x100 - XIP_RAM), &sd);      /* just below */
    add_app_slot("a", a, (uint32_t)sa);
    add_app_slot("b", b, (uint32_t)sb);
    add_app_slot("c", c, (uint32_t)sc);
    add_app_slot("d", d, (uint32_t)sd);
    host_port_allow_xip(XIP_SLOT_VADDR);
    host_port_allow_xip(0x42040000u);
    host_port_allow_xip(0x42020000u);
    host_port_allow_xip(0x42030000u);

    dynapps_app_t *app_a = NULL, *app_b = NULL, *app_c = NULL, *app_d = NULL;
    CHECK_ERR(dynapps_load("a", &app_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("b", &app_b), DYNAPPS_OK);
    size_t heap = host.heap_bytes;
    CHECK_ERR(dynapps_load("c", &app_c), DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
    CHECK(app_c == NULL && host.heap_bytes == heap && host.maps_live == 2 && host.slots_live == 0);
    CHECK_ERR(dynapps_load("d", &app_d), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(app_d), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(app_a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("c", &app_c), DYNAPPS_ERR_ADDRESS_UNAVAILABLE); /* still overlaps b */
    CHECK_ERR(dynapps_unload(app_b), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("c", &app_c), DYNAPPS_OK); /* free now */
    CHECK_ERR(dynapps_unload(app_c), DYNAPPS_OK);
    CHECK_CLEAN();
    free(a);
    free(b);
    free(c);
    free(d);
}

/* Data outside the arena (below, straddling the end, far away) is refused before mapping. */
static void test_xip_outside_arena(void)
{
    const uint32_t places[] = {arena_addr(0) - 4, arena_addr((uint32_t)host.arena_size - 8),
                               0x10000000u};
    host_port_allow_xip(XIP_SLOT_VADDR);
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        size_t size;
        uint8_t *image = xip_image(XIP_SLOT_VADDR, places[i], &size);
        host.slot_count = 0;
        add_app_slot("x", image, (uint32_t)size);
        host.xip_vaddr = 0;
        EXPECT_SLOT("x", DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
        CHECK(host.xip_vaddr == 0 && host.sha_calls == 0); /* refused before hashing or mapping */
        free(image);
    }
    /* the last bytes of the arena are fine */
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr((uint32_t)host.arena_size - XIP_RAM), &size);
    host.slot_count = 0;
    add_app_slot("x", image, (uint32_t)size);
    EXPECT_SLOT("x", DYNAPPS_OK);
    free(image);
}

/* The port can't map the slot where the image was linked. */
static void test_xip_window_unavailable(void)
{
    size_t size;
    uint8_t *image = xip_image(0x42050000u, arena_addr(ARENA_AT), &size);
    add_app_slot("x", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("x", DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
    CHECK(host.xip_vaddr == 0x42050000u);
    CHECK(calls.init_calls == 0);
    free(image);
}

static void test_xip_from_buffer_unsupported(void)
{
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_STRATEGY_UNSUPPORTED);
    free(image);
}

/* ---- API misuse --------------------------------------------------------------------------- */

static void test_already_loaded_and_not_found(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    add_app_slot("iram_app", image, (uint32_t)size);
    dynapps_app_t *app = NULL, *again = (dynapps_app_t *)(uintptr_t)1;
    CHECK_ERR(dynapps_load("iram_app", &app), DYNAPPS_OK);
    size_t heap = host.heap_bytes;
    CHECK_ERR(dynapps_load("iram_app", &again), DYNAPPS_ERR_ALREADY_LOADED);
    CHECK(again == NULL && host.heap_bytes == heap && host.slots_live == 0);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    EXPECT_SLOT("iram_app", DYNAPPS_OK); /* loadable again once unloaded */
    EXPECT_SLOT("no_such_app", DYNAPPS_ERR_NOT_FOUND);
    free(image);
}

static void test_invalid_arguments(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    dynapps_app_t *app = NULL;
    void *fn = NULL;
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_load(NULL, &app), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_load("x", NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_load_from_buffer(NULL, size, &app), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_load_from_buffer(image, size, NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_find_export(NULL, "app_run", &fn), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_get_info(NULL, &info), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_unload(NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_CLEAN();

    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_export(app, NULL, &fn), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_find_export(app, "app_run", NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_get_info(app, NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    /* a stale handle is refused without being touched (it is freed memory now) */
    CHECK_ERR(dynapps_unload(app), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_find_export(app, "app_run", &fn), DYNAPPS_ERR_STALE_HANDLE);
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_ERR_STALE_HANDLE);
    CHECK(calls.deinit_calls == 1);
    CHECK_CLEAN();
    free(image);
}

/* ---- verification failures ---------------------------------------------------------------- */

static void test_truncated(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    for (size_t n = 0; n < size; n++) {
        uint8_t *c = copy_of(image, n, 0); /* exactly n bytes: ASan checks no read beyond */
        EXPECT_BUFFER(c, n, DYNAPPS_ERR_TRUNCATED);
        free(c);
    }
    add_app_slot("short", image, (uint32_t)size - 4); /* partition smaller than image */
    EXPECT_SLOT("short", DYNAPPS_ERR_TRUNCATED);
    free(image);
}

static void test_bad_magic_and_version(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    uint8_t *c = copy_of(image, size, 0);
    c[0] ^= 0x01;
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_BAD_MAGIC);
    c[4] = 1; /* and a bad version (the previous one) too: magic is checked first */
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_BAD_MAGIC);
    c[0] ^= 0x01;
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_UNSUPPORTED_VERSION);
    c[4] = 0;
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_UNSUPPORTED_VERSION);
    free(c);
    free(image);
}

static void e_header_size_small(dynapps_image_header_t *h) { h->header_size = 60; }
static void e_header_size_big(dynapps_image_header_t *h) { h->header_size = 68; }
static void e_strategy_0(dynapps_image_header_t *h) { h->strategy = 0; }
static void e_strategy_3(dynapps_image_header_t *h) { h->strategy = 3; }
static void e_reserved(dynapps_image_header_t *h) { h->reserved = 1; }
/* docs/image-format.md: flags an older loader does not know are ones it may ignore */
static void e_unknown_flag(dynapps_image_header_t *h) { h->flags |= 0x8000; }
static void e_code_size_odd(dynapps_image_header_t *h) { h->code_size += 1; h->image_size += 1; }
static void e_code_size_more(dynapps_image_header_t *h) { h->code_size += 4; }
static void e_data_size_odd(dynapps_image_header_t *h) { h->data_size -= 2; h->strtab_size += 2; }
static void e_strtab_odd(dynapps_image_header_t *h) { h->strtab_size -= 2; h->image_size -= 2; }
static void e_image_size_more(dynapps_image_header_t *h) { h->image_size += 4; }
static void e_image_size_less(dynapps_image_header_t *h) { h->image_size -= 4; }
static void e_fixups_more(dynapps_image_header_t *h) { h->fixup_count += 1; }
static void e_align_low(dynapps_image_header_t *h) { h->align_log2 = 1; }
static void e_align_high(dynapps_image_header_t *h) { h->align_log2 = 13; }
static void e_bss_huge(dynapps_image_header_t *h) { h->bss_size = 0xFFFFFFF0u; }
static void e_data_wraps(dynapps_image_header_t *h) { h->data_vaddr = 0xFFFFFFF0u; }
/* code_span + data + bss past 4 GiB while [data_vaddr, +data+bss) fits: without a 64-bit check
 * the exec allocation size would wrap on a 32-bit target. */
static void e_ram_wraps(dynapps_image_header_t *h) { h->data_vaddr = 0; h->bss_size = 0xFFFFFFE0u; }
static void e_code_wraps(dynapps_image_header_t *h) { h->code_vaddr = 0xFFFFFFF0u; }
/* Counts whose 32-bit byte sizes wrap to exactly the same total: only 64-bit sums catch them. */
static void e_fixups_wrap(dynapps_image_header_t *h) { h->fixup_count += 0x40000000u; }
static void e_imports_wrap(dynapps_image_header_t *h) { h->import_count += 0x20000000u; }
static void e_exports_wrap(dynapps_image_header_t *h) { h->export_count += 0x40000000u; }
static void e_wrong_chip(dynapps_image_header_t *h) { h->chip_id = 5; }
static void e_fpu(dynapps_image_header_t *h) { h->flags |= DYNAPPS_IMAGE_FLAG_FPU_ABI; }
static void e_wrong_chip_bad_header(dynapps_image_header_t *h) { h->chip_id = 5; h->reserved = 1; }
static void e_wrong_chip_truncated(dynapps_image_header_t *h) { h->chip_id = 5; }
static void e_firmware_id(dynapps_image_header_t *h) { h->firmware_id ^= 1u; }
/* align 4: code_span becomes 40, so code_vaddr + code_span - data_vaddr no longer equals the
 * port's alias offset: only found once exec RAM is allocated, which must then be freed. */
static void e_alias(dynapps_image_header_t *h) { h->align_log2 = 2; }
static void e_data_moved(dynapps_image_header_t *h) { h->data_vaddr += 16; h->import_slots_vaddr += 16; }
static void e_xip_code_low(dynapps_image_header_t *h) { h->code_vaddr = 32; }
/* header + code + data wraps 32 bits to the right total */
static void e_xip_segments_wrap(dynapps_image_header_t *h)
{
    h->code_size += 0x80000000u;
    h->data_size += 0x80000000u;
}

static void test_bad_header(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    static const header_edit_t edits[] = {
        e_header_size_small, e_header_size_big, e_strategy_0,     e_strategy_3,
        e_reserved,          e_code_size_odd,  e_code_size_more,
        e_data_size_odd,     e_strtab_odd,      e_image_size_more, e_image_size_less,
        e_fixups_more,       e_align_low,       e_align_high,     e_bss_huge,
        e_data_wraps,        e_code_wraps,      e_fixups_wrap,    e_imports_wrap,
        e_exports_wrap,      e_wrong_chip_bad_header, e_ram_wraps,
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        EXPECT_HEADER_EDIT(image, size, edits[i], DYNAPPS_ERR_BAD_HEADER);
    }
    CHECK(host.alloc_calls == 0 && host.sha_calls == 0); /* refused before allocating or hashing */
    EXPECT_HEADER_EDIT(image, size, e_unknown_flag, DYNAPPS_OK);
    free(image);
}

/* Data linked where the shared bias would not put it: found once the port has said what its
 * alias offset is, so exec RAM has been allocated by then and must be given back. */
static void test_alias_mismatch(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    EXPECT_HEADER_EDIT(image, size, e_alias, DYNAPPS_ERR_BAD_HEADER);
    CHECK(host.exec_align == 4 && host.alloc_calls == 2);
    CHECK(host.sha_calls == 0); /* the alias is a header check: no hashing for it */
    EXPECT_HEADER_EDIT(image, size, e_data_moved, DYNAPPS_ERR_BAD_HEADER);
    host.i_d_offset = 0; /* an image linked for the esp32c3 alias on a one-address chip */
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_BAD_HEADER);
    CHECK(calls.init_calls == 0);
    free(image);
}

static void test_bad_header_xip(void)
{
    xip_app_t a;
    xip_app(&a, XIP_SLOT_VADDR, arena_addr(ARENA_AT));
    uint32_t fixup = 0;
    a.spec.fixups = &fixup; /* an XIP image is linked at final addresses: no fix-ups */
    a.spec.fixup_count = 1;
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    add_app_slot("x", image, (uint32_t)size);
    EXPECT_SLOT("x", DYNAPPS_ERR_BAD_HEADER);
    free(image);

    image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    EXPECT_HEADER_EDIT(image, size, e_xip_code_low, DYNAPPS_ERR_BAD_HEADER);
    EXPECT_HEADER_EDIT(image, size, e_xip_segments_wrap, DYNAPPS_ERR_BAD_HEADER);
    CHECK(host.alloc_calls == 0);
    free(image);
}

static void test_wrong_chip(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    EXPECT_HEADER_EDIT(image, size, e_wrong_chip, DYNAPPS_ERR_WRONG_CHIP);
    EXPECT_HEADER_EDIT(image, size, e_fpu, DYNAPPS_ERR_WRONG_CHIP);
    /* wrong chip is reported before truncation */
    uint8_t *c = copy_of(image, size, 0);
    dynapps_image_header_t h;
    ib_read_header(c, &h);
    e_wrong_chip_truncated(&h);
    ib_write_header(c, &h);
    EXPECT_BUFFER(c, size - 1, DYNAPPS_ERR_WRONG_CHIP);
    free(c);
    free(image);
}

static void flip_expect_at(const uint8_t *image, size_t size, size_t at, dynapps_err_t want,
                           const char *file, int line)
{
    uint8_t *c = copy_of(image, size, 0);
    c[at] ^= 0x40;
    expect_buffer_at(c, size, want, file, line);
    free(c);
}

#define FLIP_EXPECT(image, size, at, want) flip_expect_at((image), (size), (at), (want), __FILE__, __LINE__)

static void test_hash_mismatch(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_layout_t l = ib_layout(image);
    FLIP_EXPECT(image, size, offsetof(dynapps_image_header_t, firmware_id), DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, offsetof(dynapps_image_header_t, import_slots_vaddr) + 1,
                DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.code + 5, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.data + 9, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.fixups + 4, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.imports + 4, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.exports + 4, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.strtab + 1, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.hash, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, size - 1, DYNAPPS_ERR_HASH_MISMATCH);
    free(image);
}

/* Every single-byte corruption is refused; past the header it is always the hash that says so. */
static void test_every_byte_flip(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    for (size_t at = 0; at < size; at++) {
        for (int bit = 0; bit < 8; bit += 7) {
            uint8_t *c = copy_of(image, size, 0);
            c[at] ^= (uint8_t)(1u << bit);
            dynapps_app_t *app = NULL;
            dynapps_err_t err = dynapps_load_from_buffer(c, size, &app);
            if (at >= DYNAPPS_IMAGE_HEADER_SIZE) {
                CHECK_ERR(err, DYNAPPS_ERR_HASH_MISMATCH);
            } else if (err == DYNAPPS_OK) {
                fprintf(stderr, "  header byte %zu bit %d: corrupted image loaded\n", at, bit);
                failures++;
                dynapps_unload(app);
            }
            CHECK_CLEAN();
            free(c);
        }
    }
    CHECK(calls.init_calls == 0);
    free(image);
}

/* The same through an XIP slot: nothing mapped or written to the arena on failure. */
static void test_every_byte_flip_xip(void)
{
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    uint8_t *slot = copy_of(image, size, 0);
    add_app_slot("x", slot, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    for (size_t at = 0; at < size; at++) {
        slot[at] ^= 0x10;
        dynapps_app_t *app = NULL;
        dynapps_err_t err = dynapps_load("x", &app);
        CHECK(err != DYNAPPS_OK);
        if (err == DYNAPPS_OK) {
            dynapps_unload(app);
        }
        CHECK_CLEAN();
        slot[at] ^= 0x10;
    }
    CHECK(all_bytes(host.arena, host.arena_size, 0xA5));
    EXPECT_SLOT("x", DYNAPPS_OK);
    free(slot);
    free(image);
}

static void test_firmware_mismatch(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    EXPECT_HEADER_EDIT(image, size, e_firmware_id, DYNAPPS_ERR_FIRMWARE_MISMATCH);
    free(image);
}

/* Replace fix-up 0 by `offset`, re-hash, expect `want`. */
static void fixup_expect_at(uint32_t offset, dynapps_err_t want, const char *file, int line)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_put32(image + ib_layout(image).fixups, offset);
    ib_rehash(image, size);
    expect_buffer_at(image, size, want, file, line);
    free(image);
}

#define FIXUP_EXPECT(offset, want) fixup_expect_at((offset), (want), __FILE__, __LINE__)

static void test_fixup_bounds(void)
{
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* just past data */
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE + 4, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* in bss */
    FIXUP_EXPECT(CODE_SIZE, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);      /* in the padding */
    FIXUP_EXPECT(CODE_SPAN - 4, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);  /* in the padding */
    FIXUP_EXPECT(2, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);              /* misaligned */
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE - 3, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    FIXUP_EXPECT(0xFFFFFFFCu, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);    /* offset + 4 wraps */
    FIXUP_EXPECT(CODE_SIZE - 4, DYNAPPS_OK);                       /* last code word */
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE - 4, DYNAPPS_OK);           /* last data word */
}

/* Edit the standard IRAM image's tables through `edit`, re-hash, expect `want`. */
typedef void (*table_edit_t)(uint8_t *image, const ib_layout_t *l);

static void table_expect_at(table_edit_t edit, dynapps_err_t want, const char *file, int line)
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

static void set_slots_vaddr(uint8_t *image, uint32_t data_offset)
{
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    h.import_slots_vaddr = h.data_vaddr + data_offset;
    ib_write_header(image, &h);
}

static uint32_t strtab_size_of(const uint8_t *image)
{
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    return h.strtab_size;
}

/* imports: {name_offset, firmware_index} x2; exports: {name_offset, vaddr, flags} x3 */
static void t_slots_past_data(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, DATA_SIZE - 4); }
static void t_slots_before_data(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, (uint32_t)-4); }
static void t_slots_misaligned(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, SLOTS_AT + 2); }
static void t_slots_last_words(uint8_t *i, const ib_layout_t *l) { (void)l; set_slots_vaddr(i, DATA_SIZE - 8); }
static void t_import_name_past(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports, strtab_size_of(i)); }
static void t_import_name_huge(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 8, 0xFFFFFFFFu); }
static void t_import_name_empty(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports, strtab_size_of(i) - 1); }
static void t_name_unterminated(uint8_t *i, const ib_layout_t *l)
{
    /* the last name ("app_run") and the padding after it lose every NUL */
    memset(i + l->strtab + strtab_size_of(i) - 4, 'x', 4);
}
static void t_export_past_code(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 12 + 4, (uint32_t)host.i_d_offset + CODE_SIZE); }
static void t_export_before_code(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 4, (uint32_t)host.i_d_offset - 2); }
static void t_export_in_padding(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 4, (uint32_t)host.i_d_offset + CODE_SPAN - 4); }
static void t_export_in_data(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 4, CODE_SPAN); }
static void t_export_unknown_flag(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 8, 4); }
static void t_export_two_inits(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 8, DYNAPPS_EXPORT_FLAG_INIT); }
static void t_export_init_deinit(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 24 + 8, 3); }
static void t_export_name_past(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->exports + 12, strtab_size_of(i) + 100); }
static void t_import_index_past(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 4, 3); }
static void t_import_index_huge(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 8 + 4, 0xFFFFFFFFu); }
static void t_import_wrong_name(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->imports + 4, 2); } /* "fw_add" -> fw_unused */
static void t_unresolved_and_bad_export(uint8_t *i, const ib_layout_t *l)
{
    t_import_index_past(i, l);
    t_export_past_code(i, l);
}

static void test_bad_tables(void)
{
    TABLE_EXPECT(t_slots_past_data, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_slots_before_data, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_slots_misaligned, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_slots_last_words, DYNAPPS_OK);
    TABLE_EXPECT(t_import_name_past, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_import_name_huge, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_import_name_empty, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_name_unterminated, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_past_code, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_before_code, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_in_padding, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_in_data, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_unknown_flag, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_two_inits, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_init_deinit, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_name_past, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_unresolved_and_bad_export, DYNAPPS_ERR_BAD_TABLE); /* tables before binding */
}

static void test_unresolved_import(void)
{
    TABLE_EXPECT(t_import_index_past, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    TABLE_EXPECT(t_import_index_huge, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    TABLE_EXPECT(t_import_wrong_name, DYNAPPS_ERR_UNRESOLVED_IMPORT);
}

/* ---- resource failures -------------------------------------------------------------------- */

/* Fail the 1st, 2nd, ... allocation until the load needs no more: each must be NO_MEM and leave
 * nothing behind. */
static int oom_sweep(const char *slot)
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

static void test_out_of_memory(void)
{
    size_t si, sx;
    uint8_t *iram = iram_image(&si);
    uint8_t *xip = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &sx);
    add_app_slot("iram", iram, (uint32_t)si);
    add_app_slot("xip", xip, (uint32_t)sx);
    host_port_allow_xip(XIP_SLOT_VADDR);
    CHECK(oom_sweep("iram") == 2); /* bookkeeping, exec RAM */
    CHECK(oom_sweep("xip") == 1);  /* bookkeeping */
    CHECK(calls.init_calls == 2 && calls.deinit_calls == 2);
    free(iram);
    free(xip);
}

static void test_exec_ram_unavailable(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    host.exec_err = DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE);
    CHECK(calls.init_calls == 0);
    free(image);
}

static void test_init_failed(void)
{
    size_t si, sx;
    uint8_t *iram = iram_image(&si);
    uint8_t *xip = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &sx);
    add_app_slot("xip", xip, (uint32_t)sx);
    host_port_allow_xip(XIP_SLOT_VADDR);
    calls.init_result = -5;
    EXPECT_BUFFER(iram, si, DYNAPPS_ERR_INIT_FAILED);
    EXPECT_SLOT("xip", DYNAPPS_ERR_INIT_FAILED);
    CHECK(calls.init_calls == 2 && calls.deinit_calls == 0); /* no deinit after a failed init */
    calls.init_result = 0;
    EXPECT_SLOT("xip", DYNAPPS_OK); /* a failed app is not left in the loaded list */
    free(iram);
    free(xip);
}

/* The generated wrappers' entry points: lazy load, call counting, unload refused during a call. */
static void test_wrapper_calls(void)
{
    iram_app_t a;
    iram_app(&a, 0x700000);
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("iram_app", image, (uint32_t)size);
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_ERR_NOT_LOADED);
    CHECK_ERR(dynapps_call_begin("missing", &handle, 2, &fn), DYNAPPS_ERR_NOT_FOUND);
    CHECK(handle == NULL && host.heap_bytes == 0);
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 2, &fn), DYNAPPS_OK); /* loads on first call */
    CHECK(handle != NULL && fn == (void *)(host.exec_addr + 16));
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_ERR_BUSY);
    CHECK_ERR(dynapps_unload(handle), DYNAPPS_ERR_BUSY);
    CHECK(handle != NULL && calls.deinit_calls == 0);
    dynapps_call_end(handle);
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 0, &fn), DYNAPPS_ERR_NOT_FOUND); /* init: not callable */
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 3, &fn), DYNAPPS_ERR_NOT_FOUND); /* past the end */
    CHECK_ERR(dynapps_load_handle("iram_app", &handle), DYNAPPS_ERR_ALREADY_LOADED);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK(handle == NULL && calls.deinit_calls == 1);
    CHECK_CLEAN();
    CHECK_ERR(dynapps_load_handle("iram_app", &handle), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    free(image);
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

static void fast_app(fast_app_t *a, uint32_t count)
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
        .chip_id = 0, .strategy = DYNAPPS_STRATEGY_IRAM, .align_log2 = 4, .firmware_id = FW_ID,
        .code = a->code, .code_size = FAST_CODE, .data = a->data, .data_size = FAST_DATA,
        .bss_size = FAST_BSS, .code_vaddr = code_vaddr, .data_vaddr = data_vaddr,
        .fixups = a->fixups, .fixup_count = count, .imports = a->imports, .import_count = 3,
        .import_slots_vaddr = data_vaddr + 48, .exports = a->exports, .export_count = 1};
}

/* The image at every alignment of a buffer, so both the word path and the memcpy path run. */
static uint8_t *at_offset(const uint8_t *image, size_t size, size_t misalign, uint8_t **block)
{
    *block = malloc(size + 3);
    memcpy(*block + misalign, image, size);
    return *block + misalign;
}

/* Every fix-up count from 0 to 9 (the fast loop is unrolled by 4), from buffers at offsets 0..3:
 * each marked word gets the bias, every other word keeps its value. */
static void test_fixups_word_path_and_unaligned_buffers(void)
{
    for (int alias = 0; alias < 2; alias++) {
        host.i_d_offset = alias ? 0x700000 : 0;
        for (uint32_t count = 0; count <= 9; count++) {
            fast_app_t a;
            fast_app(&a, count);
            size_t size;
            uint8_t *image = ib_build(&a.spec, &size);
            for (size_t misalign = 0; misalign < 4; misalign++) {
                uint8_t *block;
                uint8_t *buffer = at_offset(image, size, misalign, &block);
                dynapps_app_t *app = NULL;
                CHECK_ERR(dynapps_load_from_buffer(buffer, size, &app), DYNAPPS_OK);
                free(block); /* nothing of the app points into the buffer */
                if (app == NULL) {
                    continue;
                }
                const uint8_t *v = host.exec_view;
                uint32_t bias = (uint32_t)(host.exec_addr - host.i_d_offset);
                for (uint32_t w = 0; w < (FAST_CODE + FAST_DATA) / 4; w++) {
                    uint32_t original = ib_get32((w < FAST_CODE / 4 ? a.code : a.data - FAST_CODE) + 4 * w);
                    int fixed = 0;
                    for (uint32_t f = 0; f < count; f++) {
                        fixed |= a.fixups[f] == 4 * w;
                    }
                    if (w >= (FAST_CODE + 48) / 4 && w < (FAST_CODE + 60) / 4) {
                        continue; /* the import slots */
                    }
                    CHECK(ib_get32(v + 4 * w) == original + (fixed ? bias : 0));
                }
                CHECK(ib_get32(v + FAST_CODE + 48) == addr32((const void *)fw_unused));
                CHECK(ib_get32(v + FAST_CODE + 52) == addr32((const void *)fw_puts));
                CHECK(ib_get32(v + FAST_CODE + 56) == addr32((const void *)fw_add));
                CHECK(all_bytes(v + FAST_CODE + FAST_DATA, FAST_BSS, 0));
                void *fn = NULL;
                CHECK_ERR(dynapps_find_export(app, "fast_run", &fn), DYNAPPS_OK);
                CHECK(fn == (void *)(host.exec_addr + 8));
                dynapps_app_info_t info;
                CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
                CHECK(info.ram_bytes == host.heap_bytes && info.fixup_count == count);
                CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
                CHECK_CLEAN();
            }
            free(image);
        }
    }
}

/* Replace fix-up `which` of a 9-fix-up fast image by `offset`; expect `want` at every alignment. */
static void fast_fixup_expect_at(uint32_t which, uint32_t offset, dynapps_err_t want, const char *file,
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

#define FAST_FIXUP_EXPECT(which, offset, want) fast_fixup_expect_at((which), (offset), (want), __FILE__, __LINE__)

static void test_fixup_bounds_word_path(void)
{
    for (uint32_t which = 0; which < 9; which += 4) { /* first, in the middle, last */
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* past data */
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA + 4, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* bss */
        FAST_FIXUP_EXPECT(which, 6, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);      /* misaligned */
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA - 2, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
        FAST_FIXUP_EXPECT(which, 0xFFFFFFFCu, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
        FAST_FIXUP_EXPECT(which, 0, DYNAPPS_OK);
        FAST_FIXUP_EXPECT(which, FAST_CODE + FAST_DATA - 4, DYNAPPS_OK); /* last data word */
    }
    CHECK(calls.init_calls == 0); /* the fast image has no init; nothing ran either way */
}

/* A load that can't get its memory fails before the image is hashed (a 256 KB image hashed in
 * software would cost millions of instructions first), and gives everything back. */
static void test_no_memory_before_hashing(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    host.exec_limit = IRAM_RAM - 1; /* the executable RAM won't fit */
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_MEM);
    CHECK(host.sha_calls == 0 && calls.init_calls == 0);
    host.exec_limit = 0;
    host.exec_err = DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE);
    CHECK(host.sha_calls == 0);
    host.exec_err = DYNAPPS_OK;
    host.fail_alloc_at = 0; /* the record */
    host.alloc_calls = 0;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_MEM);
    CHECK(host.sha_calls == 0);
    host.fail_alloc_at = -1;
    EXPECT_BUFFER(image, size, DYNAPPS_OK);
    CHECK(host.sha_calls == 1 && host.sha_bytes == size - DYNAPPS_IMAGE_HASH_SIZE);
    /* a corrupted image that can't fit says NO_MEM: memory is the first thing it needs */
    image[size - 1] ^= 1;
    host.exec_limit = 16;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_NO_MEM);
    CHECK(host.sha_calls == 1);
    host.exec_limit = 0;
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_HASH_MISMATCH);
    CHECK(host.sha_calls == 2);
    free(image);
}

/* The record is the app's only heap block: an XIP app's exports stay in its slot, an IRAM app's
 * are in its executable allocation. On rv32 the record is 56 bytes (the _Static_assert in
 * dynapps_core.c; test_loader_host.py reads its size from the rv32 DWARF). Here pointers are 8
 * bytes, so the host record is larger, but never more than its 7 pointers and 8 counters. */
static void test_bookkeeping_is_one_small_record(void)
{
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    add_app_slot("x", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("x", &app), DYNAPPS_OK);
    CHECK(host.heap_blocks == 1 && host.heap_bytes <= 7 * sizeof(void *) + 8 * sizeof(uint32_t));
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.ram_bytes == XIP_RAM + host.heap_bytes);
    /* names and flags are read from the slot: every export by name, the callable one by index */
    static const char *const names[] = {"xip_init", "xip_deinit", "xip_run"};
    for (uint32_t i = 0; i < 3; i++) {
        void *fn = NULL;
        CHECK_ERR(dynapps_find_export(app, names[i], &fn), DYNAPPS_OK);
        CHECK(fn == (void *)(uintptr_t)(XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE + 4 * i));
    }
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    CHECK_ERR(dynapps_call_begin("x", &handle, 2, &fn), DYNAPPS_OK);
    CHECK(fn == (void *)(uintptr_t)(XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE + 8));
    CHECK_ERR(dynapps_call_begin("x", &handle, 1, &fn), DYNAPPS_ERR_NOT_FOUND); /* deinit */
    dynapps_call_end(handle);
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK_CLEAN();
    free(image);

    size_t si;
    uint8_t *iram = iram_image(&si);
    CHECK_ERR(dynapps_load_from_buffer(iram, si, &app), DYNAPPS_OK);
    CHECK(host.heap_blocks == 2); /* the record and the executable RAM */
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    /* executable RAM: code, padding, data, bss, then 3 export records and their 29 name bytes */
    size_t exec = ((IRAM_RAM + 3u) & ~3u) + 3 * 12 + sizeof "app_init" + sizeof "app_deinit" + sizeof "app_run";
    CHECK(info.ram_bytes == host.heap_bytes && host.heap_bytes - exec <= 7 * sizeof(void *) + 8 * sizeof(uint32_t));
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    CHECK_CLEAN();
    free(iram);
}

/* An app is identified by its slot (dynapps_slot_t.id), not by the name it was asked for. */
static void test_already_loaded_by_slot_id(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    uint8_t *other = copy_of(image, size, 0);
    add_app_slot("one", image, (uint32_t)size);
    add_app_slot("two", other, (uint32_t)size); /* the same app built for another slot */
    dynapps_app_t *one = NULL, *two = NULL, *again = (dynapps_app_t *)(uintptr_t)1;
    CHECK_ERR(dynapps_load("one", &one), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("two", &two), DYNAPPS_OK);
    long hashed = host.sha_calls;
    CHECK_ERR(dynapps_load("two", &again), DYNAPPS_ERR_ALREADY_LOADED);
    CHECK(again == NULL && host.sha_calls == hashed && host.slots_live == 0);
    CHECK_ERR(dynapps_unload(one), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("one", &one), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(one), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(two), DYNAPPS_OK);
    CHECK_CLEAN();
    free(other);
    free(image);
}

/* The documented order of the table errors holds although each table is checked where it is
 * used: fix-ups before tables before import resolution. */
static void t_bad_fixup(uint8_t *i, const ib_layout_t *l) { ib_put32(i + l->fixups + 4, CODE_SPAN + DATA_SIZE); }
static void t_fixup_and_table(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_export_past_code(i, l); }
static void t_fixup_and_slots(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_slots_past_data(i, l); }
static void t_fixup_and_import(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_import_index_past(i, l); }
static void t_fixup_and_name(uint8_t *i, const ib_layout_t *l) { t_bad_fixup(i, l); t_import_name_empty(i, l); }
/* import 0 unresolved, import 1 with a bad name: the bad table wins */
static void t_unresolved_then_bad_name(uint8_t *i, const ib_layout_t *l)
{
    t_import_index_past(i, l);
    ib_put32(i + l->imports + 8, strtab_size_of(i) + 3);
}
/* The string table's last byte is not a NUL, but every name is terminated before it: a good
 * image (the fast binding declines it, the checked one binds it). */
static void t_strtab_tail_junk(uint8_t *i, const ib_layout_t *l) { i[l->strtab + strtab_size_of(i) - 1] = 'x'; }
/* Code and data linked 2 bytes further (the alias still holds), the slots left where they were:
 * their addresses are aligned, their offset in the data segment is not, and the IRAM loader
 * writes them through the data view at that offset. */
static void t_slots_misaligned_in_data(uint8_t *i, const ib_layout_t *l)
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

static void test_table_error_order(void)
{
    TABLE_EXPECT(t_bad_fixup, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_table, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_slots, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_import, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_name, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_unresolved_then_bad_name, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_strtab_tail_junk, DYNAPPS_OK);
    CHECK(calls.init_calls == 1); /* only the good one ran */

    /* the same from a misaligned buffer, where binding always takes the checked path */
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_layout_t l = ib_layout(image);
    t_unresolved_then_bad_name(image, &l);
    ib_rehash(image, size);
    uint8_t *block;
    uint8_t *buffer = at_offset(image, size, 1, &block);
    EXPECT_BUFFER(buffer, size, DYNAPPS_ERR_BAD_TABLE);
    free(block);
    free(image);
    image = iram_image(&size);
    t_import_wrong_name(image, &l);
    ib_rehash(image, size);
    buffer = at_offset(image, size, 3, &block);
    EXPECT_BUFFER(buffer, size, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    free(block);
    free(image);

    TABLE_EXPECT(t_slots_misaligned_in_data, DYNAPPS_ERR_BAD_TABLE);
}

/* An XIP image whose imports fail after the slot was mapped and the data copied: the mapping
 * is given back. */
static void test_xip_import_failure_unmaps(void)
{
    xip_app_t a;
    xip_app(&a, XIP_SLOT_VADDR, arena_addr(ARENA_AT));
    a.imports[1].firmware_index = 1; /* "fw_unused" -> the firmware's "fw_add" */
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("x", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("x", DYNAPPS_ERR_UNRESOLVED_IMPORT);
    CHECK(host.xip_vaddr == XIP_SLOT_VADDR && host.maps_live == 0 && calls.init_calls == 0);
    free(image);
}

/* The wrappers' call counter is 16 bits: the 65536th concurrent call is refused, not wrapped. */
static void test_call_counter_saturates(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    add_app_slot("iram_app", image, (uint32_t)size);
    dynapps_app_t *handle = NULL;
    void *fn = NULL;
    for (long i = 0; i < 65535; i++) {
        if (dynapps_call_begin("iram_app", &handle, 2, &fn) != DYNAPPS_OK) {
            CHECK(!"call_begin failed early");
            break;
        }
    }
    CHECK_ERR(dynapps_call_begin("iram_app", &handle, 2, &fn), DYNAPPS_ERR_BUSY);
    for (long i = 0; i < 65535; i++) {
        dynapps_call_end(handle);
    }
    CHECK_ERR(dynapps_unload_handle(&handle), DYNAPPS_OK);
    CHECK_CLEAN();
    free(image);
}

/* ---- runner ------------------------------------------------------------------------------- */

/* ---- header arithmetic ------------------------------------------------------------------ */

/* data_size + bss_size of exactly 2^32 at data_vaddr 0: the range fits the address space, but a
 * 32-bit sum of the two is 0, which once skipped the arena check and bound the import slots at
 * address 8. Refused before anything is written. */
static void test_xip_data_plus_bss_wraps(void)
{
    xip_app_t a;
    xip_app(&a, XIP_SLOT_VADDR, 0);
    a.spec.bss_size = 0u - XIP_DATA_SIZE;
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("wrap", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("wrap", DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
    CHECK(host.maps_live == 0 && host.sha_calls == 0 && calls.init_calls == 0);
    CHECK(all_bytes(host.arena, host.arena_size, 0xA5)); /* nothing written into the arena */
    free(image);
}

/* ---- app identity ------------------------------------------------------------------------ */

/* Apps alpha and beta, each built for its own slot, written into each other's slots (flash-apps
 * keyed by name, or a partition table that moved): each is refused, before anything is
 * allocated, hashed or run. A label of 16 characters (no NUL) is compared in full. */
static void test_image_from_another_slot(void)
{
    size_t sa, sb;
    uint8_t *alpha = iram_image(&sa), *beta = iram_image(&sb);
    ib_set_name(alpha, "alpha");
    ib_set_name(beta, "beta");
    host_port_add_slot("alpha", beta, (uint32_t)sb);
    host_port_add_slot("beta", alpha, (uint32_t)sa);
    EXPECT_SLOT("alpha", DYNAPPS_ERR_WRONG_SLOT);
    EXPECT_SLOT("beta", DYNAPPS_ERR_WRONG_SLOT);
    CHECK(host.alloc_calls == 0 && host.sha_calls == 0 && calls.init_calls == 0);
    host.slots[0].bytes = alpha;
    EXPECT_SLOT("alpha", DYNAPPS_OK);
    /* a prefix of the label is not the label, nor is the label a prefix of the name */
    ib_set_name(alpha, "alph");
    EXPECT_SLOT("alpha", DYNAPPS_ERR_WRONG_SLOT);
    ib_set_name(alpha, "alphabet");
    EXPECT_SLOT("alpha", DYNAPPS_ERR_WRONG_SLOT);
    ib_set_name(alpha, "exactly16chars__");
    host.slots[0].name = "exactly16chars__";
    EXPECT_SLOT("exactly16chars__", DYNAPPS_OK);
    host.slots[0].name = "exactly16chars_x";
    EXPECT_SLOT("exactly16chars_x", DYNAPPS_ERR_WRONG_SLOT);
    /* a buffer has no slot: its name is not checked */
    EXPECT_BUFFER(beta, sb, DYNAPPS_OK);
    free(alpha);
    free(beta);
}

/* An XIP image linked for another slot's window, or one MMU page off, is refused before the
 * port is asked to map anything; so is any XIP image from a slot the port can't map for
 * execution (xip_vaddr 0). The slot's name is right each time: only the address is wrong. */
static void test_xip_image_linked_elsewhere(void)
{
    static const uint32_t linked_for[] = {0x42020000u, XIP_SLOT_VADDR + 0x10000u,
                                          XIP_SLOT_VADDR - 0x10000u, XIP_SLOT_VADDR + 4u};
    for (size_t i = 0; i < sizeof linked_for / sizeof linked_for[0]; i++) {
        size_t size;
        uint8_t *image = xip_image(linked_for[i], arena_addr(ARENA_AT), &size);
        ib_set_name(image, "fir");
        host.slot_count = 0;
        host_port_add_slot("fir", image, (uint32_t)size)->xip_vaddr = XIP_SLOT_VADDR;
        host_port_allow_xip(linked_for[i]); /* the port could map there: the core must not ask */
        host.xip_vaddr = 0;
        EXPECT_SLOT("fir", DYNAPPS_ERR_WRONG_ADDRESS);
        CHECK(host.xip_vaddr == 0 && host.sha_calls == 0 && host.alloc_calls == 0);
        CHECK(all_bytes(host.arena, host.arena_size, 0xA5) && calls.init_calls == 0);
        free(image);
    }
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    ib_set_name(image, "fir");
    host.slot_count = 0;
    host_slot_t *slot = host_port_add_slot("fir", image, (uint32_t)size);
    slot->xip_vaddr = 0;
    EXPECT_SLOT("fir", DYNAPPS_ERR_WRONG_ADDRESS);
    slot->xip_vaddr = XIP_SLOT_VADDR;
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("fir", DYNAPPS_OK);
    CHECK(host.xip_vaddr == XIP_SLOT_VADDR);
    free(image);
}

/* The name is checked first: another app's XIP image in a slot is WRONG_SLOT whatever its
 * address; v1 images (no name) are refused as an unsupported version. */
static void test_identity_error_order(void)
{
    size_t size;
    uint8_t *image = xip_image(0x42020000u, arena_addr(ARENA_AT), &size);
    ib_set_name(image, "stats");
    host_port_add_slot("fir", image, (uint32_t)size)->xip_vaddr = XIP_SLOT_VADDR;
    EXPECT_SLOT("fir", DYNAPPS_ERR_WRONG_SLOT);
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    h.format_version = 1;
    ib_write_header(image, &h);
    ib_rehash(image, size);
    EXPECT_SLOT("fir", DYNAPPS_ERR_UNSUPPORTED_VERSION);
    free(image);
}

#define TEST(fn) {#fn, fn}

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    TEST(test_sha256_fips_vectors),
    TEST(test_sha256_boundaries_and_chunks),
    TEST(test_err_names),
    TEST(test_iram_load_from_slot_with_alias),
    TEST(test_iram_load_from_unaligned_buffer_no_alias),
    TEST(test_iram_twice_from_buffer),
    TEST(test_iram_minimal),
    TEST(test_xip_load),
    TEST(test_xip_arena_overlap),
    TEST(test_xip_outside_arena),
    TEST(test_xip_window_unavailable),
    TEST(test_xip_from_buffer_unsupported),
    TEST(test_already_loaded_and_not_found),
    TEST(test_invalid_arguments),
    TEST(test_truncated),
    TEST(test_bad_magic_and_version),
    TEST(test_bad_header),
    TEST(test_bad_header_xip),
    TEST(test_alias_mismatch),
    TEST(test_wrong_chip),
    TEST(test_hash_mismatch),
    TEST(test_every_byte_flip),
    TEST(test_every_byte_flip_xip),
    TEST(test_firmware_mismatch),
    TEST(test_fixup_bounds),
    TEST(test_bad_tables),
    TEST(test_unresolved_import),
    TEST(test_out_of_memory),
    TEST(test_exec_ram_unavailable),
    TEST(test_init_failed),
    TEST(test_wrapper_calls),
    TEST(test_fixups_word_path_and_unaligned_buffers),
    TEST(test_fixup_bounds_word_path),
    TEST(test_no_memory_before_hashing),
    TEST(test_bookkeeping_is_one_small_record),
    TEST(test_already_loaded_by_slot_id),
    TEST(test_table_error_order),
    TEST(test_xip_import_failure_unmaps),
    TEST(test_call_counter_saturates),
    TEST(test_xip_data_plus_bss_wraps),
    TEST(test_image_from_another_slot),
    TEST(test_xip_image_linked_elsewhere),
    TEST(test_identity_error_order),
};

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) {
            continue; /* optional filter: ./test_loader xip */
        }
        host_port_reset();
        memset(&calls, 0, sizeof calls);
        failures = 0;
        tests[i].fn();
        CHECK_CLEAN(); /* whatever the test did, the port must be back where it started */
        printf("%s %s\n", failures == 0 ? "PASS" : "FAIL", tests[i].name);
        fflush(stdout);
        if (failures == 0) {
            passed++;
        } else {
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
