/*
 * Verify: is an image what it says, built for this chip, this slot and this firmware. Every
 * validation rule of the loader is written here once (the fix-up rule in dynapps_stages.h, as
 * the fix-up loop inlines it); a refused rule names itself to the trace (REFUSED).
 *
 * Header checks run before anything is allocated, hashed or mapped; content checks after the
 * hash, when the tables can be trusted to be what was built.
 */
#include "dynapps_stages.h"

/* The chip this firmware runs on (esp_chip_id_t). No default: a wrong one would let images for
 * another chip through, so the build must say it (host tests pass -DDYNAPPS_CHIP_ID=0). */
#ifndef DYNAPPS_CHIP_ID
#error "define DYNAPPS_CHIP_ID (esp_chip_id_t of the target chip) when compiling the dynapps core"
#endif

/* IRAM alignment bounds: fix-up words and import slots are 32-bit, so at least 4; more than
 * 4 KiB would only waste scarce executable RAM and hints at a corrupt header. */
#define ALIGN_LOG2_MIN 2u
#define ALIGN_LOG2_MAX 12u

#define ADDRESS_SPACE ((uint64_t)1 << 32) /* image addresses are 32-bit */

/* Whether an image must be signed (ESP-IDF: CONFIG_DYNAPPS_REQUIRE_SIGNED_IMAGES; the emulator
 * firmware: dynapps.yaml signing.require). Then an unsigned image is refused, and so is every
 * image when the firmware holds no key to check one with. */
#ifndef DYNAPPS_REQUIRE_SIGNED_IMAGES
#define DYNAPPS_REQUIRE_SIGNED_IMAGES 0
#endif

/* [base, base + size) fits the 32-bit address space without wrapping. */
static bool range_fits(uint32_t base, uint64_t size) { return base + size <= ADDRESS_SPACE; }

/* ---- header checks ------------------------------------------------------------------------ */

/* The fixed fields, and the part sizes adding up to image_size exactly. 64-bit sums: counts
 * are attacker-controlled and 32-bit products could wrap into a plausible total. Unknown flag
 * bits are ignored: docs/image-format.md only adds flags an older loader may safely ignore. */
static bool layout_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->header_size != DYNAPPS_IMAGE_HEADER_SIZE) {
        return REFUSED("header.header_size");
    }
    if (h->reserved2 != 0) {
        return REFUSED("header.reserved");
    }
    /* An app without code is a broken build, and would ask the port for 0 bytes of exec RAM. */
    if (h->code_size == 0) {
        return REFUSED("header.code_size_zero");
    }
    if (((h->code_size | h->data_size | h->strtab_size) & 3u) != 0) {
        return REFUSED("header.size_alignment");
    }
    uint64_t fixups = (uint64_t)h->header_size + h->code_size + h->data_size;
    uint64_t imports = fixups + (uint64_t)h->fixup_count * sizeof(dynapps_image_fixup_t);
    uint64_t exports = imports + (uint64_t)h->import_count * sizeof(dynapps_image_import_t);
    uint64_t strtab = exports + (uint64_t)h->export_count * sizeof(dynapps_image_export_t);
    uint64_t hash = strtab + h->strtab_size;
    uint32_t signature = (h->flags & DYNAPPS_IMAGE_FLAG_SIGNED) != 0 ? DYNAPPS_IMAGE_SIGNATURE_SIZE : 0u;
    if (hash + DYNAPPS_IMAGE_HASH_SIZE + signature != h->image_size) {
        return REFUSED("header.size_sum");
    }
    img->hash = (uint32_t)hash;
    img->fixups = (uint32_t)fixups; /* all below image_size, so they fit */
    img->imports = (uint32_t)imports;
    img->exports = (uint32_t)exports;
    img->strtab = (uint32_t)strtab;
    return true;
}

/*
 * IRAM: the code segment is followed, 1 << align_log2 aligned, by the data segment, then bss;
 * the whole region must fit in 32 bits. How code_vaddr and data_vaddr relate depends on the
 * chip's IRAM/DRAM alias and is checked once the port has told us the alias (place: alias_ok).
 */
static bool iram_fields_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->align_log2 < ALIGN_LOG2_MIN || h->align_log2 > ALIGN_LOG2_MAX) {
        return REFUSED("header.align_log2");
    }
    uint32_t align = 1u << h->align_log2;
    uint64_t span = ((uint64_t)h->code_size + align - 1u) & ~(uint64_t)(align - 1u);
    uint64_t ram = span + h->data_size + h->bss_size;
    if (ram > UINT32_MAX) {
        return REFUSED("header.iram_size");
    }
    img->code_span = (uint32_t)span;
    return true;
}

/* XIP: linked at final addresses, so nothing to fix up; the header sits right before the code
 * in the mapped slot. align_log2 is not used (the MMU page rules belong to the port). */
static bool xip_fields_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (h->fixup_count != 0) {
        return REFUSED("header.xip_fixups");
    }
    if (h->code_vaddr < h->header_size) {
        return REFUSED("header.xip_code_vaddr");
    }
    img->code_span = h->code_size;
    return true;
}

static bool strategy_ok(image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    bool ok;
    if (DYNAPPS_STRATEGY_IS_COPIED(h->strategy)) {
        ok = iram_fields_ok(img);
    } else if (h->strategy == DYNAPPS_STRATEGY_XIP) {
        ok = xip_fields_ok(img);
    } else {
        return REFUSED("header.strategy");
    }
    if (ok && !(range_fits(h->code_vaddr, h->code_size) &&
                range_fits(h->data_vaddr, (uint64_t)h->data_size + h->bss_size))) {
        return REFUSED("header.address_wraps");
    }
    return ok;
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
        uint8_t *to = (uint8_t *)&img->h; /* a struct of 32-bit fields: 4-aligned */
        for (uint32_t at = 0; at < sizeof img->h; at += 4u) {
            store_word(to + at, load_word(img->bytes + at));
        }
    } else {
        memcpy(&img->h, img->bytes, sizeof img->h);
    }
}

dynapps_err_t dynapps_verify_header(const uint8_t *bytes, size_t avail, image_t *img)
{
    if (bytes == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (avail < DYNAPPS_IMAGE_HEADER_SIZE) {
        return REFUSE(DYNAPPS_ERR_TRUNCATED, "header.truncated");
    }
    img->bytes = bytes;
    img->aligned = ((uintptr_t)bytes & 3u) == 0;
    img->strtab_terminated = false;
    img->body_trusted = false;
    copy_header(img);
    if (img->h.magic != DYNAPPS_IMAGE_MAGIC) {
        return REFUSE(DYNAPPS_ERR_BAD_MAGIC, "header.magic");
    }
    if (img->h.format_version != DYNAPPS_IMAGE_FORMAT_VERSION) {
        return REFUSE(DYNAPPS_ERR_UNSUPPORTED_VERSION, "header.format_version");
    }
    if (!layout_ok(img) || !strategy_ok(img)) {
        return DYNAPPS_ERR_BAD_HEADER; /* the rule has named itself */
    }
    if (!chip_ok(&img->h)) {
        return REFUSE(DYNAPPS_ERR_WRONG_CHIP, "header.chip");
    }
    if (img->h.image_size > avail) {
        return REFUSE(DYNAPPS_ERR_TRUNCATED, "header.image_size");
    }
    return DYNAPPS_OK;
}

/* The slot's label and the image's name are compared as the 16 bytes they are, a word at a
 * time: both lie on word boundaries of their structs (a call to memcmp would cost 8 times more). */
_Static_assert(sizeof(((dynapps_slot_t *)0)->label) == DYNAPPS_IMAGE_NAME_SIZE, "label size");
_Static_assert(offsetof(dynapps_slot_t, label) % 4 == 0 && _Alignof(dynapps_slot_t) >= 4, "label alignment");
_Static_assert(offsetof(dynapps_image_header_t, name) % 4 == 0, "name alignment");

static bool same_name(const void *name, const void *label)
{
    uint32_t diff = 0;
    for (uint32_t at = 0; at < DYNAPPS_IMAGE_NAME_SIZE; at += 4u) {
        diff |= load_word((const uint8_t *)name + at) ^ load_word((const uint8_t *)label + at);
    }
    return diff == 0;
}

/* Header-only, like the chip: an image built for another slot (another app, or this app for
 * another partition layout) is refused before anything is allocated, hashed or mapped. An XIP
 * image runs only where it was linked, which must be where the port maps this slot. */
dynapps_err_t dynapps_verify_identity(const image_t *img, const dynapps_slot_t *slot)
{
    const dynapps_image_header_t *h = &img->h;
    if (!same_name(h->name, slot->label)) {
        return REFUSE(DYNAPPS_ERR_WRONG_SLOT, "identity.name");
    }
    if (h->strategy == DYNAPPS_STRATEGY_XIP &&
        (slot->xip_vaddr == 0 || h->code_vaddr - h->header_size != slot->xip_vaddr)) {
        return REFUSE(DYNAPPS_ERR_WRONG_ADDRESS, "identity.xip_vaddr");
    }
    return DYNAPPS_OK;
}

/* ---- content checks (after the hash, the tables can be trusted to be what was built) ----- */

/* The firmware's export table starts with the prefix the image was built against: the same
 * names in the same order (an appended export keeps every image valid; a reordered, renamed or
 * removed one changes the id of every prefix that holds it). */
static bool exports_prefix_ok(const dynapps_image_header_t *h)
{
    if (h->exports_count == 0) {
        return h->exports_id == 0;
    }
    return h->exports_count <= dynapps_firmware.count &&
           dynapps_firmware.prefix_ids[h->exports_count - 1u] == h->exports_id;
}

/* The SHA-256 comes from the port: the chip's accelerator where there is one. On success
 * `digest` holds it (what the signature signs). */
static bool hash_ok(const image_t *img, uint32_t digest[DYNAPPS_IMAGE_HASH_SIZE / 4])
{
    uint32_t covered = img->hash; /* a multiple of 4 */
    dynapps_port_sha256(img->bytes, covered, (uint8_t *)digest);
    uint32_t diff = 0;
    for (uint32_t i = 0; i < DYNAPPS_IMAGE_HASH_SIZE / 4; i++) {
        diff |= digest[i] ^ image_word(img, covered + 4u * i);
    }
    return diff == 0;
}

/* The SHA-256 the image carries (a trust mark vouches that the body hashed to it). */
static void stored_hash(const image_t *img, uint32_t digest[DYNAPPS_IMAGE_HASH_SIZE / 4])
{
    for (uint32_t i = 0; i < DYNAPPS_IMAGE_HASH_SIZE / 4; i++) {
        digest[i] = image_word(img, img->hash + 4u * i);
    }
}

/* After the hash: the signature over it, when the image has one and the firmware a key. The
 * flag is inside the hashed header, so clearing it is a change the signature would have
 * caught: a stripped image is an unsigned one, refused where signing is required. */
static dynapps_err_t signature_ok(const image_t *img, const uint32_t digest[DYNAPPS_IMAGE_HASH_SIZE / 4])
{
    const uint8_t *key = dynapps_firmware.signing_key;
    if ((img->h.flags & DYNAPPS_IMAGE_FLAG_SIGNED) == 0) {
        return DYNAPPS_REQUIRE_SIGNED_IMAGES ? REFUSE(DYNAPPS_ERR_UNSIGNED, "signature.missing") : DYNAPPS_OK;
    }
    if (key == NULL) { /* nothing to check it with */
        return DYNAPPS_REQUIRE_SIGNED_IMAGES ? REFUSE(DYNAPPS_ERR_BAD_SIGNATURE, "signature.no_key") : DYNAPPS_OK;
    }
    const uint8_t *signature = img->bytes + img->hash + DYNAPPS_IMAGE_HASH_SIZE;
    if (!dynapps_port_verify_signature((const uint8_t *)digest, signature, key)) {
        return REFUSE(DYNAPPS_ERR_BAD_SIGNATURE, "signature.invalid");
    }
    return DYNAPPS_OK;
}

/* The check pass of the fix-ups: only run to tell which error an image with bad tables reports
 * first (the fix-up loop checks each fix-up as it applies it, by the same rule). */
static bool fixups_ok(const image_t *img)
{
    const fixup_bounds_t bounds = fixup_bounds(img);
    for (uint32_t i = 0; i < img->h.fixup_count; i++) {
        if (!fixup_in_bounds(image_word(img, img->fixups + 4u * i), bounds)) {
            return REFUSED("fixup.bounds");
        }
    }
    return true;
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
    if (((h->import_slots_vaddr | h->data_vaddr) & 3u) != 0 || h->import_slots_vaddr < h->data_vaddr ||
        slots_end > (uint64_t)h->data_vaddr + h->data_size) {
        return REFUSED("imports.slots");
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
        if (!name_ok(img, exp.name_offset)) {
            return REFUSED("exports.name");
        }
        if ((exp.flags & ~known) != 0 || (exp.flags & seen) != 0 || exp.flags == known) {
            return REFUSED("exports.flags");
        }
        if (exp.vaddr < h->code_vaddr || exp.vaddr - h->code_vaddr >= h->code_size) {
            return REFUSED("exports.vaddr");
        }
        seen |= exp.flags;
    }
    return true;
}

dynapps_err_t dynapps_verify_fixups(const image_t *img)
{
    return fixups_ok(img) ? DYNAPPS_OK : DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS;
}

/* An array of `count` words at `vaddr` lies 4-aligned inside the data segment (RAM, where the
 * loader reads it after copying and fixing up); count 0 says there is none. */
static bool array_in_data(const dynapps_image_header_t *h, uint32_t vaddr, uint32_t count)
{
    if (count == 0) {
        return true;
    }
    uint64_t end = (uint64_t)vaddr + 4u * (uint64_t)count;
    return (vaddr & 3u) == 0 && vaddr >= h->data_vaddr && end <= (uint64_t)h->data_vaddr + h->data_size;
}

static bool call_arrays_ok(const image_t *img)
{
    const dynapps_image_header_t *h = &img->h;
    if (!array_in_data(h, h->init_array_vaddr, h->init_count) || !array_in_data(h, h->fini_array_vaddr, h->fini_count)) {
        return REFUSED("call_arrays.range");
    }
    return true;
}

static bool calls_in_code(const dynapps_app_t *app, uint32_t vaddr, uint32_t count)
{
    const uint8_t *entries = call_array(app, vaddr);
    for (uint32_t i = 0; i < count; i++) {
        if (!call_in_code(app, load_word(entries + 4u * i))) {
            return false;
        }
    }
    return true;
}

dynapps_err_t dynapps_verify_call_arrays(const dynapps_app_t *app)
{
    const app_identity_t *id = app->identity;
    if (!calls_in_code(app, id->init_array_vaddr, id->init_count) ||
        !calls_in_code(app, id->fini_array_vaddr, id->fini_count)) {
        return REFUSE(DYNAPPS_ERR_BAD_TABLE, "call_arrays.entry");
    }
    return DYNAPPS_OK;
}

dynapps_err_t dynapps_verify_imports(const image_t *img)
{
    if (!slots_ok(img)) {
        return DYNAPPS_ERR_BAD_TABLE;
    }
    for (uint32_t i = 0; i < img->h.import_count; i++) {
        if (!name_ok(img, read_import(img, i).name_offset)) {
            return REFUSE(DYNAPPS_ERR_BAD_TABLE, "imports.name");
        }
    }
    for (uint32_t i = 0; i < img->h.import_count; i++) {
        if (import_symbol(img, read_import(img, i)) == NULL) {
            return REFUSE(DYNAPPS_ERR_UNRESOLVED_IMPORT, "imports.unresolved");
        }
    }
    return DYNAPPS_OK;
}

/*
 * After the hash: the firmware id and the tables whose checks are cheap. Fix-ups are checked
 * while place applies them and imports while it binds them, each table read once; the
 * documented order of the errors (fix-ups, then tables, then imports) is kept by running the
 * fix-up check pass only when a table here is bad.
 */
dynapps_err_t dynapps_verify_contents(image_t *img, const dynapps_slot_t *slot)
{
    PHASE(DYNAPPS_PHASE_HASH);
    uint32_t digest[DYNAPPS_IMAGE_HASH_SIZE / 4];
    img->body_trusted = dynapps_trust_mark_valid(img, slot);
    if (img->body_trusted) {
        stored_hash(img, digest);
    } else if (!hash_ok(img, digest)) {
        return REFUSE(DYNAPPS_ERR_HASH_MISMATCH, "contents.hash");
    }
    dynapps_err_t err = signature_ok(img, digest);
    if (err != DYNAPPS_OK) {
        return err;
    }
    PHASE(DYNAPPS_PHASE_TABLES);
    if (!exports_prefix_ok(&img->h)) {
        return REFUSE(DYNAPPS_ERR_FIRMWARE_MISMATCH, "contents.exports_prefix");
    }
    uint32_t strtab_size = img->h.strtab_size;
    img->strtab_terminated = strtab_size != 0 && img->bytes[img->strtab + strtab_size - 1u] == '\0';
    if (!slots_ok(img) || !exports_ok(img) || !call_arrays_ok(img)) {
        return fixups_ok(img) ? DYNAPPS_ERR_BAD_TABLE : DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS;
    }
    return DYNAPPS_OK;
}
