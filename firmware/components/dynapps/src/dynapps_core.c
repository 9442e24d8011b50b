/*
 * Lifecycle: the table of loaded apps, handles, load (the stages of dynapps_verify.c and
 * dynapps_place.c in order, with one cleanup point), init and deinit, the public API and the
 * calls through the generated wrappers. docs/loader-api.md is the reference; docs/design.md says
 * why the image looks the way it does.
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
#include "dynapps_stages.h"

/* A handle: bits 0-7 the record's index in `apps`, bits 8-31 the load's sequence number, which
 * is never 0 (so neither is a handle) and repeats only after 2^24 - 1 loads. */
#define HANDLE_INDEX_BITS 8u
#define HANDLE_INDEX_MASK ((1u << HANDLE_INDEX_BITS) - 1u)
#define HANDLE_SEQUENCE_MASK (UINT32_MAX >> HANDLE_INDEX_BITS)

/* Every app from the start of its load to the end of its unload, by the index in its handle.
 * Guarded by the loader lock, like everything below that changes. */
static dynapps_app_t *apps[DYNAPPS_MAX_LOADED_APPS];
static uint32_t load_sequence; /* sequence number of the last load's handle */
/* The wrapper each app was loaded through (NULL: loaded through the API), by the same index: its
 * unload, through any path, closes that wrapper first (close_wrapper). */
static dynapps_wrapper_t *opened_by[DYNAPPS_MAX_LOADED_APPS];

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

/* Every byte of RAM the app holds: the record, and its executable allocation (IRAM or PSRAM: code,
 * data, bss, identity, export table and names) or its data arena range (XIP). */
static uint32_t app_ram_bytes(const dynapps_app_t *app)
{
    uint32_t held = app->data_size + app->bss_size;
    if (DYNAPPS_STRATEGY_IS_COPIED(app->strategy)) {
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

bool dynapps_arena_in_use(uint32_t base, uint64_t size)
{
    for (int i = 0; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        const dynapps_app_t *a = apps[i];
        if (a == NULL) {
            continue;
        }
        uint64_t a_end = (uint64_t)a->data_addr + a->data_size + a->bss_size;
        if (a->strategy == DYNAPPS_STRATEGY_XIP && a_end > a->data_addr && base < a_end &&
            a->data_addr < (uint64_t)base + size) {
            return true;
        }
    }
    return false;
}

/* Out of the table, and everything back: the end of a failed init and of every unload. */
static void discard(dynapps_app_t *app)
{
    apps[app->index] = NULL;
    opened_by[app->index] = NULL;
    dynapps_unplace(app);
    dynapps_port_free(app);
}

#ifdef DYNAPPS_TRACE_PHASES
/* The bench firmware defines its own, which marks the phase (bench/firmware/bench_main.c). */
__attribute__((weak)) void dynapps_trace_phase(dynapps_phase_t phase) { (void)phase; }
#endif

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

/* ---- the wrappers' gates (dynapps.h, "The generated wrappers' call path") ------------------ */

/* Close `wrapper` (NULL: none) if no call is running through it; with the lock held. Closed, its
 * fast path fails (DYNAPPS_WRAPPER_STUBS: calls its entries, the stubs) and every call goes to
 * dynapps_wrapper_call, which waits for the lock. A call counted in meanwhile makes it open again
 * at once and refuse: the call runs on. */
static bool close_wrapper(dynapps_wrapper_t *wrapper)
{
    if (wrapper == NULL) {
        return true;
    }
#if DYNAPPS_WRAPPER_STUBS
    /* One core: with interrupts masked no call counts in between the check and the stubs. */
    uint32_t mask = dynapps_wrapper_mask();
    bool idle = wrapper->state == 0;
    if (idle) {
        for (uint32_t i = 0; i < wrapper->entry_count; i++) {
            wrapper->entries[i] = wrapper->stubs[i];
        }
        wrapper->state = DYNAPPS_WRAPPER_CLOSED;
    }
    dynapps_wrapper_unmask(mask);
    return idle;
#else
    if (dynapps_wrapper_add(&wrapper->state, DYNAPPS_WRAPPER_CLOSED) == DYNAPPS_WRAPPER_CLOSED) {
        return true;
    }
    dynapps_wrapper_add(&wrapper->state, (uint32_t)-DYNAPPS_WRAPPER_CLOSED);
    return false;
#endif
}

/* Whether the image has the exports a wrapper calls: the first entry_count, none init or deinit.
 * A wrapper generated from another version of the manifest than the image is refused at load
 * (DYNAPPS_ERR_NOT_FOUND: rebuild both), not at each call. */
static bool wrapper_fits(const dynapps_app_t *app, const dynapps_wrapper_t *wrapper)
{
    if (wrapper->entry_count > app->export_count) {
        return false;
    }
    for (uint32_t i = 0; i < wrapper->entry_count; i++) {
        if (app->exports[i].flags != 0) {
            return false;
        }
    }
    return true;
}

/* With the lock held, as the app loaded through `wrapper` is published: its addresses, then open
 * (the atomic add orders the addresses before it for every call that finds it open). */
static void open_wrapper(dynapps_wrapper_t *wrapper, const dynapps_app_t *app)
{
#if DYNAPPS_WRAPPER_STUBS
    uint32_t mask = dynapps_wrapper_mask(); /* a call reads a stub or the app's address, both valid */
#endif
    for (uint32_t i = 0; i < wrapper->entry_count; i++) {
        wrapper->entries[i] = (void (*)(void))export_address(app, &app->exports[i]);
    }
    opened_by[app->index] = wrapper;
    dynapps_wrapper_add(&wrapper->state, (uint32_t)-DYNAPPS_WRAPPER_CLOSED);
#if DYNAPPS_WRAPPER_STUBS
    dynapps_wrapper_unmask(mask);
#endif
}

/* Static constructors, in array order (place checked every entry is in the app's code). */
static void run_constructors(const dynapps_app_t *app)
{
    const uint8_t *entries = call_array(app, app->identity->init_array_vaddr);
    for (uint32_t i = 0, n = app->identity->init_count; i < n; i++) {
        dynapps_call_deinit(load_word(entries + 4u * i));
    }
}

/* Static destructors, last first. The array is in the app's RAM, which its own code may write:
 * an entry that no longer calls into its code is skipped, never called. */
static void run_destructors(const dynapps_app_t *app)
{
    const uint8_t *entries = call_array(app, app->identity->fini_array_vaddr);
    for (uint32_t i = app->identity->fini_count; i > 0; i--) {
        uint32_t entry = load_word(entries + 4u * (i - 1u));
        if (call_in_code(app, entry)) {
            dynapps_call_deinit(entry);
        }
    }
}

/* ---- loading ------------------------------------------------------------------------------ */

/* An XIP image from a RAM buffer can't run (it needs its flash slot); verified all the same,
 * so that a corrupted buffer says so rather than "unsupported". */
static dynapps_err_t refuse_xip_buffer(image_t *img)
{
    dynapps_err_t err = dynapps_verify_contents(img, NULL);
    if (err == DYNAPPS_OK) {
        err = dynapps_verify_imports(img);
    }
    return err != DYNAPPS_OK ? err : REFUSE(DYNAPPS_ERR_STRATEGY_UNSUPPORTED, "load.xip_from_buffer");
}

/*
 * Everything of a load that runs with the lock held, one stage per step: on success *out is the
 * placed app, in the table but not visible yet (start_app runs its init). slot is NULL for a
 * RAM buffer, which can only hold an IRAM image and has no name to check. A failed stage goes to
 * `out`, which gives back whatever the app holds (app->mem says what, dynapps_unplace).
 */
static dynapps_err_t load_image(const uint8_t *bytes, size_t avail, const dynapps_slot_t *slot,
                                dynapps_app_t **out)
{
    image_t img;
    dynapps_app_t *app = NULL;
    dynapps_err_t err;
    int index;

    PHASE(DYNAPPS_PHASE_HEADER);
    if ((err = dynapps_verify_header(bytes, avail, &img)) != DYNAPPS_OK) {
        goto out;
    }
    if (slot != NULL && (err = dynapps_verify_identity(&img, slot)) != DYNAPPS_OK) {
        goto out;
    }
    if (slot == NULL && !DYNAPPS_STRATEGY_IS_COPIED(img.h.strategy)) {
        err = refuse_xip_buffer(&img);
        goto out;
    }
    PHASE(DYNAPPS_PHASE_BOOKKEEPING);
    if ((index = free_index()) < 0) {
        err = REFUSE(DYNAPPS_ERR_TOO_MANY_APPS, "load.table_full");
        goto out;
    }
    if ((app = app_new(&img, slot != NULL ? slot->id : NO_SLOT)) == NULL) {
        err = DYNAPPS_ERR_NO_MEM;
        goto out;
    }
    /* Memory first: a load that can't get it fails without hashing the image. */
    if ((err = dynapps_reserve(&img, app)) != DYNAPPS_OK) {
        goto out;
    }
    if ((err = dynapps_verify_contents(&img, slot)) != DYNAPPS_OK) {
        goto out;
    }
    if ((err = dynapps_place(&img, slot, app)) != DYNAPPS_OK) {
        goto out;
    }
    if (!img.body_trusted) {
        dynapps_trust_mark_write(&img, slot); /* verified in full and placed: trusted from now on */
    }
    register_app(app, index);
    *out = app;
    app = NULL; /* the table has it now */
out:
    if (app != NULL) {
        dynapps_unplace(app);
        dynapps_port_free(app);
    }
    return err;
}

/*
 * The rest of a load, called without the lock: run the static constructors, then init (app code,
 * which may call the loader; its own app is invisible meanwhile and its slot refuses another
 * load), then make the app visible and give its handle to *out, or give everything back. A
 * failed init gets no deinit (it set nothing up), but the static destructors run: the
 * constructors did build their objects.
 */
static dynapps_err_t start_app(dynapps_app_t *app, dynapps_app_t **out, dynapps_wrapper_t *wrapper)
{
    PHASE(DYNAPPS_PHASE_INIT);
    run_constructors(app);
    dynapps_err_t err = run_init(app);
    if (err != DYNAPPS_OK) {
        run_destructors(app); /* what the constructors built is torn down even so */
    }
    dynapps_port_lock();
    if (err == DYNAPPS_OK) {
        dynapps_app_t *handle = publish(app);
        __atomic_store_n(out, handle, __ATOMIC_RELAXED); /* <app>_handle() reads it unlocked */
        if (wrapper != NULL) {
            open_wrapper(wrapper, app);
        }
    } else {
        discard(app);
    }
    dynapps_port_unlock();
    return err;
}

/* The end of every load: `err` is how the locked part went, app the placed app if it went well;
 * `wrapper` the generated wrappers it was loaded through, opened with it (NULL: none). */
static dynapps_err_t finish_load(dynapps_err_t err, dynapps_app_t *app, dynapps_app_t **out,
                                 dynapps_wrapper_t *wrapper)
{
    if (err == DYNAPPS_OK) {
        err = start_app(app, out, wrapper);
    }
    PHASE(DYNAPPS_PHASE_DONE);
    return err;
}

/* The slot is only read while loading; an XIP mapping made from it keeps its view readable. */
static dynapps_err_t load_slot(const char *name, dynapps_app_t **out)
{
    PHASE(DYNAPPS_PHASE_LOOKUP);
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
    return finish_load(err, app, out, NULL);
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
    return finish_load(err, app, out, NULL);
}

/* The checks of load_image before anything is reserved or placed (no slot: no identity). */
static dynapps_err_t verify_image(const uint8_t *bytes, size_t size)
{
    image_t img;
    dynapps_err_t err = dynapps_verify_header(bytes, size, &img);
    if (err == DYNAPPS_OK) {
        err = dynapps_verify_contents(&img, NULL);
    }
    if (err == DYNAPPS_OK) {
        err = dynapps_verify_fixups(&img);
    }
    if (err == DYNAPPS_OK) {
        err = dynapps_verify_imports(&img);
    }
    return err;
}

dynapps_err_t dynapps_verify_image(const void *image, size_t size)
{
    if (image == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = verify_image(image, size);
    dynapps_port_unlock();
    return err;
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
    const app_identity_t *id = app->identity;
    memcpy(info->name, id->name, sizeof id->name); /* info->name has one byte more: the NUL */
    info->version = (dynapps_version_t){id->version_major, id->version_minor, id->version_patch};
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

/* The first live app at table index `from` or after, or NULL. */
static dynapps_app_t *live_from(uintptr_t from)
{
    for (uintptr_t i = from; i < DYNAPPS_MAX_LOADED_APPS; i++) {
        if (apps[i] != NULL && apps[i]->handle != 0) {
            return apps[i];
        }
    }
    return NULL;
}

/* The walk goes by table index, which every handle carries in its low bits, so a cursor whose
 * app was unloaded meanwhile still says where to go on, without its record being read. */
dynapps_err_t dynapps_next_loaded(dynapps_app_t **iter, dynapps_app_info_t *info)
{
    if (iter == NULL || info == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    uintptr_t from = *iter == NULL ? 0 : ((uintptr_t)*iter & HANDLE_INDEX_MASK) + 1u;
    dynapps_port_lock();
    const dynapps_app_t *next = live_from(from);
    if (next != NULL) {
        fill_info(next, info);
    }
    *iter = next != NULL ? (dynapps_app_t *)(uintptr_t)next->handle : NULL;
    dynapps_port_unlock();
    return next != NULL ? DYNAPPS_OK : DYNAPPS_ERR_NOT_FOUND;
}

static bool is_named(const dynapps_app_t *app, const char *name)
{
    const char *own = app->identity->name;
    return strncmp(own, name, DYNAPPS_IMAGE_NAME_SIZE) == 0 && strlen(name) <= DYNAPPS_IMAGE_NAME_SIZE;
}

dynapps_err_t dynapps_find_loaded(const char *name, dynapps_app_t **app)
{
    if (name == NULL || app == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    const dynapps_app_t *found = live_from(0);
    while (found != NULL && !is_named(found, name)) {
        found = live_from(found->index + 1u);
    }
    *app = found != NULL ? (dynapps_app_t *)(uintptr_t)found->handle : NULL;
    dynapps_port_unlock();
    return found != NULL ? DYNAPPS_OK : DYNAPPS_ERR_NOT_FOUND;
}

/* The first half of an unload, with the lock held: `handle` must name a live app that no call
 * is running in. From here on its handle is refused, but it keeps its slot and memory. */
static dynapps_err_t stop_app(const dynapps_app_t *handle, dynapps_app_t **app)
{
    *app = live_app(handle);
    if (*app == NULL) {
        return DYNAPPS_ERR_STALE_HANDLE;
    }
    if ((*app)->active_calls != 0 || !close_wrapper(opened_by[(*app)->index])) {
        return DYNAPPS_ERR_BUSY;
    }
    (*app)->handle = 0;
    return DYNAPPS_OK;
}

/* The second half, called without the lock: deinit, then the static destructors (app code, which
 * may call the loader), then everything back. */
static void finish_unload(dynapps_app_t *app)
{
    const dynapps_image_export_t *deinit = find_flagged(app, DYNAPPS_EXPORT_FLAG_DEINIT);
    if (deinit != NULL) {
        dynapps_call_deinit(export_address(app, deinit));
    }
    run_destructors(app);
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
    return finish_load(err, app, handle, NULL);
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

dynapps_err_t dynapps_call_begin_export(dynapps_app_t *handle, const char *export_name, void **function)
{
    if (handle == NULL || export_name == NULL || function == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_port_lock();
    dynapps_err_t err = find_export(handle, export_name, function);
    dynapps_app_t *app = live_app(handle);
    if (err == DYNAPPS_OK && app->active_calls == UINT16_MAX) {
        err = DYNAPPS_ERR_BUSY; /* the counter is full */
    }
    if (err == DYNAPPS_OK) {
        app->active_calls++;
    } else {
        *function = NULL;
    }
    dynapps_port_unlock();
    return err;
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

/* ---- the generated wrappers' own entry points (dynapps.h) --------------------------------- */

dynapps_err_t dynapps_wrapper_load(dynapps_wrapper_t *wrapper)
{
    if (wrapper == NULL || wrapper->name == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = live_app(wrapper->handle) != NULL ? DYNAPPS_ERR_ALREADY_LOADED : load_slot(wrapper->name, &app);
    if (err == DYNAPPS_OK && !wrapper_fits(app, wrapper)) {
        discard(app); /* before its init: nothing to undo */
        err = DYNAPPS_ERR_NOT_FOUND;
    }
    dynapps_port_unlock();
    return finish_load(err, app, &wrapper->handle, wrapper);
}

dynapps_err_t dynapps_wrapper_unload(dynapps_wrapper_t *wrapper)
{
    if (wrapper == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    dynapps_app_t *app = NULL;
    dynapps_port_lock();
    dynapps_err_t err = wrapper->handle == NULL ? DYNAPPS_ERR_NOT_LOADED : stop_app(wrapper->handle, &app);
    if (err == DYNAPPS_OK || err == DYNAPPS_ERR_STALE_HANDLE) {
        __atomic_store_n(&wrapper->handle, NULL, __ATOMIC_RELAXED);
    }
    dynapps_port_unlock();
    if (err == DYNAPPS_OK) {
        finish_unload(app);
    }
    return err;
}

/* With the lock held, so that the wrapper can't open or close meanwhile: count a call in if it
 * is open; else NOT_LOADED (no app: load it), or STALE_HANDLE for an app unloaded through
 * another path, whose handle it forgets (a closed wrapper's app is never live under the lock). */
static dynapps_err_t count_in(dynapps_wrapper_t *wrapper)
{
    if (dynapps_wrapper_enter(wrapper)) {
        return DYNAPPS_OK;
    }
    dynapps_wrapper_add(&wrapper->state, (uint32_t)-1);
    if (wrapper->handle == NULL) {
        return DYNAPPS_ERR_NOT_LOADED;
    }
    __atomic_store_n(&wrapper->handle, NULL, __ATOMIC_RELAXED);
    return DYNAPPS_ERR_STALE_HANDLE;
}

static dynapps_err_t count_in_locked(dynapps_wrapper_t *wrapper)
{
    dynapps_port_lock();
    dynapps_err_t err = count_in(wrapper);
    dynapps_port_unlock();
    return err;
}

/* Out of line: the fast path found the wrapper closed. */
dynapps_err_t dynapps_wrapper_call(dynapps_wrapper_t *wrapper)
{
    dynapps_wrapper_add(&wrapper->state, (uint32_t)-1); /* the fast path's count on a closed wrapper */
    dynapps_err_t err = count_in_locked(wrapper);
    if (err != DYNAPPS_ERR_NOT_LOADED) {
        return err;
    }
    dynapps_err_t loaded = dynapps_wrapper_load(wrapper); /* lazy load; init runs unlocked */
    if (loaded != DYNAPPS_OK && loaded != DYNAPPS_ERR_ALREADY_LOADED) {
        return loaded;
    }
    /* ALREADY_LOADED: by another task through this wrapper (then open), or through another path
     * (then not: the load's error says so). Unloaded again meanwhile: NOT_LOADED. */
    err = count_in_locked(wrapper);
    return err == DYNAPPS_ERR_NOT_LOADED && loaded != DYNAPPS_OK ? loaded : err;
}

/* Firmware may define its own to log or count; by default a failed call only sets the status. */
__attribute__((weak)) void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err)
{
    (void)app;
    (void)function;
    (void)err;
}
