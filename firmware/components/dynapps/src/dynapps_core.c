/*
 * dynapps loader core: verify an image, place it (IRAM copy + fix-ups, or flash XIP mapping),
 * bind its imports to the firmware export table, run its init. docs/loader-api.md is the
 * reference; docs/design.md says why the image looks the way it does.
 *
 * Portable: no ESP-IDF includes. Everything platform-specific goes through dynapps_port.h.
 * Nothing in an image is trusted until it has been checked. Every part of an image starts on a
 * 4-byte boundary, so when the image itself is 4-aligned (a flash slot always is, a RAM buffer
 * usually) its tables are read a word at a time; a buffer handed to dynapps_load_from_buffer
 * may have any alignment, and is then read with byte-wise memcpy.
 *
 * A load, in order: header checks; identity (slot label, XIP address); a place in the table of
 * loaded apps and the bookkeeping record; executable RAM (IRAM) or the data arena range (XIP)
 * reserved; SHA-256 of the image; table checks; copy, fix-ups, import binding (IRAM) or mapping,
 * data copy, import binding (XIP); then, with the loader lock released, init. Nothing is copied,
 * mapped or run before the hash has been checked, and a load that can't get its memory fails
 * before hashing.
 *
 * Handles (docs/loader-api.md, "Handles"): the dynapps_app_t * given out is a token naming one
 * load, never the record's address, so that a handle whose app was unloaded is refused without
 * touching freed memory. Locking: init and deinit run app code, which may call the loader, so
 * they run without the lock while their app is in the table but invisible (no handle).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dynapps.h"
#include "dynapps_image.h"
#include "dynapps_internal.h"
#include "dynapps_port.h"

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
#define NO_SLOT ((uintptr_t)0)            /* dynapps_app.slot of an app loaded from a buffer */

/* How many apps can be loaded at once: one pointer each in `apps`, static. ESP-IDF sets it from
 * Kconfig (CONFIG_DYNAPPS_MAX_LOADED_APPS). At most 256: a handle keeps the index in 8 bits. */
#ifndef DYNAPPS_MAX_LOADED_APPS
#define DYNAPPS_MAX_LOADED_APPS 32
#endif
_Static_assert(DYNAPPS_MAX_LOADED_APPS >= 1 && DYNAPPS_MAX_LOADED_APPS <= 256, "1 to 256 apps");

/* A handle: bits 0-7 the record's index in `apps`, bits 8-31 the load's sequence number, which
 * is never 0 (so neither is a handle) and repeats only after 2^24 - 1 loads. */
#define HANDLE_INDEX_BITS 8u
#define HANDLE_INDEX_MASK ((1u << HANDLE_INDEX_BITS) - 1u)
#define HANDLE_SEQUENCE_MASK (UINT32_MAX >> HANDLE_INDEX_BITS)

/* The few helpers of the call path, inlined even where they are used twice: a call through a
 * wrapper should cost little more than a plain call. */
#if defined(__GNUC__)
#define CALL_PATH static inline __attribute__((always_inline))
#else
#define CALL_PATH static inline
#endif

/* memcpy through a pointer known to be 4-aligned: a single load or store on rv32, and free of
 * the aliasing questions a cast to uint32_t * would raise. */
#if defined(__GNUC__)
#define ALIGNED4(p) __builtin_assume_aligned((p), 4)
#else
#define ALIGNED4(p) (p)
#endif

/* The fix-up loop is the one loop of a load that runs per table entry with almost nothing in
 * it: unrolled, its counter and branch cost a quarter as much. */
#if defined(__GNUC__) && !defined(__clang__)
#define FIXUP_UNROLL _Pragma("GCC unroll 4")
#else
#define FIXUP_UNROLL
#endif

/* A header that passed the checks, and where each table starts in the file. */
typedef struct {
    dynapps_image_header_t h;
    const uint8_t *bytes;
    uint32_t code_span; /* IRAM: code_size rounded up to 1 << align_log2. XIP: code_size */
    uint32_t fixups;    /* file offsets of the tables */
    uint32_t imports;
    uint32_t exports;
    uint32_t strtab;
    uint32_t tail;       /* IRAM: offset of the export table copy in the executable allocation */
    uint32_t names_from; /* IRAM: the export names kept are string table bytes [from, end) */
    uint32_t names_end;
    bool aligned; /* bytes is 4-aligned: every table can be read a word at a time */
} image_t;

/*
 * One loaded app: 56 bytes on rv32, its only heap block (plus its pointer in `apps`). The
 * export records and their names are not copied here: an XIP app's stay in its mapped slot
 * (dynapps_port.h: the slot's bytes stay readable while the mapping lives), an IRAM app's are
 * copied into its executable allocation after bss (app RAM, counted in ram_bytes). In both,
 * `exports` points at export_count records followed by the names their name_offset indexes.
 */
struct dynapps_app {
    void *mem; /* IRAM: data view of the executable allocation. XIP: the mapping */
    const dynapps_image_export_t *exports;
    uintptr_t slot; /* dynapps_slot_t.id of the slot it came from; NO_SLOT for a buffer */
    uintptr_t code_addr;
    uintptr_t data_addr;
    uintptr_t bias; /* export address = vaddr + bias (0 for XIP) */
    uint32_t code_size;
    uint32_t data_size;
    uint32_t bss_size;
    uint32_t fixup_count;
    uint32_t import_count;
    uint32_t export_count;
    /* The handle this load gave out (index and sequence number), or 0 while the app is not
     * live: its init is running, or its unload was accepted and deinit is running. Only a live
     * app is reachable through a handle; the others hold their slot and memory meanwhile. */
    uint32_t handle;
    uint16_t active_calls; /* calls through the wrappers now running: unload waits for 0 */
    uint8_t strategy;
    uint8_t index; /* in `apps` */
};

/* The bookkeeping bound (docs/loader-api.md): one record per app, at most 64 bytes on 32-bit
 * targets; a 64-bit host (the unit tests) has wider pointers. */
_Static_assert(sizeof(struct dynapps_app) <= 56 || UINTPTR_MAX > 0xFFFFFFFFu, "keep it small");

/* Every app from the start of its load to the end of its unload, by the index in its handle.
 * Guarded by the loader lock, like everything below that changes. */
static dynapps_app_t *apps[DYNAPPS_MAX_LOADED_APPS];
static uint32_t load_sequence; /* sequence number of the last load's handle */

/* ---- reading the image ------------------------------------------------------------------ */

static uint32_t read_u32(const uint8_t *p) /* any alignment */
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t load_word(const uint8_t *p) /* p is 4-aligned */
{
    uint32_t v;
    memcpy(&v, ALIGNED4(p), sizeof v);
    return v;
}

static void store_word(uint8_t *p, uint32_t v) /* p is 4-aligned */
{
    memcpy(ALIGNED4(p), &v, sizeof v);
}

/* The word at file offset `offset` (a multiple of 4) of the image. */
static uint32_t image_word(const image_t *img, uint32_t offset)
{
    return img->aligned ? load_word(img->bytes + offset) : read_u32(img->bytes + offset);
}

static dynapps_image_import_t read_import(const image_t *img, uint32_t i)
{
    uint32_t at = img->imports + i * (uint32_t)sizeof(dynapps_image_import_t);
    dynapps_image_import_t imp = {image_word(img, at), image_word(img, at + 4u)};
    return imp;
}

static dynapps_image_export_t read_export(const image_t *img, uint32_t i)
{
    uint32_t at = img->exports + i * (uint32_t)sizeof(dynapps_image_export_t);
    dynapps_image_export_t exp = {image_word(img, at), image_word(img, at + 4u), image_word(img, at + 8u)};
    return exp;
}

/* Only valid for a name that name_ok accepted. */
static const char *strtab_name(const image_t *img, uint32_t offset)
{
    return (const char *)img->bytes + img->strtab + offset;
}

/* [base, base + size) fits the 32-bit address space without wrapping. */
static bool range_fits(uint32_t base, uint64_t size) { return base + size <= ADDRESS_SPACE; }

static uint64_t align4(uint64_t value) { return (value + 3u) & ~(uint64_t)3u; }

/* ---- header checks ------------------------------------------------------------------------ */

/* The fixed fields, and the part sizes adding up to image_size exactly. 64-bit sums: counts
 * are attacker-controlled and 32-bit products could wrap into a plausible total. Unknown flag
 * bits are ignored: docs/image-format.md only adds flags an older loader may safely ignore. */
static bool layout_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->header_size != DYNAPPS_IMAGE_HEADER_SIZE || h->reserved != 0 || h->reserved2 != 0) {
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

/* The header is copied once, so what was checked is what is used. */
static void copy_header(image_t *img)
{
    if (img->aligned) {
        uint8_t *to = (uint8_t *)&img->h;
        for (uint32_t at = 0; at < sizeof img->h; at += 4u) {
            uint32_t word = load_word(img->bytes + at);
            memcpy(to + at, &word, sizeof word);
        }
    } else {
        memcpy(&img->h, img->bytes, sizeof img->h);
    }
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
    img->bytes = bytes;
    img->aligned = ((uintptr_t)bytes & 3u) == 0;
    copy_header(img);
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

/* The slot's label and the image's name are compared as the 16 bytes they are. */
_Static_assert(sizeof(((dynapps_slot_t *)0)->label) == DYNAPPS_IMAGE_NAME_SIZE, "label size");

/* Header-only, like the chip: an image built for another slot (another app, or this app for
 * another partition layout) is refused before anything is allocated, hashed or mapped. An XIP
 * image runs only where it was linked, which must be where the port maps this slot. */
static dynapps_err_t identity_ok(const image_t *img, const dynapps_slot_t *slot)
{
    const dynapps_image_header_t *h = &img->h;
    if (memcmp(h->name, slot->label, DYNAPPS_IMAGE_NAME_SIZE) != 0) {
        return DYNAPPS_ERR_WRONG_SLOT;
    }
    if (h->strategy == DYNAPPS_STRATEGY_XIP &&
        (slot->xip_vaddr == 0 || h->code_vaddr - h->header_size != slot->xip_vaddr)) {
        return DYNAPPS_ERR_WRONG_ADDRESS;
    }
    return DYNAPPS_OK;
}

/* ---- content checks (after the hash, the tables can be trusted to be what was built) ----- */

/* The SHA-256 comes from the port: the chip's accelerator where there is one. */
static bool hash_ok(const image_t *img)
{
    uint32_t digest[DYNAPPS_IMAGE_HASH_SIZE / 4];
    uint32_t covered = img->h.image_size - DYNAPPS_IMAGE_HASH_SIZE; /* a multiple of 4 */
    dynapps_port_sha256(img->bytes, covered, (uint8_t *)digest);
    uint32_t diff = 0;
    for (uint32_t i = 0; i < DYNAPPS_IMAGE_HASH_SIZE / 4; i++) {
        diff |= digest[i] ^ image_word(img, covered + 4u * i);
    }
    return diff == 0;
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

/* The separate check pass: only run to tell which error an image with bad tables reports first
 * (copy_iram checks each fix-up as it applies it). */
static bool fixups_ok(const image_t *img)
{
    for (uint32_t i = 0; i < img->h.fixup_count; i++) {
        if (!fixup_ok(img, image_word(img, img->fixups + 4u * i))) {
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

/* Import slots are written at load time, so they must be in the (RAM) data segment, and on
 * word boundaries both as addresses (XIP) and as offsets in the data segment (IRAM). */
static bool slots_ok(const image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->import_count == 0) {
        return true; /* import_slots_vaddr unused */
    }
    uint64_t slots_end = (uint64_t)h->import_slots_vaddr + 4u * (uint64_t)h->import_count;
    return ((h->import_slots_vaddr | h->data_vaddr) & 3u) == 0 &&
           h->import_slots_vaddr >= h->data_vaddr &&
           slots_end <= (uint64_t)h->data_vaddr + h->data_size;
}

static bool imports_ok(const image_t *img)
{
    if (!slots_ok(img)) {
        return false;
    }
    for (uint32_t i = 0; i < img->h.import_count; i++) {
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

/*
 * After the hash: the firmware id and the tables whose checks are cheap. Fix-ups are checked
 * while copy_iram applies them and imports while bind_imports binds them, each table read once;
 * the documented order of the errors (fix-ups, then tables, then imports) is kept by running
 * the separate check pass only when an earlier stage fails.
 */
static dynapps_err_t check_contents(const image_t *img)
{
    if (!hash_ok(img)) {
        return DYNAPPS_ERR_HASH_MISMATCH;
    }
    if (img->h.firmware_id != dynapps_firmware.id) {
        return DYNAPPS_ERR_FIRMWARE_MISMATCH;
    }
    if (!slots_ok(img) || !exports_ok(img)) {
        return fixups_ok(img) ? DYNAPPS_ERR_BAD_TABLE : DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS;
    }
    return DYNAPPS_OK;
}

/* ---- bookkeeping -------------------------------------------------------------------------- */

static dynapps_app_t *app_new(const image_t *img, uintptr_t slot)
{
    dynapps_app_t *app = dynapps_port_malloc(sizeof *app);
    if (app == NULL) {
        return NULL;
    }
    *app = (dynapps_app_t){
        .slot = slot,
        .code_size = img->h.code_size,
        .data_size = img->h.data_size,
        .bss_size = img->h.bss_size,
        .fixup_count = img->h.fixup_count,
        .import_count = img->h.import_count,
        .export_count = img->h.export_count,
        .strategy = img->h.strategy,
    };
    return app;
}

static const char *export_name(const dynapps_app_t *app, const dynapps_image_export_t *exp)
{
    return (const char *)(app->exports + app->export_count) + exp->name_offset;
}

/* Every byte of RAM the app holds: the record, and its executable allocation (IRAM: code, data,
 * bss, export table and names) or its data arena range (XIP). */
static uint32_t app_ram_bytes(const dynapps_app_t *app)
{
    uint32_t held = app->data_size + app->bss_size;
    if (app->strategy == DYNAPPS_STRATEGY_IRAM) {
        uint32_t names = 0; /* the copied names end with the one furthest in */
        for (uint32_t i = 0; i < app->export_count; i++) {
            const dynapps_image_export_t *exp = &app->exports[i];
            uint32_t end = exp->name_offset + (uint32_t)strlen(export_name(app, exp)) + 1u;
            names = end > names ? end : names;
        }
        const uint8_t *table_end = (const uint8_t *)(app->exports + app->export_count);
        held = (uint32_t)(table_end - (const uint8_t *)app->mem) + names;
    }
    return held + (uint32_t)sizeof *app;
}

/* The live app `handle` names, or NULL: one table look-up, and the record is only read once the
 * table says it is there, so a stale or made-up handle never reaches freed memory. */
static dynapps_app_t *live_app(const dynapps_app_t *handle)
{
    uintptr_t token = (uintptr_t)handle;
    uintptr_t index = token & HANDLE_INDEX_MASK;
    if (index >= DYNAPPS_MAX_LOADED_APPS || token >> HANDLE_INDEX_BITS == 0) {
        return NULL; /* sequence number 0: NULL, or never given out (app->handle 0 = not live) */
    }
    dynapps_app_t *app = apps[index];
    return app != NULL && app->handle == token ? app : NULL;
}

/* A free index in `apps`, or -1. */
static int free_index(void)
{
    for (int i = 0; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        if (apps[i] == NULL) {
            return i;
        }
    }
    return -1;
}

/* Put a placed app in the table at `index`, invisible (no handle) until its init has run. */
static void register_app(dynapps_app_t *app, int index)
{
    app->index = (uint8_t)index;
    app->handle = 0;
    apps[index] = app;
}

/* Make the app live: a new handle, with the next sequence number. */
static dynapps_app_t *publish(dynapps_app_t *app)
{
    load_sequence = (load_sequence + 1u) & HANDLE_SEQUENCE_MASK;
    if (load_sequence == 0) {
        load_sequence = 1;
    }
    app->handle = load_sequence << HANDLE_INDEX_BITS | app->index;
    return (dynapps_app_t *)(uintptr_t)app->handle;
}

/* Whether slot `slot` can be loaded: not while an app from it is loaded, or being loaded or
 * unloaded by another task (its init or deinit is running). */
static dynapps_err_t slot_free(uintptr_t slot)
{
    for (int i = 0; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        const dynapps_app_t *a = apps[i];
        if (a != NULL && slot != NO_SLOT && a->slot == slot) {
            return a->handle != 0 ? DYNAPPS_ERR_ALREADY_LOADED : DYNAPPS_ERR_SLOT_BUSY;
        }
    }
    return DYNAPPS_OK;
}

/* ---- placing ------------------------------------------------------------------------------ */

/*
 * Import slot i gets the address of the firmware symbol import i names. One pass over the
 * records, each read once: index in range, the firmware's name at that index equal to the
 * recorded one (strcmp stays inside the string table because its last byte is a NUL), slot
 * written. False if anything is off, or the image is not 4-aligned: bind_imports_checked then
 * decides with the full checks.
 */
static bool bind_imports(const image_t *img, uint8_t *slots)
{
    const uint32_t strtab_size = img->h.strtab_size;
    const uint8_t *strtab = img->bytes + img->strtab;
    if (!img->aligned || strtab_size == 0 || strtab[strtab_size - 1u] != '\0') {
        return false;
    }
    const dynapps_symbol_t *symbols = dynapps_firmware.symbols;
    const uint32_t count = dynapps_firmware.count;
    const uint8_t *record = img->bytes + img->imports;
    for (uint32_t i = 0, n = img->h.import_count; i < n; i++, record += 8) {
        uint32_t name = load_word(record);
        uint32_t index = load_word(record + 4);
        if (name >= strtab_size || index >= count) {
            return false;
        }
        const char *fw_name = symbols[index].name;
        if (fw_name == NULL || fw_name[0] == '\0' || strcmp(fw_name, (const char *)strtab + name) != 0) {
            return false;
        }
        store_word(slots + 4u * i, (uint32_t)(uintptr_t)symbols[index].address); /* exact on rv32 */
    }
    return true;
}

/* The slow path of bind_imports: the checks in their documented order, then the binding. */
static dynapps_err_t bind_imports_checked(const image_t *img, uint8_t *slots)
{
    if (!imports_ok(img)) {
        return DYNAPPS_ERR_BAD_TABLE;
    }
    if (!imports_resolve(img)) {
        return DYNAPPS_ERR_UNRESOLVED_IMPORT;
    }
    for (uint32_t i = 0; i < img->h.import_count; i++) {
        const void *target = dynapps_firmware.symbols[read_import(img, i).firmware_index].address;
        store_word(slots + 4u * i, (uint32_t)(uintptr_t)target);
    }
    return DYNAPPS_OK;
}

/*
 * IRAM: the export names an app keeps are the part of the string table from the first to the
 * end of the last export name (the build puts them after the import names). Sized before the
 * hash, on unverified tables, so every read is bounded; a malformed name only makes the span
 * wrong, exports_ok refuses it after the hash, and copy_exports never trusts the span.
 */
static void export_names_span(image_t *img)
{
    uint32_t from = UINT32_MAX, last = 0;
    for (uint32_t i = 0; i < img->h.export_count; i++) {
        uint32_t offset = image_word(img, img->exports + 12u * i);
        if (offset < img->h.strtab_size) {
            from = offset < from ? offset : from;
            last = offset > last ? offset : last;
        }
    }
    img->names_from = img->names_end = 0;
    if (from > last) {
        return; /* no exports, or none with a name inside the table */
    }
    const uint8_t *strtab = img->bytes + img->strtab;
    const uint8_t *nul = memchr(strtab + last, '\0', img->h.strtab_size - last);
    img->names_from = from;
    img->names_end = nul != NULL ? (uint32_t)(nul - strtab) + 1u : img->h.strtab_size;
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
    uint32_t image_offset = img->h.code_vaddr + img->code_span - img->h.data_vaddr; /* mod 2^32, as the bias */
    return port_offset == image_offset;
}

/*
 * IRAM, before the hash: reserve the executable RAM (code, padding, data, bss, then the export
 * table and names) and check the alias; nothing is written to it yet.
 */
static dynapps_err_t place_iram(image_t *img, dynapps_app_t *app)
{
    const dynapps_image_header_t *h = &img->h;
    export_names_span(img);
    uint64_t tail = align4((uint64_t)img->code_span + h->data_size + h->bss_size);
    uint64_t size = tail;
    if (h->export_count != 0) {
        size += (uint64_t)h->export_count * sizeof(dynapps_image_export_t) +
                (img->names_end - img->names_from);
    }
    if (size > UINT32_MAX) {
        return DYNAPPS_ERR_NO_MEM;
    }
    uintptr_t exec = 0;
    uint8_t *view = NULL;
    dynapps_err_t err =
        dynapps_port_exec_alloc((size_t)size, (size_t)1 << h->align_log2, &exec, &view);
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (!alias_ok(img, exec, view)) {
        dynapps_port_exec_free(view);
        return DYNAPPS_ERR_BAD_HEADER;
    }
    img->tail = (uint32_t)tail;
    app->mem = view;
    app->exports = (const dynapps_image_export_t *)(const void *)(view + tail);
    app->code_addr = exec;
    app->data_addr = (uintptr_t)(view + img->code_span);
    app->bias = exec - h->code_vaddr;
    return DYNAPPS_OK;
}

/* IRAM: the export records, with name_offset rewritten to index the names copied after them.
 * The tables were checked; the span is checked again here, so that even a buffer changed under
 * the loader can't make a name run past the copy. */
static dynapps_err_t copy_exports(const image_t *img, uint8_t *view)
{
    uint32_t count = img->h.export_count;
    if (count == 0) {
        return DYNAPPS_OK;
    }
    dynapps_image_export_t *exports = (dynapps_image_export_t *)(void *)(view + img->tail);
    char *names = (char *)(exports + count);
    uint32_t span = img->names_end - img->names_from;
    memcpy(names, img->bytes + img->strtab + img->names_from, span);
    if (span == 0 || names[span - 1u] != '\0') {
        return DYNAPPS_ERR_BAD_TABLE;
    }
    for (uint32_t i = 0; i < count; i++) {
        dynapps_image_export_t exp = read_export(img, i);
        if (exp.name_offset < img->names_from || exp.name_offset - img->names_from >= span) {
            return DYNAPPS_ERR_BAD_TABLE;
        }
        exp.name_offset -= img->names_from;
        exports[i] = exp;
    }
    return DYNAPPS_OK;
}

/*
 * IRAM, after the hash. Writes go through the data view only: on esp32c3 the IRAM alias takes
 * no byte stores. Each fix-up is checked as it is applied (word access: the view is aligned to
 * at least 4 and so is every accepted offset); a bad one fails the load, and the caller frees
 * the half-written RAM, which nothing has run from.
 */
static dynapps_err_t copy_iram(const image_t *img, dynapps_app_t *app)
{
    const dynapps_image_header_t *h = &img->h;
    uint8_t *view = app->mem;
    const uint8_t *code = img->bytes + h->header_size;
    const uint32_t code_size = h->code_size, span = img->code_span, data_size = h->data_size;
    const uint32_t bias = (uint32_t)app->bias;
    memcpy(view, code, code_size);
    memset(view + code_size, 0, span - code_size);
    memcpy(view + span, code + code_size, data_size);
    memset(view + span + data_size, 0, img->tail - span - data_size); /* bss, up to the tail */
    const uint8_t *fixup = img->bytes + img->fixups;
    if (img->aligned && span == code_size) {
        /* What the build makes: no padding between code and data, so one compare bounds the
         * word to [0, code_size + data_size). */
        const uint32_t limit = span + data_size;
        FIXUP_UNROLL
        for (const uint8_t *end = fixup + 4u * h->fixup_count; fixup != end; fixup += 4) {
            uint32_t offset = load_word(fixup);
            if (offset >= limit || (offset & 3u) != 0) {
                return DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS;
            }
            store_word(view + offset, load_word(view + offset) + bias);
        }
    } else {
        for (uint32_t i = 0, n = h->fixup_count; i < n; i++, fixup += 4) {
            uint32_t offset = img->aligned ? load_word(fixup) : read_u32(fixup);
            if ((offset & 3u) != 0 || (offset >= code_size && offset - span >= data_size)) {
                return DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS;
            }
            store_word(view + offset, load_word(view + offset) + bias);
        }
    }
    if (h->import_count != 0) { /* else import_slots_vaddr means nothing */
        uint8_t *slots = view + span + (h->import_slots_vaddr - h->data_vaddr);
        if (!bind_imports(img, slots)) {
            dynapps_err_t err = bind_imports_checked(img, slots);
            if (err != DYNAPPS_OK) {
                return err;
            }
        }
    }
    dynapps_err_t err = copy_exports(img, view);
    if (err == DYNAPPS_OK) {
        dynapps_port_sync_code(view, app->code_addr, code_size);
    }
    return err;
}

/* [base, base + size) is inside the data arena and clear of every loaded XIP app's data. The
 * size is 64-bit: data_size + bss_size of two header fields may be 2^32 or more. */
static bool arena_range_free(uint32_t base, uint64_t size)
{
    uintptr_t arena = 0;
    size_t arena_size = 0;
    dynapps_port_data_arena(&arena, &arena_size);
    if (base < arena || base - arena > arena_size || size > arena_size - (base - arena)) {
        return false;
    }
    for (int i = 0; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        const dynapps_app_t *a = apps[i];
        if (a == NULL) {
            continue;
        }
        uint64_t a_end = (uint64_t)a->data_addr + a->data_size + a->bss_size;
        if (a->strategy == DYNAPPS_STRATEGY_XIP && a_end > a->data_addr && base < a_end &&
            a->data_addr < (uint64_t)base + size) {
            return false;
        }
    }
    return true;
}

/* Data + bss of an XIP image, summed without wrapping: a 32-bit sum of 2^32 is 0, which would
 * skip the arena check and let the import slots be bound at whatever data_vaddr says. */
static uint64_t xip_ram_bytes(const dynapps_image_header_t *h)
{
    return (uint64_t)h->data_size + h->bss_size;
}

/* XIP, before the hash: the data range must be free (nothing is written to it yet), and the
 * slot's view 4-aligned (dynapps_port.h), since the export table is read in place later. */
static dynapps_err_t reserve_xip(const image_t *img)
{
    uint64_t ram = xip_ram_bytes(&img->h);
    if (!img->aligned || (ram != 0 && !arena_range_free(img->h.data_vaddr, ram))) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    return DYNAPPS_OK;
}

/* XIP, after the hash: map the slot, copy data, bind. Unmaps again if binding fails. */
static dynapps_err_t place_xip(const image_t *img, const dynapps_slot_t *slot, dynapps_app_t *app)
{
    const dynapps_image_header_t *h = &img->h;
    void *mapping = NULL;
    dynapps_err_t err =
        dynapps_port_map_xip(slot, slot->xip_vaddr, h->image_size, &mapping); /* identity_ok */
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (xip_ram_bytes(h) != 0) { /* data_vaddr may be anything, even 0, without data */
        uint8_t *data = (uint8_t *)(uintptr_t)h->data_vaddr;
        memcpy(data, img->bytes + h->header_size + h->code_size, h->data_size);
        memset(data + h->data_size, 0, h->bss_size);
    }
    uint8_t *slots = (uint8_t *)(uintptr_t)h->import_slots_vaddr;
    if (h->import_count != 0 && !bind_imports(img, slots)) {
        err = bind_imports_checked(img, slots);
        if (err != DYNAPPS_OK) {
            dynapps_port_unmap_xip(mapping);
            return err;
        }
    }
    app->mem = mapping;
    app->exports = (const dynapps_image_export_t *)(const void *)(img->bytes + img->exports);
    app->code_addr = h->code_vaddr;
    app->data_addr = h->data_vaddr;
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

/* Out of the table, and everything back: the end of a failed init and of every unload. */
static void discard(dynapps_app_t *app)
{
    apps[app->index] = NULL;
    unplace(app);
    dynapps_port_free(app);
}

/* ---- calling into the app ----------------------------------------------------------------- */

#ifndef DYNAPPS_APP_CALL_HOOK
int dynapps_call_init(uintptr_t address) { return ((int (*)(void))address)(); }

void dynapps_call_deinit(uintptr_t address) { ((void (*)(void))address)(); }
#endif

static const dynapps_image_export_t *find_flagged(const dynapps_app_t *app, uint32_t flag)
{
    for (uint32_t i = 0; i < app->export_count; i++) {
        if ((app->exports[i].flags & flag) != 0) {
            return &app->exports[i];
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

/* Everything of a load that runs with the lock held: on success *out is the placed app, in the
 * table but not visible yet (start_app runs its init). slot is NULL for a RAM buffer, which can
 * only hold an IRAM image and has no name to check. */
static dynapps_err_t load_image(const uint8_t *bytes, size_t avail, const dynapps_slot_t *slot,
                                dynapps_app_t **out)
{
    image_t img;
    dynapps_err_t err = check_header(bytes, avail, &img);
    if (err == DYNAPPS_OK && slot != NULL) {
        err = identity_ok(&img, slot);
    }
    if (err != DYNAPPS_OK) {
        return err;
    }
    bool iram = img.h.strategy == DYNAPPS_STRATEGY_IRAM;
    if (!iram && slot == NULL) { /* refused after verification: a corrupted buffer says so */
        err = check_contents(&img);
        if (err == DYNAPPS_OK) {
            err = !imports_ok(&img)       ? DYNAPPS_ERR_BAD_TABLE
                  : !imports_resolve(&img) ? DYNAPPS_ERR_UNRESOLVED_IMPORT
                                           : DYNAPPS_ERR_STRATEGY_UNSUPPORTED;
        }
        return err;
    }
    int index = free_index();
    if (index < 0) {
        return DYNAPPS_ERR_TOO_MANY_APPS;
    }
    dynapps_app_t *app = app_new(&img, slot != NULL ? slot->id : NO_SLOT);
    if (app == NULL) {
        return DYNAPPS_ERR_NO_MEM;
    }
    /* Memory first: a load that can't get it fails without hashing the image. */
    err = iram ? place_iram(&img, app) : reserve_xip(&img);
    bool held = iram && err == DYNAPPS_OK; /* executable RAM (IRAM) or mapping (XIP) to give back */
    if (err == DYNAPPS_OK) {
        err = check_contents(&img);
    }
    if (err == DYNAPPS_OK) {
        if (iram) {
            err = copy_iram(&img, app);
        } else {
            err = place_xip(&img, slot, app);
            held = err == DYNAPPS_OK;
        }
    }
    if (err != DYNAPPS_OK) {
        if (held) {
            unplace(app);
        }
        dynapps_port_free(app);
        return err;
    }
    register_app(app, index);
    *out = app;
    return DYNAPPS_OK;
}

/*
 * The rest of a load, called without the lock: run init (app code, which may call the loader;
 * its own app is invisible meanwhile and its slot refuses another load), then make the app
 * visible and give its handle to *out, or give everything back. A failed init gets no deinit:
 * it set nothing up.
 */
static dynapps_err_t start_app(dynapps_app_t *app, dynapps_app_t **out)
{
    dynapps_err_t err = run_init(app);
    dynapps_port_lock();
    if (err == DYNAPPS_OK) {
        *out = publish(app);
    } else {
        discard(app);
    }
    dynapps_port_unlock();
    return err;
}

/* The slot is only read while loading; an XIP mapping made from it keeps its view readable. */
static dynapps_err_t load_slot(const char *name, dynapps_app_t **out)
{
    dynapps_slot_t slot;
    memset(&slot, 0, sizeof slot);
    dynapps_err_t err = dynapps_port_find_slot(name, &slot);
    if (err != DYNAPPS_OK) {
        return err;
    }
    err = slot_free(slot.id);
    if (err == DYNAPPS_OK) {
        err = load_image(slot.bytes, slot.size, &slot, out);
    }
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
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = load_slot(name, &app);
    dynapps_port_unlock();
    return err == DYNAPPS_OK ? start_app(app, out) : err;
}

dynapps_err_t dynapps_load_from_buffer(const void *image, size_t size, dynapps_app_t **out)
{
    if (image == NULL || out == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    *out = NULL;
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = load_image(image, size, NULL, &app);
    dynapps_port_unlock();
    return err == DYNAPPS_OK ? start_app(app, out) : err;
}

static dynapps_err_t find_export(const dynapps_app_t *handle, const char *name, void **function)
{
    const dynapps_app_t *app = live_app(handle);
    if (app == NULL) {
        return DYNAPPS_ERR_STALE_HANDLE;
    }
    for (uint32_t i = 0; i < app->export_count; i++) {
        if (strcmp(export_name(app, &app->exports[i]), name) == 0) {
            *function = (void *)export_address(app, &app->exports[i]);
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
    info->ram_bytes = app_ram_bytes(app);
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
    const dynapps_app_t *live = live_app(app);
    if (live != NULL) {
        fill_info(live, info);
    }
    dynapps_port_unlock();
    return live != NULL ? DYNAPPS_OK : DYNAPPS_ERR_STALE_HANDLE;
}

/* The first half of an unload, with the lock held: `handle` must name a live app that no call
 * is running in. From here on its handle is refused, but it keeps its slot and memory. */
static dynapps_err_t stop_app(const dynapps_app_t *handle, dynapps_app_t **app)
{
    *app = live_app(handle);
    if (*app == NULL) {
        return DYNAPPS_ERR_STALE_HANDLE;
    }
    if ((*app)->active_calls != 0) {
        return DYNAPPS_ERR_BUSY;
    }
    (*app)->handle = 0;
    return DYNAPPS_OK;
}

/* The second half, called without the lock: deinit (app code, which may call the loader), then
 * everything back. */
static void finish_unload(dynapps_app_t *app)
{
    const dynapps_image_export_t *deinit = find_flagged(app, DYNAPPS_EXPORT_FLAG_DEINIT);
    if (deinit != NULL) {
        dynapps_call_deinit(export_address(app, deinit));
    }
    dynapps_port_lock();
    discard(app);
    dynapps_port_unlock();
}

dynapps_err_t dynapps_unload(dynapps_app_t *handle)
{
    if (handle == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = stop_app(handle, &app);
    dynapps_port_unlock();
    if (err == DYNAPPS_OK) {
        finish_unload(app);
    }
    return err;
}

/* ---- calls through the generated wrappers ------------------------------------------------- */

/* A handle that is stale (its app was unloaded elsewhere) is not used, only forgotten: load
 * treats it as empty; unload and call refuse with STALE_HANDLE and clear it, so the wrapper is
 * back to "not loaded" and its next call loads the app again. */

dynapps_err_t dynapps_load_handle(const char *name, dynapps_app_t **handle)
{
    if (name == NULL || handle == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = live_app(*handle) != NULL ? DYNAPPS_ERR_ALREADY_LOADED : load_slot(name, &app);
    dynapps_port_unlock();
    return err == DYNAPPS_OK ? start_app(app, handle) : err;
}

dynapps_err_t dynapps_unload_handle(dynapps_app_t **handle)
{
    if (handle == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = *handle == NULL ? DYNAPPS_ERR_NOT_LOADED : stop_app(*handle, &app);
    if (err == DYNAPPS_OK || err == DYNAPPS_ERR_STALE_HANDLE) {
        *handle = NULL;
    }
    dynapps_port_unlock();
    if (err == DYNAPPS_OK) {
        finish_unload(app);
    }
    return err;
}

/* Export `index` in manifest order (init and deinit come after the exports). NOT_LOADED for an
 * empty handle: the caller loads the app and comes back. */
CALL_PATH dynapps_err_t begin_locked(dynapps_app_t **handle, uint32_t index, void **function)
{
    if (*handle == NULL) {
        return DYNAPPS_ERR_NOT_LOADED;
    }
    dynapps_app_t *app = live_app(*handle);
    if (app == NULL) {
        *handle = NULL;
        return DYNAPPS_ERR_STALE_HANDLE;
    }
    if (index >= app->export_count || app->exports[index].flags != 0) {
        return DYNAPPS_ERR_NOT_FOUND; /* wrappers and image disagree: rebuild both */
    }
    if (app->active_calls == UINT16_MAX) {
        return DYNAPPS_ERR_BUSY; /* 65535 calls into it running already: the counter is full */
    }
    *function = (void *)export_address(app, &app->exports[index]);
    app->active_calls++;
    return DYNAPPS_OK;
}

CALL_PATH dynapps_err_t begin(dynapps_app_t **handle, uint32_t index, void **function)
{
    dynapps_port_lock();
    dynapps_err_t err = begin_locked(handle, index, function);
    dynapps_port_unlock();
    return err;
}

/* The first call through a wrapper: load the app (init runs unlocked), then begin the call. Out
 * of line, so that the common path of a call saves no registers for it. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static dynapps_err_t begin_first(const char *name, dynapps_app_t **handle, uint32_t index, void **function)
{
    dynapps_err_t err = DYNAPPS_ERR_NOT_LOADED;
    dynapps_err_t loaded = dynapps_load_handle(name, handle);
    if (loaded == DYNAPPS_OK || loaded == DYNAPPS_ERR_ALREADY_LOADED) {
        err = begin(handle, index, function); /* ALREADY_LOADED: by another task, same wrapper */
    }
    if (err == DYNAPPS_ERR_NOT_LOADED && loaded != DYNAPPS_OK) {
        err = loaded; /* e.g. NOT_FOUND, or ALREADY_LOADED through another handle */
    }
    return err;
}

dynapps_err_t dynapps_call_begin(const char *name, dynapps_app_t **handle, uint32_t index, void **function)
{
    if (name == NULL || handle == NULL || function == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    *function = NULL;
    dynapps_err_t err = begin(handle, index, function);
    return err == DYNAPPS_ERR_NOT_LOADED ? begin_first(name, handle, index, function) : err;
}

dynapps_err_t dynapps_call_end(dynapps_app_t *handle)
{
    if (handle == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_app_t *app = live_app(handle);
    dynapps_err_t err = app == NULL                ? DYNAPPS_ERR_STALE_HANDLE
                        : app->active_calls == 0u ? DYNAPPS_ERR_NO_CALL
                                                  : DYNAPPS_OK;
    if (err == DYNAPPS_OK) {
        app->active_calls--;
    }
    dynapps_port_unlock();
    return err;
}

/* Firmware may define its own to log or count; by default a failed call only sets the status. */
__attribute__((weak)) void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    (void)app;
    (void)function;
    (void)err;
}
