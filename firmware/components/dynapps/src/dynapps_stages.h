/*
 * The loader core's stages and what they share (private to src/; docs/loader-api.md, "Files").
 *
 *   dynapps_verify.c   header, identity and content checks: is this image what it says, for
 *                      this chip, this slot and this firmware; every validation rule once
 *   dynapps_place.c    memory: executable RAM copy + fix-ups (IRAM) or the slot's mapping and
 *                      data copy (XIP), import binding, giving it all back
 *   dynapps_trust.c    trust marks: an XIP image verified in full once is not rehashed later
 *   dynapps_core.c     lifecycle: the table of loaded apps, handles, load_image (the stages in
 *                      order, one cleanup point), init/deinit, the public API and wrapper calls
 *
 * Portable: no ESP-IDF includes. Nothing in an image is trusted until it has been checked. Every
 * part of an image starts on a 4-byte boundary, so when the image itself is 4-aligned (a flash
 * slot always is, a RAM buffer usually) its tables are read a word at a time; a buffer handed to
 * dynapps_load_from_buffer may have any alignment, and is then read with byte-wise memcpy.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dynapps.h"
#include "dynapps_image.h"
#include "dynapps_internal.h"
#include "dynapps_port.h"

/* How many apps can be loaded at once: one pointer each in the table, static. ESP-IDF sets it
 * from Kconfig (CONFIG_DYNAPPS_MAX_LOADED_APPS). At most 256: a handle keeps the index in 8 bits. */
#ifndef DYNAPPS_MAX_LOADED_APPS
#define DYNAPPS_MAX_LOADED_APPS 32
#endif
_Static_assert(DYNAPPS_MAX_LOADED_APPS >= 1 && DYNAPPS_MAX_LOADED_APPS <= 256, "1 to 256 apps");

#define NO_SLOT ((uintptr_t)0) /* dynapps_app.slot of an app loaded from a buffer */

/* The few helpers of the call path and the fix-up loop, inlined even where they are used twice. */
#define CALL_PATH DYNAPPS_INLINE

/* memcpy through a pointer known to be 4-aligned: a single load or store on rv32, and free of
 * the aliasing questions a cast to uint32_t * would raise. */
#if defined(__GNUC__)
#define ALIGNED4(p) __builtin_assume_aligned((p), 4)
#else
#define ALIGNED4(p) (p)
#endif

/* A refused check: names its rule to the trace (dynapps_internal.h), then is false. */
#ifdef DYNAPPS_TRACE
#define REFUSED(check) (dynapps_trace_refusal(check), false)
#define REFUSE(err, check) (dynapps_trace_refusal(check), (err))
#else
#define REFUSED(check) false
#define REFUSE(err, check) (err)
#endif

/* The emulator firmware marks the phases of a load for the bench; nothing else does. */
#if defined(DYNAPPS_EMU_CTRL_BASE) && !defined(DYNAPPS_TRACE_PHASES)
#define DYNAPPS_TRACE_PHASES 1
#endif
#ifdef DYNAPPS_TRACE_PHASES
#define PHASE(phase) dynapps_trace_phase(phase)
#else
#define PHASE(phase) ((void)0)
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
    uint32_t hash;       /* file offset of the SHA-256; the signature follows when signed */
    uint32_t tail;       /* IRAM: offset of the identity, then the export table copy, in the
                          * executable allocation */
    uint32_t names_from; /* IRAM: the export names kept are string table bytes [from, end) */
    uint32_t names_end;
    bool aligned;            /* bytes is 4-aligned: every table can be read a word at a time */
    bool strtab_terminated;  /* after the hash: the string table's last byte is a NUL */
    bool body_trusted;       /* after the hash: a trust mark stood for it (dynapps_trust.c) */
} image_t;

_Static_assert(DYNAPPS_NAME_MAX == DYNAPPS_IMAGE_NAME_SIZE, "the public name size is the header's");

/* Who an app is, and what to call at its load and unload: the last 40 bytes of its header, byte
 * for byte. The record holds only a pointer to them, so that it stays within its bound: an XIP
 * app's are read in its mapped slot, an IRAM app's are copied into its executable allocation
 * (the image, a RAM buffer, may be freed). */
typedef struct {
    char name[DYNAPPS_IMAGE_NAME_SIZE]; /* NUL-padded; no NUL when it has all 16 characters */
    uint16_t version_major;
    uint16_t version_minor;
    uint16_t version_patch;
    uint16_t reserved2;
    uint32_t init_array_vaddr; /* checked by verify (range) and place (entries) */
    uint32_t init_count;
    uint32_t fini_array_vaddr;
    uint32_t fini_count;
} app_identity_t;

#define IDENTITY_OFFSET offsetof(dynapps_image_header_t, name) /* in the header */
_Static_assert(IDENTITY_OFFSET + sizeof(app_identity_t) == DYNAPPS_IMAGE_HEADER_SIZE, "the header's tail");
_Static_assert(IDENTITY_OFFSET % 4 == 0 && sizeof(app_identity_t) % 4 == 0, "keeps what follows 4-aligned");

/*
 * One loaded app: 60 bytes on rv32, its only heap block (plus its pointer in the table). The
 * export records and their names are not copied here: an XIP app's stay in its mapped slot
 * (dynapps_port.h: the slot's bytes stay readable while the mapping lives), an IRAM app's are
 * copied into its executable allocation after bss (app RAM, counted in ram_bytes). In both,
 * `exports` points at export_count records followed by the names their name_offset indexes.
 * `identity` lives in the same place as the exports (IRAM: right before them).
 */
struct dynapps_app {
    void *mem; /* IRAM: data view of the executable allocation. XIP: the mapping. NULL: none yet */
    const dynapps_image_export_t *exports;
    const app_identity_t *identity; /* name and version; NULL until placed */
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
    uint8_t index; /* in the table of loaded apps */
};

/* Where an app's constructor (init) or destructor (fini) array was loaded: the same bias as every
 * other link address of the app (0 for XIP). */
static inline const uint8_t *call_array(const dynapps_app_t *app, uint32_t vaddr)
{
    return (const uint8_t *)(uintptr_t)(vaddr + app->bias);
}

/* An entry of a constructor or destructor array, as loaded (fixed up), calls into the app's code.
 * Compared as 32-bit offsets: on rv32 exactly the address test, and the host tests' 64-bit fake
 * addresses keep their low 32 bits in the fixed-up word. */
static inline bool call_in_code(const dynapps_app_t *app, uint32_t entry)
{
    return entry - (uint32_t)app->code_addr < app->code_size;
}

/* The bookkeeping bound (docs/loader-api.md): one record per app, at most 64 bytes on 32-bit
 * targets; a 64-bit host (the unit tests) has wider pointers. */
_Static_assert(sizeof(struct dynapps_app) <= 64 || UINTPTR_MAX > 0xFFFFFFFFu, "keep it small");

/* ---- reading the image ------------------------------------------------------------------ */

static inline uint32_t read_u32(const uint8_t *p) /* any alignment */
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t load_word(const uint8_t *p) /* p is 4-aligned */
{
    uint32_t v;
    memcpy(&v, ALIGNED4(p), sizeof v);
    return v;
}

static inline void store_word(uint8_t *p, uint32_t v) /* p is 4-aligned */
{
    memcpy(ALIGNED4(p), &v, sizeof v);
}

/* The word at file offset `offset` (a multiple of 4) of the image. */
static inline uint32_t image_word(const image_t *img, uint32_t offset)
{
    return img->aligned ? load_word(img->bytes + offset) : read_u32(img->bytes + offset);
}

static inline dynapps_image_import_t read_import(const image_t *img, uint32_t i)
{
    uint32_t at = img->imports + i * (uint32_t)sizeof(dynapps_image_import_t);
    dynapps_image_import_t imp = {image_word(img, at), image_word(img, at + 4u)};
    return imp;
}

static inline dynapps_image_export_t read_export(const image_t *img, uint32_t i)
{
    uint32_t at = img->exports + i * (uint32_t)sizeof(dynapps_image_export_t);
    dynapps_image_export_t exp = {image_word(img, at), image_word(img, at + 4u), image_word(img, at + 8u)};
    return exp;
}

/* ---- the fix-up rule, shared by the check pass (verify) and the fix-up loop (place) ------- */

/* Where a fix-up word may lie: wholly inside the code segment [0, code_size) or the data
 * segment [code_span, limit), not in the padding between them, not in bss (zeroed after
 * copying), not beyond. */
typedef struct {
    uint32_t code_size;
    uint32_t padding; /* code_span - code_size */
    uint32_t limit;   /* code_span + data_size */
} fixup_bounds_t;

static inline fixup_bounds_t fixup_bounds(const image_t *img)
{
    fixup_bounds_t b = {img->h.code_size, img->code_span - img->h.code_size, img->code_span + img->h.data_size};
    return b;
}

/* The rule, once. Word-aligned offsets only, so with code_size and limit multiples of 4 the
 * whole word is inside. An offset below code_size wraps `offset - code_size` past every
 * padding; a caller that knows the padding is 0 (what the build makes) passes a constant 0 and
 * the test folds into one compare. */
CALL_PATH bool fixup_in_bounds(uint32_t offset, fixup_bounds_t b)
{
    return (offset & 3u) == 0 && offset < b.limit && offset - b.code_size >= b.padding;
}

/* ---- the import rules, shared by verify and by binding (place), which inlines them ------- */

/* A name is a non-empty string that ends, with its NUL, inside the string table. When the
 * table's last byte is a NUL (what the build makes) every name does, without searching. */
CALL_PATH bool name_ok(const image_t *img, uint32_t offset)
{
    if (offset >= img->h.strtab_size) {
        return false;
    }
    const uint8_t *name = img->bytes + img->strtab + offset;
    return name[0] != '\0' &&
           (img->strtab_terminated || memchr(name, '\0', img->h.strtab_size - offset) != NULL);
}

/* The firmware symbol import `imp` names, or NULL (bad name, bad index, other name there): by
 * index, with the name as a check that image and firmware agree on what the index means. The
 * index must be inside the prefix of the table the image names (exports_count), which the
 * content checks have found to be this firmware's (so it is also inside the table). */
CALL_PATH const dynapps_symbol_t *import_symbol(const image_t *img, dynapps_image_import_t imp)
{
    if (!name_ok(img, imp.name_offset) || imp.firmware_index >= img->h.exports_count) {
        return NULL;
    }
    const dynapps_symbol_t *symbol = &dynapps_firmware.symbols[imp.firmware_index];
    const char *recorded = (const char *)img->bytes + img->strtab + imp.name_offset;
    return symbol->name != NULL && strcmp(symbol->name, recorded) == 0 ? symbol : NULL;
}

/* ---- verify (dynapps_verify.c) ---------------------------------------------------------- */

/* Everything decided by the header alone, ending with "are all its bytes there". */
dynapps_err_t dynapps_verify_header(const uint8_t *bytes, size_t avail, image_t *img);
/* The image belongs in this slot: its name, and for XIP the address the port maps it at. */
dynapps_err_t dynapps_verify_identity(const image_t *img, const dynapps_slot_t *slot);
/* SHA-256, firmware id, import slots and export table; fix-ups and imports are checked where
 * they are used (place), this only orders the errors when an earlier table is bad. `slot`: where
 * the image lies (NULL: a buffer). When it holds a valid trust mark for the image, body_trusted
 * is set and the SHA-256 the image carries stands for its hash: the body is not rehashed, the
 * signature (if checked) is checked over that SHA-256. */
dynapps_err_t dynapps_verify_contents(image_t *img, const dynapps_slot_t *slot);
/* Every fix-up inside the loaded region (place checks each as it applies it; this is for a
 * verification without a load, dynapps_verify_image). */
dynapps_err_t dynapps_verify_fixups(const image_t *img);
/* The constructor and destructor arrays of a placed app: every entry calls into its code.
 * BAD_TABLE otherwise (verify_contents checked the arrays' ranges). */
dynapps_err_t dynapps_verify_call_arrays(const dynapps_app_t *app);
/* Every import: BAD_TABLE for a bad slot range or name (all of them first), then
 * UNRESOLVED_IMPORT for one the firmware does not offer under that index and name. */
dynapps_err_t dynapps_verify_imports(const image_t *img);

/* ---- trust marks (dynapps_trust.c) ------------------------------------------------------ */

/* Whether the slot holds a valid trust mark for this XIP image (false when marks are off, for
 * an image that is not XIP, and for a buffer). */
bool dynapps_trust_mark_valid(const image_t *img, const dynapps_slot_t *slot);
/* After a load that verified the image in full: write its mark (through the port). */
void dynapps_trust_mark_write(const image_t *img, const dynapps_slot_t *slot);

/* ---- place (dynapps_place.c) ------------------------------------------------------------ */

/* Before the hash: IRAM reserves the executable allocation (app->mem), XIP checks the data
 * arena range is free. Nothing is written yet. */
dynapps_err_t dynapps_reserve(image_t *img, dynapps_app_t *app);
/* After the hash: copy, fix up, bind (IRAM) or map, copy data, bind (XIP). On failure app->mem
 * still says what to give back (dynapps_unplace). */
dynapps_err_t dynapps_place(const image_t *img, const dynapps_slot_t *slot, dynapps_app_t *app);
/* Give back what dynapps_reserve / dynapps_place took, if anything (app->mem). */
void dynapps_unplace(dynapps_app_t *app);

/* ---- lifecycle (dynapps_core.c) --------------------------------------------------------- */

/* [base, base + size) overlaps the data of a loaded XIP app. */
bool dynapps_arena_in_use(uint32_t base, uint64_t size);
