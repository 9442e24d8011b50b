/*
 * Static constructor and destructor arrays (image format v3, docs/image-format.md): called in
 * order after placing and before init, last first after deinit at unload, and after a failed
 * init; an array outside the data segment or an entry that does not call into the app's code
 * (an IRAM entry without its fix-up) is BAD_TABLE, and nothing of the app runs.
 */
#include "loader_tests.h"

#define CTOR_AT 24u /* data segment offsets of the standard IRAM app's two free words */
#define DTOR_AT 28u

/* The standard IRAM app, or the same layout as a PSRAM app (linked at 0: PSRAM has one address
 * for fetch and data), with one constructor (code + 24) and one destructor (code + 32) in its
 * data, each with its fix-up unless `fixed` is false. */
static uint8_t *copied_with_arrays(uint8_t strategy, bool fixed, size_t *size)
{
    iram_app_t a;
    uint32_t code_vaddr = strategy == DYNAPPS_STRATEGY_PSRAM ? 0u : (uint32_t)host.i_d_offset;
    iram_app(&a, code_vaddr);
    a.spec.strategy = strategy;
    ib_put32(a.data + CTOR_AT, code_vaddr + 24);
    ib_put32(a.data + DTOR_AT, code_vaddr + 32);
    uint32_t fixups[5] = {a.fixups[0], a.fixups[1], a.fixups[2], CODE_SPAN + CTOR_AT, CODE_SPAN + DTOR_AT};
    a.spec.fixups = fixups;
    a.spec.fixup_count = fixed ? 5 : 3;
    a.spec.init_array_vaddr = CODE_SPAN + CTOR_AT;
    a.spec.init_count = 1;
    a.spec.fini_array_vaddr = CODE_SPAN + DTOR_AT;
    a.spec.fini_count = 1;
    return ib_build(&a.spec, size);
}

static uint8_t *iram_with_arrays(bool fixed, size_t *size)
{
    return copied_with_arrays(DYNAPPS_STRATEGY_IRAM, fixed, size);
}

static void check_log(const char *kinds, const uint32_t *addrs)
{
    CHECK(calls.count == (int)strlen(kinds));
    CHECK(strncmp(calls.kinds, kinds, CALL_LOG_DEPTH) == 0);
    for (int i = 0; i < calls.count && i < CALL_LOG_DEPTH; i++) {
        CHECK(calls.addrs[i] == addrs[i]);
    }
}

/* A copied app (IRAM, or PSRAM: the same layout and fix-ups) calls its constructor before init
 * and its destructor after deinit, at their fixed-up addresses. */
static void check_copied_arrays(uint8_t strategy)
{
    size_t size;
    uint8_t *image = copied_with_arrays(strategy, true, &size);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(info.strategy == strategy);
    uint32_t code = (uint32_t)info.code_addr;
    check_log("vi", (const uint32_t[]){code + 24, code + 0}); /* constructor, then init */
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    check_log("vivv", (const uint32_t[]){code + 24, code + 0, code + 4, code + 32}); /* deinit, destructor */
    free(image);
}

void test_call_arrays_iram(void)
{
    check_copied_arrays(DYNAPPS_STRATEGY_IRAM);
}

void test_call_arrays_psram(void)
{
    check_copied_arrays(DYNAPPS_STRATEGY_PSRAM);
    CHECK(host.psram_allocs == 1);
}

void test_call_arrays_xip(void)
{
    xip_app_t a;
    uint32_t data_vaddr = arena_addr(ARENA_AT), code_vaddr = XIP_SLOT_VADDR + DYNAPPS_IMAGE_HEADER_SIZE;
    xip_app(&a, XIP_SLOT_VADDR, data_vaddr);
    ib_put32(a.data + 0, code_vaddr + 40); /* two constructors, then no destructor */
    ib_put32(a.data + 4, code_vaddr + 44);
    a.spec.init_array_vaddr = data_vaddr;
    a.spec.init_count = 2;
    a.spec.fini_array_vaddr = data_vaddr + 4; /* one destructor: the second word */
    a.spec.fini_count = 1;
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    CHECK(add_app_slot("x", image, (uint32_t)size) != NULL);
    host_port_allow_xip(XIP_SLOT_VADDR);
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("x", &app), DYNAPPS_OK);
    check_log("vvi", (const uint32_t[]){code_vaddr + 40, code_vaddr + 44, code_vaddr});
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
    check_log("vvivv", (const uint32_t[]){code_vaddr + 40, code_vaddr + 44, code_vaddr, code_vaddr + 4, code_vaddr + 44});
    free(image);
}

void test_call_arrays_after_failed_init(void)
{
    size_t size;
    uint8_t *image = iram_with_arrays(true, &size);
    dynapps_app_t *app = NULL;
    calls.init_result = 7;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_ERR_INIT_FAILED);
    CHECK(strcmp(calls.kinds, "viv") == 0); /* constructor, init, destructor: no deinit */
    CHECK(calls.addrs[2] - calls.addrs[0] == 8u);
    free(image);
}

/* Each array must be 4-aligned words inside the data segment. */
void test_call_arrays_bad_range(void)
{
    static const struct {
        uint32_t init_at, init_count, fini_at, fini_count;
    } cases[] = {
        {CODE_SPAN + DATA_SIZE - 4, 2, 0, 0},    /* runs past the data */
        {CODE_SPAN + CTOR_AT + 2, 1, 0, 0},      /* not 4-aligned */
        {CODE_SPAN - 4, 1, 0, 0},                /* before the data: in the code's padding */
        {0, 0, CODE_SPAN + DATA_SIZE, 1},        /* destructors in bss */
        {0, 0, CODE_SPAN, 0x40000000u},          /* a count whose bytes wrap 32 bits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iram_app_t a;
        iram_app(&a, (uint32_t)host.i_d_offset);
        a.spec.init_array_vaddr = cases[i].init_at;
        a.spec.init_count = cases[i].init_count;
        a.spec.fini_array_vaddr = cases[i].fini_at;
        a.spec.fini_count = cases[i].fini_count;
        size_t size;
        uint8_t *image = ib_build(&a.spec, &size);
        EXPECT_BUFFER(image, size, DYNAPPS_ERR_BAD_TABLE);
        CHECK(strcmp(last_refusal(), "call_arrays.range") == 0);
        CHECK(calls.count == 0);
        free(image);
    }
}

/* An IRAM or PSRAM entry without its fix-up still holds its link address: not in the loaded code. */
void test_call_array_entry_outside_code(void)
{
    static const uint8_t strategies[] = {DYNAPPS_STRATEGY_IRAM, DYNAPPS_STRATEGY_PSRAM};
    for (size_t i = 0; i < sizeof strategies; i++) {
        size_t size;
        uint8_t *image = copied_with_arrays(strategies[i], false, &size);
        EXPECT_BUFFER(image, size, DYNAPPS_ERR_BAD_TABLE);
        CHECK(strcmp(last_refusal(), "call_arrays.entry") == 0);
        CHECK(calls.count == 0); /* neither the constructor nor init ran */
        free(image);
    }
}
