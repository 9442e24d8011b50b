/*
 * dynapps loader core: verify an image, place it (IRAM copy + fix-ups, or flash XIP mapping),
 * bind its imports to the firmware export table, run its init. docs/loader-api.md is the
 * reference; docs/design.md says why the image looks the way it does.
 *
 * Portable: no ESP-IDF includes. Everything platform-specific goes through dynapps_port.h.
 * The image is read with memcpy only: a buffer handed to dynapps_load_from_buffer may have
 * any alignment, and nothing in it is trusted until it has been checked.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dynapps.h"
#include "dynapps_image.h"
#include "dynapps_internal.h"
#include "dynapps_port.h"
#include "dynapps_sha256.h"

/* The chip this firmware runs on (esp_chip_id_t). No default: a wrong one would let images for
 * another chip through, so the build must say it (host tests pass -DDYNAPPS_CHIP_ID=0). */
#ifndef DYNAPPS_CHIP_ID
#error "define DYNAPPS_CHIP_ID (esp_chip_id_t of the target chip) when compiling the dynapps core"
#endif

/* Whether the firmware uses a hard-float ABI. The compiler knows, so by default ask it. */
#ifndef DYNAPPS_FPU_ABI
#if defined(__riscv_float_abi_single) || defined(__riscv_float_abi_double)
#define DYNAPPS_FPU_ABI 1
#else
#define DYNAPPS_FPU_ABI 0
#endif
#endif

/* IRAM alignment bounds: fix-up words and import slots are 32-bit, so at least 4; more than
 * 4 KiB would only waste scarce executable RAM and hints at a corrupt header. */
#define ALIGN_LOG2_MIN 2u
#define ALIGN_LOG2_MAX 12u

#define ADDRESS_SPACE ((uint64_t)1 << 32) /* image addresses are 32-bit */

/* A header that passed the checks, and where each table starts in the file. */
typedef struct {
    dynapps_image_header_t h;
    const uint8_t *bytes;
    uint32_t code_span; /* IRAM: code_size rounded up to 1 << align_log2. XIP: code_size */
    uint32_t fixups;    /* file offsets of the tables */
    uint32_t imports;
    uint32_t exports;
    uint32_t strtab;
} image_t;

/*
 * One loaded app. Kept small (56 bytes on rv32); it is followed in the same allocation by a
 * copy of the export records (name_offset rewritten to index the names that follow), the
 * export names and the slot name, so nothing refers back to the image once loading returns.
 */
struct dynapps_app {
    dynapps_app_t *next;   /* list of loaded apps */
    const char *slot_name; /* NULL when loaded from a buffer */
    void *mem;             /* IRAM: data view of the exec allocation. XIP: the flash mapping */
    uintptr_t code_addr;
    uintptr_t data_addr;
    uintptr_t bias; /* export address = vaddr + bias (0 for XIP) */
    uint32_t code_size;
    uint32_t data_size;
    uint32_t bss_size;
    uint32_t ram_bytes;
    uint32_t fixup_count;
    uint32_t import_count;
    uint32_t export_count;
    uint32_t active_calls; /* calls through the wrappers now running: unload waits for 0 */
    uint8_t strategy;
};

/* Holds on 32-bit targets; a 64-bit host (the unit tests) has wider pointers. */
_Static_assert(sizeof(struct dynapps_app) <= 64 || UINTPTR_MAX > 0xFFFFFFFFu, "keep it small");

static dynapps_app_t *loaded_apps;

/* ---- reading the image ------------------------------------------------------------------ */

static uint32_t read_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static dynapps_image_import_t read_import(const image_t *img, uint32_t i)
{
    dynapps_image_import_t imp;
    memcpy(&imp, img->bytes + img->imports + i * sizeof imp, sizeof imp);
    return imp;
}

static dynapps_image_export_t read_export(const image_t *img, uint32_t i)
{
    dynapps_image_export_t exp;
    memcpy(&exp, img->bytes + img->exports + i * sizeof exp, sizeof exp);
    return exp;
}

/* Only valid for a name that name_ok accepted. */
static const char *strtab_name(const image_t *img, uint32_t offset)
{
    return (const char *)img->bytes + img->strtab + offset;
}

/* [base, base + size) fits the 32-bit address space without wrapping. */
static bool range_fits(uint32_t base, uint64_t size) { return base + size <= ADDRESS_SPACE; }

/* ---- header checks ------------------------------------------------------------------------ */

/* The fixed fields, and the part sizes adding up to image_size exactly. 64-bit sums: counts
 * are attacker-controlled and 32-bit products could wrap into a plausible total. Unknown flag
 * bits are ignored: docs/image-format.md only adds flags an older loader may safely ignore. */
static bool layout_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->header_size != DYNAPPS_IMAGE_HEADER_SIZE || h->reserved != 0) {
        return false;
    }
    /* An app without code is a broken build, and would ask the port for 0 bytes of exec RAM. */
    if (h->code_size == 0 || ((h->code_size | h->data_size | h->strtab_size) & 3u) != 0) {
        return false;
    }
    uint64_t fixups = (uint64_t)h->header_size + h->code_size + h->data_size;
    uint64_t imports = fixups + (uint64_t)h->fixup_count * sizeof(dynapps_image_fixup_t);
    uint64_t exports = imports + (uint64_t)h->import_count * sizeof(dynapps_image_import_t);
    uint64_t strtab = exports + (uint64_t)h->export_count * sizeof(dynapps_image_export_t);
    if (strtab + h->strtab_size + DYNAPPS_IMAGE_HASH_SIZE != h->image_size) {
        return false;
    }
    img->fixups = (uint32_t)fixups; /* all below image_size, so they fit */
    img->imports = (uint32_t)imports;
    img->exports = (uint32_t)exports;
    img->strtab = (uint32_t)strtab;
    return true;
}

/*
 * IRAM: the code segment is followed, 1 << align_log2 aligned, by the data segment, then bss;
 * the whole region must fit in 32 bits. How code_vaddr and data_vaddr relate depends on the
 * chip's IRAM/DRAM alias and is checked once the port has told us the alias (alias_ok).
 */
static bool iram_fields_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->align_log2 < ALIGN_LOG2_MIN || h->align_log2 > ALIGN_LOG2_MAX) {
        return false;
    }
    uint32_t align = 1u << h->align_log2;
    uint64_t span = ((uint64_t)h->code_size + align - 1u) & ~(uint64_t)(align - 1u);
    uint64_t ram = span + h->data_size + h->bss_size;
    if (ram > UINT32_MAX) {
        return false;
    }
    img->code_span = (uint32_t)span;
    return true;
}

/* XIP: linked at final addresses, so nothing to fix up; the header sits right before the code
 * in the mapped slot. align_log2 is not used (the MMU page rules belong to the port). */
static bool xip_fields_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->fixup_count != 0 || h->code_vaddr < h->header_size) {
        return false;
    }
    img->code_span = h->code_size;
    return true;
}

static bool strategy_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    bool ok;
    if (h->strategy == DYNAPPS_STRATEGY_IRAM) {
        ok = iram_fields_ok(img);
    } else if (h->strategy == DYNAPPS_STRATEGY_XIP) {
        ok = xip_fields_ok(img);
    } else {
        return false;
    }
    return ok && range_fits(h->code_vaddr, h->code_size) &&
           range_fits(h->data_vaddr, (uint64_t)h->data_size + h->bss_size);
}

static bool chip_ok(const dynapps_image_header_t *h)
{
    bool fpu = (h->flags & DYNAPPS_IMAGE_FLAG_FPU_ABI) != 0;
    return h->chip_id == (uint32_t)(DYNAPPS_CHIP_ID) && fpu == (DYNAPPS_FPU_ABI != 0);
}

/* Everything decided by the header alone, ending with "are all its bytes there". */
static dynapps_err_t check_header(const uint8_t *bytes, size_t avail, image_t *img)
{
    if (bytes == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (avail < DYNAPPS_IMAGE_HEADER_SIZE) {
        return DYNAPPS_ERR_TRUNCATED;
    }
    memcpy(&img->h, bytes, sizeof img->h);
    img->bytes = bytes;
    if (img->h.magic != DYNAPPS_IMAGE_MAGIC) {
        return DYNAPPS_ERR_BAD_MAGIC;
    }
    if (img->h.format_version != DYNAPPS_IMAGE_FORMAT_VERSION) {
        return DYNAPPS_ERR_UNSUPPORTED_VERSION;
    }
    if (!layout_ok(img) || !strategy_ok(img)) {
        return DYNAPPS_ERR_BAD_HEADER;
    }
    if (!chip_ok(&img->h)) {
        return DYNAPPS_ERR_WRONG_CHIP;
    }
    if (img->h.image_size > avail) {
        return DYNAPPS_ERR_TRUNCATED;
    }
    return DYNAPPS_OK;
}

/* ---- content checks (after the hash, the tables can be trusted to be what was built) ----- */

static bool hash_ok(const image_t *img)
{
    uint8_t digest[DYNAPPS_SHA256_SIZE];
    uint32_t covered = img->h.image_size - DYNAPPS_IMAGE_HASH_SIZE;
    dynapps_sha256(img->bytes, covered, digest);
    return memcmp(digest, img->bytes + covered, sizeof digest) == 0;
}

/* A fix-up word must lie wholly inside the code segment or the data segment: not in the
 * padding between them, not in bss (zeroed after copying), not beyond. */
static bool fixup_ok(const image_t *img, uint32_t offset)
{
    uint64_t end = (uint64_t)offset + sizeof(uint32_t);
    if ((offset & 3u) != 0) {
        return false;
    }
    if (end <= img->h.code_size) {
        return true;
    }
    return offset >= img->code_span && end <= (uint64_t)img->code_span + img->h.data_size;
}

static bool fixups_ok(const image_t *img)
{
    for (uint32_t i = 0; i < img->h.fixup_count; i++) {
        if (!fixup_ok(img, read_u32(img->bytes + img->fixups + 4u * i))) {
            return false;
        }
    }
    return true;
}

/* A name is a non-empty string that ends, with its NUL, inside the string table. */
static bool name_ok(const image_t *img, uint32_t offset)
{
    if (offset >= img->h.strtab_size) {
        return false;
    }
    const uint8_t *name = img->bytes + img->strtab + offset;
    return name[0] != '\0' && memchr(name, '\0', img->h.strtab_size - offset) != NULL;
}

/* Import slots are written at load time, so they must be in the (RAM) data segment. */
static bool imports_ok(const image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->import_count == 0) {
        return true; /* import_slots_vaddr unused */
    }
    uint64_t slots_end = (uint64_t)h->import_slots_vaddr + 4u * (uint64_t)h->import_count;
    if ((h->import_slots_vaddr & 3u) != 0 || h->import_slots_vaddr < h->data_vaddr ||
        slots_end > (uint64_t)h->data_vaddr + h->data_size) {
        return false;
    }
    for (uint32_t i = 0; i < h->import_count; i++) {
        if (!name_ok(img, read_import(img, i).name_offset)) {
            return false;
        }
    }
    return true;
}

/* Exports point into the code segment; at most one init and one deinit, never the same one. */
static bool exports_ok(const image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    const uint32_t known = DYNAPPS_EXPORT_FLAG_INIT | DYNAPPS_EXPORT_FLAG_DEINIT;
    uint32_t seen = 0;
    for (uint32_t i = 0; i < h->export_count; i++) {
        dynapps_image_export_t exp = read_export(img, i);
        if (!name_ok(img, exp.name_offset) || (exp.flags & ~known) != 0 ||
            (exp.flags & seen) != 0 || exp.flags == known) {
            return false;
        }
        if (exp.vaddr < h->code_vaddr || exp.vaddr - h->code_vaddr >= h->code_size) {
            return false;
        }
        seen |= exp.flags;
    }
    return true;
}

/* By index, with the name as a check that image and firmware agree on what the index means. */
static bool imports_resolve(const image_t *img)
{
    for (uint32_t i = 0; i < img->h.import_count; i++) {
        dynapps_image_import_t imp = read_import(img, i);
        if (imp.firmware_index >= dynapps_firmware.count) {
            return false;
        }
        const char *fw_name = dynapps_firmware.symbols[imp.firmware_index].name;
        if (fw_name == NULL || strcmp(fw_name, strtab_name(img, imp.name_offset)) != 0) {
            return false;
        }
    }
    return true;
}

static dynapps_err_t check_contents(const image_t *img)
{
    if (!hash_ok(img)) {
        return DYNAPPS_ERR_HASH_MISMATCH;
    }
    if (img->h.firmware_id != dynapps_firmware.id) {
        return DYNAPPS_ERR_FIRMWARE_MISMATCH;
    }
    if (!fixups_ok(img)) {
        return DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS;
    }
    if (!imports_ok(img) || !exports_ok(img)) {
        return DYNAPPS_ERR_BAD_TABLE;
    }
    if (!imports_resolve(img)) {
        return DYNAPPS_ERR_UNRESOLVED_IMPORT;
    }
    return DYNAPPS_OK;
}

/* ---- bookkeeping -------------------------------------------------------------------------- */

static dynapps_image_export_t *app_exports(const dynapps_app_t *app)
{
    return (dynapps_image_export_t *)(void *)((uint8_t *)(uintptr_t)app + sizeof *app);
}

static const char *app_export_name(const dynapps_app_t *app, const dynapps_image_export_t *exp)
{
    return (const char *)(app_exports(app) + app->export_count) + exp->name_offset;
}

static uint64_t export_names_size(const image_t *img)
{
    uint64_t size = 0;
    for (uint32_t i = 0; i < img->h.export_count; i++) {
        size += strlen(strtab_name(img, read_export(img, i).name_offset)) + 1u;
    }
    return size;
}

/* Copy the export records with their names packed after them, then the slot name. */
static void copy_exports(dynapps_app_t *app, const image_t *img, const char *slot_name)
{
    dynapps_image_export_t *exports = app_exports(app);
    char *names = (char *)(exports + app->export_count);
    uint32_t used = 0;
    for (uint32_t i = 0; i < app->export_count; i++) {
        exports[i] = read_export(img, i);
        const char *name = strtab_name(img, exports[i].name_offset);
        size_t len = strlen(name) + 1u;
        memcpy(names + used, name, len);
        exports[i].name_offset = used;
        used += (uint32_t)len;
    }
    if (slot_name != NULL) {
        memcpy(names + used, slot_name, strlen(slot_name) + 1u);
        app->slot_name = names + used;
    }
}

static dynapps_app_t *app_new(const image_t *img, const char *slot_name)
{
    uint64_t size = sizeof(dynapps_app_t) +
                    (uint64_t)img->h.export_count * sizeof(dynapps_image_export_t) +
                    export_names_size(img) + (slot_name != NULL ? strlen(slot_name) + 1u : 0u);
    if (size > UINT32_MAX) {
        return NULL;
    }
    dynapps_app_t *app = dynapps_port_malloc((size_t)size);
    if (app == NULL) {
        return NULL;
    }
    memset(app, 0, sizeof *app);
    app->strategy = img->h.strategy;
    app->code_size = img->h.code_size;
    app->data_size = img->h.data_size;
    app->bss_size = img->h.bss_size;
    app->fixup_count = img->h.fixup_count;
    app->import_count = img->h.import_count;
    app->export_count = img->h.export_count;
    app->ram_bytes = (uint32_t)size;
    copy_exports(app, img, slot_name);
    return app;
}

static bool is_loaded(const dynapps_app_t *app)
{
    for (const dynapps_app_t *a = loaded_apps; a != NULL; a = a->next) {
        if (a == app) {
            return true;
        }
    }
    return false;
}

static bool name_loaded(const char *slot_name)
{
    for (const dynapps_app_t *a = loaded_apps; a != NULL; a = a->next) {
        if (a->slot_name != NULL && strcmp(a->slot_name, slot_name) == 0) {
            return true;
        }
    }
    return false;
}

static void unlink_app(const dynapps_app_t *app)
{
    for (dynapps_app_t **link = &loaded_apps; *link != NULL; link = &(*link)->next) {
        if (*link == app) {
            *link = app->next;
            return;
        }
    }
}

/* ---- placing ------------------------------------------------------------------------------ */

/* Import slot i gets the address of the firmware symbol the import names (checked already). */
static void bind_imports(const image_t *img, uint8_t *slots)
{
    for (uint32_t i = 0; i < img->h.import_count; i++) {
        const void *target = dynapps_firmware.symbols[read_import(img, i).firmware_index].address;
        uint32_t word = (uint32_t)(uintptr_t)target; /* exact on rv32 */
        memcpy(slots + 4u * i, &word, sizeof word);
    }
}

/*
 * One bias must serve both aliases (docs/design.md): code is linked so that bias = exec -
 * code_vaddr lands it at exec, and the data segment so that the same bias lands it at
 * view + code_span. That holds iff code_vaddr + code_span - data_vaddr equals the port's
 * exec - view (0x700000 on esp32c3, 0 on chips with one address per byte).
 */
static bool alias_ok(const image_t *img, uintptr_t exec, const uint8_t *view)
{
    uint32_t port_offset = (uint32_t)(exec - (uintptr_t)view);
    uint32_t image_offset = img->h.code_vaddr + img->code_span - img->h.data_vaddr;
    return port_offset == image_offset;
}

/* Writes go through the data view only: on esp32c3 the IRAM alias takes no byte stores. */
static void copy_iram(const image_t *img, uint8_t *view, uint32_t bias)
{
    const dynapps_image_header_t *h = &img->h;
    const uint8_t *code = img->bytes + h->header_size;
    memcpy(view, code, h->code_size);
    memset(view + h->code_size, 0, img->code_span - h->code_size);
    memcpy(view + img->code_span, code + h->code_size, h->data_size);
    memset(view + img->code_span + h->data_size, 0, h->bss_size);
    for (uint32_t i = 0; i < h->fixup_count; i++) {
        uint8_t *at = view + read_u32(img->bytes + img->fixups + 4u * i);
        uint32_t word = read_u32(at) + bias; /* memcpy: data words need not be aligned */
        memcpy(at, &word, sizeof word);
    }
    if (h->import_count != 0) {
        bind_imports(img, view + img->code_span + (h->import_slots_vaddr - h->data_vaddr));
    }
}

static dynapps_err_t place_iram(const image_t *img, dynapps_app_t *app)
{
    const dynapps_image_header_t *h = &img->h;
    uint32_t size = img->code_span + h->data_size + h->bss_size;
    uintptr_t exec = 0;
    uint8_t *view = NULL;
    dynapps_err_t err = dynapps_port_exec_alloc(size, (size_t)1 << h->align_log2, &exec, &view);
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (!alias_ok(img, exec, view)) {
        dynapps_port_exec_free(view);
        return DYNAPPS_ERR_BAD_HEADER;
    }
    uintptr_t bias = exec - h->code_vaddr;
    copy_iram(img, view, (uint32_t)bias);
    dynapps_port_sync_code(view, exec, h->code_size);
    app->mem = view;
    app->code_addr = exec;
    app->data_addr = (uintptr_t)(view + img->code_span);
    app->bias = bias;
    app->ram_bytes += size; /* both live allocations in one address space: can't wrap */
    return DYNAPPS_OK;
}

/* [base, base + size) is inside the data arena and clear of every loaded XIP app's data. */
static bool arena_range_free(uint32_t base, uint32_t size)
{
    uintptr_t arena = 0;
    size_t arena_size = 0;
    dynapps_port_data_arena(&arena, &arena_size);
    if (base < arena || base - arena > arena_size || size > arena_size - (base - arena)) {
        return false;
    }
    for (const dynapps_app_t *a = loaded_apps; a != NULL; a = a->next) {
        uint64_t a_end = (uint64_t)a->data_addr + a->data_size + a->bss_size;
        if (a->strategy == DYNAPPS_STRATEGY_XIP && a_end > a->data_addr && base < a_end &&
            a->data_addr < (uint64_t)base + size) {
            return false;
        }
    }
    return true;
}

static dynapps_err_t place_xip(const image_t *img, const dynapps_slot_t *slot, dynapps_app_t *app)
{
    const dynapps_image_header_t *h = &img->h;
    uint32_t ram = h->data_size + h->bss_size; /* range_fits checked it */
    if (ram != 0 && !arena_range_free(h->data_vaddr, ram)) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    void *mapping = NULL;
    dynapps_err_t err =
        dynapps_port_map_xip(slot, h->code_vaddr - h->header_size, h->image_size, &mapping);
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (ram != 0) { /* data_vaddr may be anything, even 0, when there is no data */
        uint8_t *data = (uint8_t *)(uintptr_t)h->data_vaddr;
        memcpy(data, img->bytes + h->header_size + h->code_size, h->data_size);
        memset(data + h->data_size, 0, h->bss_size);
    }
    if (h->import_count != 0) {
        bind_imports(img, (uint8_t *)(uintptr_t)h->import_slots_vaddr);
    }
    app->mem = mapping;
    app->code_addr = h->code_vaddr;
    app->data_addr = h->data_vaddr;
    app->ram_bytes += ram;
    return DYNAPPS_OK;
}

/* Give back what place_iram / place_xip took. The data arena is fixed: nothing to free there. */
static void unplace(dynapps_app_t *app)
{
    if (app->strategy == DYNAPPS_STRATEGY_IRAM) {
        dynapps_port_exec_free(app->mem);
    } else {
        dynapps_port_unmap_xip(app->mem);
    }
}

/* ---- calling into the app ----------------------------------------------------------------- */

#ifndef DYNAPPS_APP_CALL_HOOK
int dynapps_call_init(uintptr_t address) { return ((int (*)(void))address)(); }

void dynapps_call_deinit(uintptr_t address) { ((void (*)(void))address)(); }
#endif

static const dynapps_image_export_t *find_flagged(const dynapps_app_t *app, uint32_t flag)
{
    const dynapps_image_export_t *exports = app_exports(app);
    for (uint32_t i = 0; i < app->export_count; i++) {
        if ((exports[i].flags & flag) != 0) {
            return &exports[i];
        }
    }
    return NULL;
}

static uintptr_t export_address(const dynapps_app_t *app, const dynapps_image_export_t *exp)
{
    return (uintptr_t)exp->vaddr + app->bias;
}

static dynapps_err_t run_init(const dynapps_app_t *app)
{
    const dynapps_image_export_t *init = find_flagged(app, DYNAPPS_EXPORT_FLAG_INIT);
    if (init != NULL && dynapps_call_init(export_address(app, init)) != 0) {
        return DYNAPPS_ERR_INIT_FAILED;
    }
    return DYNAPPS_OK;
}

/* ---- loading ------------------------------------------------------------------------------ */

/* slot is NULL for a RAM buffer, which can only hold an IRAM image. */
static dynapps_err_t load_image(const uint8_t *bytes, size_t avail, const dynapps_slot_t *slot,
                                const char *slot_name, dynapps_app_t **out)
{
    image_t img;
    dynapps_err_t err = check_header(bytes, avail, &img);
    if (err == DYNAPPS_OK) {
        err = check_contents(&img);
    }
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (img.h.strategy == DYNAPPS_STRATEGY_XIP && slot == NULL) {
        return DYNAPPS_ERR_STRATEGY_UNSUPPORTED;
    }
    dynapps_app_t *app = app_new(&img, slot_name);
    if (app == NULL) {
        return DYNAPPS_ERR_NO_MEM;
    }
    err = img.h.strategy == DYNAPPS_STRATEGY_IRAM ? place_iram(&img, app)
                                                   : place_xip(&img, slot, app);
    if (err == DYNAPPS_OK && (err = run_init(app)) != DYNAPPS_OK) {
        unplace(app); /* a failed init gets no deinit: it set nothing up */
    }
    if (err != DYNAPPS_OK) {
        dynapps_port_free(app);
        return err;
    }
    app->next = loaded_apps;
    loaded_apps = app;
    *out = app;
    return DYNAPPS_OK;
}

/* The slot is only read while loading; an XIP mapping made from it is independent of it. */
static dynapps_err_t load_slot(const char *name, dynapps_app_t **out)
{
    if (name_loaded(name)) {
        return DYNAPPS_ERR_ALREADY_LOADED;
    }
    dynapps_slot_t slot;
    memset(&slot, 0, sizeof slot);
    dynapps_err_t err = dynapps_port_find_slot(name, &slot);
    if (err != DYNAPPS_OK) {
        return err;
    }
    err = load_image(slot.bytes, slot.size, &slot, name, out);
    dynapps_port_release_slot(&slot);
    return err;
}

/* ---- public API --------------------------------------------------------------------------- */

dynapps_err_t dynapps_load(const char *name, dynapps_app_t **out)
{
    if (name == NULL || out == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    *out = NULL;
    dynapps_port_lock();
    dynapps_err_t err = load_slot(name, out);
    dynapps_port_unlock();
    return err;
}

dynapps_err_t dynapps_load_from_buffer(const void *image, size_t size, dynapps_app_t **out)
{
    if (image == NULL || out == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    *out = NULL;
    dynapps_port_lock();
    dynapps_err_t err = load_image(image, size, NULL, NULL, out);
    dynapps_port_unlock();
    return err;
}

static dynapps_err_t find_export(const dynapps_app_t *app, const char *name, void **function)
{
    if (!is_loaded(app)) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    const dynapps_image_export_t *exports = app_exports(app);
    for (uint32_t i = 0; i < app->export_count; i++) {
        if (strcmp(app_export_name(app, &exports[i]), name) == 0) {
            *function = (void *)export_address(app, &exports[i]);
            return DYNAPPS_OK;
        }
    }
    return DYNAPPS_ERR_NOT_FOUND;
}

dynapps_err_t dynapps_find_export(const dynapps_app_t *app, const char *name, void **function)
{
    if (app == NULL || name == NULL || function == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    *function = NULL;
    dynapps_port_lock();
    dynapps_err_t err = find_export(app, name, function);
    dynapps_port_unlock();
    return err;
}

static void fill_info(const dynapps_app_t *app, dynapps_app_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->strategy = app->strategy;
    info->code_addr = app->code_addr;
    info->data_addr = app->data_addr;
    info->code_size = app->code_size;
    info->data_size = app->data_size;
    info->bss_size = app->bss_size;
    info->ram_bytes = app->ram_bytes;
    info->fixup_count = app->fixup_count;
    info->import_count = app->import_count;
    info->export_count = app->export_count;
}

dynapps_err_t dynapps_get_info(const dynapps_app_t *app, dynapps_app_info_t *info)
{
    if (app == NULL || info == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = is_loaded(app) ? DYNAPPS_OK : DYNAPPS_ERR_INVALID_ARG;
    if (err == DYNAPPS_OK) {
        fill_info(app, info);
    }
    dynapps_port_unlock();
    return err;
}

/* Deinit, then give back everything. Caller holds the lock and checked the handle. */
static dynapps_err_t unload_locked(dynapps_app_t *app)
{
    if (app->active_calls != 0) {
        return DYNAPPS_ERR_BUSY;
    }
    const dynapps_image_export_t *deinit = find_flagged(app, DYNAPPS_EXPORT_FLAG_DEINIT);
    if (deinit != NULL) {
        dynapps_call_deinit(export_address(app, deinit));
    }
    unlink_app(app);
    unplace(app);
    dynapps_port_free(app);
    return DYNAPPS_OK;
}

/* A handle that is not in the list (never loaded, or unloaded already) is refused without
 * being dereferenced, so a double unload is an error rather than a double free. */
dynapps_err_t dynapps_unload(dynapps_app_t *app)
{
    if (app == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = is_loaded(app) ? unload_locked(app) : DYNAPPS_ERR_INVALID_ARG;
    dynapps_port_unlock();
    return err;
}

/* ---- calls through the generated wrappers ------------------------------------------------- */

dynapps_err_t dynapps_load_handle(const char *name, dynapps_app_t **handle)
{
    if (name == NULL || handle == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = *handle != NULL ? DYNAPPS_ERR_ALREADY_LOADED : load_slot(name, handle);
    dynapps_port_unlock();
    return err;
}

dynapps_err_t dynapps_unload_handle(dynapps_app_t **handle)
{
    if (handle == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = *handle == NULL ? DYNAPPS_ERR_NOT_LOADED : unload_locked(*handle);
    if (err == DYNAPPS_OK) {
        *handle = NULL;
    }
    dynapps_port_unlock();
    return err;
}

/* Export `index` in manifest order (init and deinit come after the exports). */
static dynapps_err_t begin_locked(const char *name, dynapps_app_t **handle, uint32_t index, void **function)
{
    if (*handle == NULL) {
        dynapps_err_t err = load_slot(name, handle); /* first call loads the app */
        if (err != DYNAPPS_OK) {
            *handle = NULL;
            return err;
        }
    }
    dynapps_app_t *app = *handle;
    const dynapps_image_export_t *exports = app_exports(app);
    if (index >= app->export_count || exports[index].flags != 0) {
        return DYNAPPS_ERR_NOT_FOUND; /* wrappers and image disagree: rebuild both */
    }
    *function = (void *)export_address(app, &exports[index]);
    app->active_calls++;
    return DYNAPPS_OK;
}

dynapps_err_t dynapps_call_begin(const char *name, dynapps_app_t **handle, uint32_t index, void **function)
{
    if (name == NULL || handle == NULL || function == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = begin_locked(name, handle, index, function);
    dynapps_port_unlock();
    return err;
}

void dynapps_call_end(dynapps_app_t *app)
{
    dynapps_port_lock();
    app->active_calls--;
    dynapps_port_unlock();
}

/* Firmware may define its own to log or count; by default a failed call only sets the status. */
__attribute__((weak)) void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    (void)app;
    (void)function;
    (void)err;
}
