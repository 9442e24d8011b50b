/*
 * Place: give a verified image its memory and make it runnable. IRAM and PSRAM (one relocatable
 * layout, "copied" images): reserve the executable allocation (before the hash) from internal
 * RAM or PSRAM, then copy code and data through the data view, apply the fix-ups, bind the
 * imports, copy the export table. XIP: check the data arena range (before the hash), then map
 * the slot, copy data, bind the imports. dynapps_unplace gives it back.
 */
#include "dynapps_stages.h"

/* The fix-up loop is the one loop of a load that runs per table entry with almost nothing in
 * it: unrolled, its counter and branch cost a quarter as much. */
#if defined(__GNUC__) && !defined(__clang__)
#define FIXUP_UNROLL _Pragma("GCC unroll 4")
#else
#define FIXUP_UNROLL
#endif

static uint64_t align4(uint64_t value) { return (value + 3u) & ~(uint64_t)3u; }

/*
 * Import slot i gets the address of the firmware symbol import i names. One pass over the
 * records, each read once and checked by the rules verify uses (import_symbol); at the
 * first one that is off, dynapps_verify_imports says which error, in the documented order.
 * `restrict`: a slot written is never the image or the firmware table, so neither is read again
 * after each write.
 */
static dynapps_err_t bind_imports(const image_t *img, uint8_t *restrict slots)
{
    PHASE(DYNAPPS_PHASE_BIND);
    for (uint32_t i = 0, n = img->h.import_count; i < n; i++) {
        const dynapps_symbol_t *symbol = import_symbol(img, read_import(img, i));
        if (symbol == NULL) {
            dynapps_err_t err = dynapps_verify_imports(img);
            return err != DYNAPPS_OK ? err : DYNAPPS_ERR_BAD_TABLE; /* OK: changed under the loader */
        }
        store_word(slots + 4u * i, (uint32_t)(uintptr_t)symbol->address); /* exact on rv32 */
    }
    return DYNAPPS_OK;
}

/* ---- copied images: IRAM and PSRAM (one layout; reserve_iram picks the memory) ---------- */

/*
 * The export names an app keeps are the part of the string table from the first to the end of
 * the last export name (the build puts them after the import names). Sized before the hash, on
 * unverified tables, so every read is bounded; a malformed name only makes the span wrong,
 * verify refuses it after the hash, and copy_exports never trusts the span.
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

/* Before the hash: reserve the executable RAM (code, padding, data, bss, then the tail: the
 * identity, the export table and names) and check the alias; nothing is written to it yet. */
static dynapps_err_t reserve_iram(image_t *img, dynapps_app_t *app)
{
    const dynapps_image_header_t *h = &img->h;
    export_names_span(img);
    uint64_t tail = align4((uint64_t)img->code_span + h->data_size + h->bss_size);
    uint64_t size = tail + sizeof(app_identity_t);
    if (h->export_count != 0) {
        size += (uint64_t)h->export_count * sizeof(dynapps_image_export_t) +
                (img->names_end - img->names_from);
    }
    if (size > UINT32_MAX) {
        return REFUSE(DYNAPPS_ERR_NO_MEM, "place.iram_size");
    }
    uintptr_t exec = 0;
    uint8_t *view = NULL;
    size_t align = (size_t)1 << h->align_log2;
    dynapps_err_t err = h->strategy == DYNAPPS_STRATEGY_PSRAM
                            ? dynapps_port_psram_alloc((size_t)size, align, &exec, &view)
                            : dynapps_port_exec_alloc((size_t)size, align, &exec, &view);
    if (err != DYNAPPS_OK) {
        return err;
    }
    app->mem = view; /* from here on, dynapps_unplace gives it back */
    if (!alias_ok(img, exec, view)) {
        return REFUSE(DYNAPPS_ERR_BAD_HEADER, "place.alias");
    }
    img->tail = (uint32_t)tail;
    app->identity = (const app_identity_t *)(const void *)(view + tail);
    app->exports = (const dynapps_image_export_t *)(const void *)(view + tail + sizeof(app_identity_t));
    app->code_addr = exec;
    app->data_addr = (uintptr_t)(view + img->code_span);
    app->bias = exec - h->code_vaddr;
    return DYNAPPS_OK;
}

/* The export records, with name_offset rewritten to index the names copied after them. The
 * tables were checked; the span is checked again here, so that even a buffer changed under
 * the loader can't make a name run past the copy. */
static dynapps_err_t copy_exports(const image_t *img, uint8_t *view)
{
    PHASE(DYNAPPS_PHASE_EXPORTS);
    uint32_t count = img->h.export_count;
    if (count == 0) {
        return DYNAPPS_OK;
    }
    dynapps_image_export_t *exports = (dynapps_image_export_t *)(void *)(view + img->tail + sizeof(app_identity_t));
    char *names = (char *)(exports + count);
    uint32_t span = img->names_end - img->names_from;
    memcpy(names, img->bytes + img->strtab + img->names_from, span);
    if (span == 0 || names[span - 1u] != '\0') {
        return REFUSE(DYNAPPS_ERR_BAD_TABLE, "place.export_names");
    }
    for (uint32_t i = 0; i < count; i++) {
        dynapps_image_export_t exp = read_export(img, i);
        if (exp.name_offset < img->names_from || exp.name_offset - img->names_from >= span) {
            return REFUSE(DYNAPPS_ERR_BAD_TABLE, "place.export_names");
        }
        exp.name_offset -= img->names_from;
        exports[i] = exp;
    }
    return DYNAPPS_OK;
}

/* The fix-up loop, written once and inlined twice by apply_fixups. Each fix-up is checked as it
 * is applied (word access: the view is aligned to at least 4 and so is every accepted offset). */
CALL_PATH dynapps_err_t fixup_loop(const image_t *img, uint8_t *view, uint32_t bias, fixup_bounds_t bounds,
                                   bool aligned)
{
    const uint8_t *fixup = img->bytes + img->fixups;
    FIXUP_UNROLL
    for (const uint8_t *end = fixup + 4u * img->h.fixup_count; fixup != end; fixup += 4) {
        uint32_t offset = aligned ? load_word(fixup) : read_u32(fixup);
        if (!fixup_in_bounds(offset, bounds)) {
            return REFUSE(DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS, "fixup.bounds");
        }
        store_word(view + offset, load_word(view + offset) + bias);
    }
    return DYNAPPS_OK;
}

static dynapps_err_t apply_fixups(const image_t *img, uint8_t *view, uint32_t bias)
{
    PHASE(DYNAPPS_PHASE_FIXUP);
    fixup_bounds_t bounds = fixup_bounds(img);
    if (img->aligned && bounds.padding == 0) {
        /* What the build makes: word reads, and with a constant 0 padding the bounds test is
         * one compare. */
        bounds.padding = 0;
        return fixup_loop(img, view, bias, bounds, true);
    }
    return fixup_loop(img, view, bias, bounds, img->aligned);
}

/*
 * After the hash. Writes go through the data view only: on esp32c3 the IRAM alias takes no byte
 * stores. A bad fix-up or import fails the load, and the caller frees the half-written RAM,
 * which nothing has run from.
 */
static dynapps_err_t place_iram(const image_t *img, dynapps_app_t *app)
{
    PHASE(DYNAPPS_PHASE_COPY);
    const dynapps_image_header_t *h = &img->h;
    uint8_t *view = app->mem;
    const uint8_t *code = img->bytes + h->header_size;
    const uint32_t code_size = h->code_size, span = img->code_span, data_size = h->data_size;
    memcpy(view, code, code_size);
    memset(view + code_size, 0, span - code_size);
    memcpy(view + span, code + code_size, data_size);
    memset(view + span + data_size, 0, img->tail - span - data_size); /* bss, up to the tail */
    memcpy(view + img->tail, (const uint8_t *)h + IDENTITY_OFFSET, sizeof(app_identity_t)); /* checked copy */
    dynapps_err_t err = apply_fixups(img, view, (uint32_t)app->bias);
    if (err != DYNAPPS_OK) {
        return err;
    }
    if (h->import_count != 0) { /* else import_slots_vaddr means nothing */
        err = bind_imports(img, view + span + (h->import_slots_vaddr - h->data_vaddr));
        if (err != DYNAPPS_OK) {
            return err;
        }
    }
    if ((err = copy_exports(img, view)) != DYNAPPS_OK) {
        return err;
    }
    dynapps_port_sync_code(view, app->code_addr, code_size);
    return DYNAPPS_OK;
}

/* ---- XIP ---------------------------------------------------------------------------------- */

/* Data + bss of an XIP image, summed without wrapping: a 32-bit sum of 2^32 is 0, which would
 * skip the arena check and let the import slots be bound at whatever data_vaddr says. */
static uint64_t xip_ram_bytes(const dynapps_image_header_t *h)
{
    return (uint64_t)h->data_size + h->bss_size;
}

/* [base, base + size) is inside the data arena and clear of every loaded XIP app's data. The
 * size is 64-bit: data_size + bss_size of two header fields may be 2^32 or more. */
static bool arena_range_free(uint32_t base, uint64_t size)
{
    uintptr_t arena = 0;
    size_t arena_size = 0;
    dynapps_port_data_arena(&arena, &arena_size);
    if (base < arena || base - arena > arena_size || size > arena_size - (base - arena)) {
        dynapps_port_arena_refused(base, size, arena, arena_size);
        return REFUSED("place.arena_bounds");
    }
    if (dynapps_arena_in_use(base, size)) {
        return REFUSED("place.arena_overlap");
    }
    return true;
}

/* Before the hash: the data range must be free (nothing is written to it yet), and the slot's
 * view 4-aligned (dynapps_port.h), since the export table is read in place later. */
static dynapps_err_t reserve_xip(const image_t *img)
{
    uint64_t ram = xip_ram_bytes(&img->h);
    if (!img->aligned) {
        return REFUSE(DYNAPPS_ERR_ADDRESS_UNAVAILABLE, "place.xip_view_alignment");
    }
    if (ram != 0 && !arena_range_free(img->h.data_vaddr, ram)) {
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    return DYNAPPS_OK;
}

/* After the hash: map the slot (where dynapps_verify_identity found the image linked), copy
 * data, bind. */
static dynapps_err_t place_xip(const image_t *img, const dynapps_slot_t *slot, dynapps_app_t *app)
{
    PHASE(DYNAPPS_PHASE_COPY);
    const dynapps_image_header_t *h = &img->h;
    void *mapping = NULL;
    dynapps_err_t err = dynapps_port_map_xip(slot, slot->xip_vaddr, h->image_size, &mapping);
    if (err != DYNAPPS_OK) {
        return err;
    }
    app->mem = mapping; /* from here on, dynapps_unplace gives it back */
    app->exports = (const dynapps_image_export_t *)(const void *)(img->bytes + img->exports);
    app->identity = (const app_identity_t *)(const void *)(img->bytes + IDENTITY_OFFSET);
    app->code_addr = h->code_vaddr;
    app->data_addr = h->data_vaddr;
    if (xip_ram_bytes(h) != 0) { /* data_vaddr may be anything, even 0, without data */
        uint8_t *data = (uint8_t *)(uintptr_t)h->data_vaddr;
        memcpy(data, img->bytes + h->header_size + h->code_size, h->data_size);
        memset(data + h->data_size, 0, h->bss_size);
    }
    return h->import_count != 0 ? bind_imports(img, (uint8_t *)(uintptr_t)h->import_slots_vaddr) : DYNAPPS_OK;
}

/* ---- the stage entry points ---------------------------------------------------------------- */

dynapps_err_t dynapps_reserve(image_t *img, dynapps_app_t *app)
{
    PHASE(DYNAPPS_PHASE_RESERVE);
    return DYNAPPS_STRATEGY_IS_COPIED(img->h.strategy) ? reserve_iram(img, app) : reserve_xip(img);
}

/* Placed: copied and fixed up (IRAM) or mapped with its data copied (XIP), and then its
 * constructor and destructor arrays checked where they were loaded, before any is called. */
dynapps_err_t dynapps_place(const image_t *img, const dynapps_slot_t *slot, dynapps_app_t *app)
{
    dynapps_err_t err = DYNAPPS_STRATEGY_IS_COPIED(img->h.strategy) ? place_iram(img, app) : place_xip(img, slot, app);
    return err == DYNAPPS_OK ? dynapps_verify_call_arrays(app) : err;
}

/* The data arena is fixed: nothing to free there. */
void dynapps_unplace(dynapps_app_t *app)
{
    if (app->mem == NULL) {
        return;
    }
    if (app->strategy == DYNAPPS_STRATEGY_IRAM) {
        dynapps_port_exec_free(app->mem);
    } else if (app->strategy == DYNAPPS_STRATEGY_PSRAM) {
        dynapps_port_psram_free(app->mem);
    } else {
        dynapps_port_unmap_xip(app->mem);
    }
    app->mem = NULL;
}
