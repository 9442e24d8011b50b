/*
 * dynapps loader: public API (docs/loader-api.md).
 *
 * The portable core (src/) has no ESP-IDF includes; a port (port/esp-idf, port/emulator)
 * supplies memory, flash mapping and locking through dynapps_port.h.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro so that every code has its name string (dynapps_err_name). */
#define DYNAPPS_ERRORS(X)                                                                       \
    X(DYNAPPS_OK)                                                                               \
    X(DYNAPPS_ERR_INVALID_ARG)          /* NULL pointer or bad argument */                      \
    X(DYNAPPS_ERR_STALE_HANDLE)         /* the handle names no loaded app: unloaded already */  \
    X(DYNAPPS_ERR_NO_CALL)              /* dynapps_call_end without a call running */           \
    X(DYNAPPS_ERR_SLOT_BUSY)            /* another task is loading or unloading that slot */    \
    X(DYNAPPS_ERR_TOO_MANY_APPS)        /* DYNAPPS_MAX_LOADED_APPS apps are loaded already */   \
    X(DYNAPPS_ERR_BAD_MAGIC)            /* not a dynapps image */                               \
    X(DYNAPPS_ERR_UNSUPPORTED_VERSION)  /* image format version this loader does not know */    \
    X(DYNAPPS_ERR_BAD_HEADER)           /* header fields inconsistent (sizes, strategy) */      \
    X(DYNAPPS_ERR_WRONG_CHIP)           /* built for another chip or ABI */                     \
    X(DYNAPPS_ERR_TRUNCATED)            /* image larger than its slot or buffer */              \
    X(DYNAPPS_ERR_HASH_MISMATCH)        /* SHA-256 does not match: corrupted */                 \
    X(DYNAPPS_ERR_FIRMWARE_MISMATCH)    /* built against another firmware export table */       \
    X(DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS)  /* a fix-up points outside the loaded region */         \
    X(DYNAPPS_ERR_BAD_TABLE)            /* import/export/string table malformed */              \
    X(DYNAPPS_ERR_UNRESOLVED_IMPORT)    /* firmware does not provide an imported symbol */      \
    X(DYNAPPS_ERR_NO_MEM)               /* out of memory */                                     \
    X(DYNAPPS_ERR_ADDRESS_UNAVAILABLE)  /* XIP window or data arena range not available */      \
    X(DYNAPPS_ERR_EXEC_RAM_UNAVAILABLE) /* no executable RAM: memory protection is on */        \
    X(DYNAPPS_ERR_STRATEGY_UNSUPPORTED) /* e.g. an XIP image from a RAM buffer */               \
    X(DYNAPPS_ERR_NOT_FOUND)            /* no such app slot or export */                        \
    X(DYNAPPS_ERR_ALREADY_LOADED)       /* that slot is loaded already */                       \
    X(DYNAPPS_ERR_INIT_FAILED)          /* the app's init returned non-zero */                  \
    X(DYNAPPS_ERR_BUSY)                 /* unload refused: calls into the app are running */    \
    X(DYNAPPS_ERR_NOT_LOADED)           /* call through a wrapper whose app is not loaded */   \
    X(DYNAPPS_ERR_WRONG_SLOT)           /* the image is another app's: name is not the slot's */ \
    X(DYNAPPS_ERR_WRONG_ADDRESS)        /* XIP image linked for another slot's flash window */  \
    X(DYNAPPS_ERR_NO_PSRAM)             /* a PSRAM image, but the firmware has no PSRAM heap */ \
    X(DYNAPPS_ERR_PSRAM_NOT_EXECUTABLE) /* memory protection forbids running code from PSRAM */ \
    X(DYNAPPS_ERR_UNSIGNED)             /* unsigned image, and this firmware requires signed */ \
    X(DYNAPPS_ERR_BAD_SIGNATURE)        /* signature does not verify with the firmware's key */

typedef enum {
#define DYNAPPS_ENUM_ENTRY(name) name,
    DYNAPPS_ERRORS(DYNAPPS_ENUM_ENTRY)
#undef DYNAPPS_ENUM_ENTRY
        DYNAPPS_ERR_COUNT
} dynapps_err_t;

/* "DYNAPPS_ERR_HASH_MISMATCH" for DYNAPPS_ERR_HASH_MISMATCH; "DYNAPPS_ERR_UNKNOWN" otherwise. */
const char *dynapps_err_name(dynapps_err_t err);

/* One symbol the firmware offers to apps (load-time binding, DESIGN constraint 7). */
typedef struct {
    const char *name;
    const void *address;
} dynapps_symbol_t;

/* The firmware export table, generated from firmware/exports.yaml (templates/exports.c.j2). */
typedef struct {
    uint32_t id; /* first 4 bytes (LE) of SHA-256 over the names joined by '\n' */
    uint32_t count;
    const dynapps_symbol_t *symbols; /* in the order of exports.yaml */
    /* prefix_ids[k] is the id of the table's first k + 1 entries (computed like `id`, so
     * prefix_ids[count - 1] == id): an image built against a shorter table that this one
     * extends names that prefix, and the check is one look-up. */
    const uint32_t *prefix_ids;
    /* The public key image signatures are checked with (DYNAPPS_SIGNING_KEY_SIZE bytes: an
     * uncompressed P-256 point), generated from the project's signing key; NULL: the project has
     * none, and a signature is not checked (docs/image-format.md, "Signature"). */
    const uint8_t *signing_key;
} dynapps_firmware_t;

extern const dynapps_firmware_t dynapps_firmware;

/*
 * A handle names one load of one app (docs/loader-api.md, "Handles"). It is not an address:
 * once its app is unloaded, every function refuses it with DYNAPPS_ERR_STALE_HANDLE, also after
 * a later load of the same or another app, and never touches freed memory.
 */
typedef struct dynapps_app dynapps_app_t;

/* An app's name is its slot's label: at most 16 characters (an ESP-IDF partition label). */
#define DYNAPPS_NAME_MAX 16

/* The manifest's `version: major.minor.patch`, as the image header carries it. */
typedef struct {
    uint16_t major, minor, patch;
} dynapps_version_t;

typedef struct {
    char name[DYNAPPS_NAME_MAX + 1]; /* NUL-terminated */
    dynapps_version_t version;
    uint8_t strategy;      /* dynapps_strategy_t */
    uintptr_t code_addr;   /* where the code executes (flash window, IRAM or PSRAM) */
    uintptr_t data_addr;   /* where data and bss live (data view) */
    uint32_t code_size;    /* code segment bytes */
    uint32_t data_size;    /* initialised data bytes */
    uint32_t bss_size;     /* bss bytes */
    uint32_t ram_bytes;    /* all heap RAM this app holds: code copy, data, bookkeeping */
    uint32_t fixup_count;
    uint32_t import_count;
    uint32_t export_count;
} dynapps_app_info_t;

/* Load the app whose slot (partition) is labelled `name`; verify, place, bind, run init. init
 * runs without the loader lock and may call the loader; meanwhile the app is not visible and its
 * slot refuses another load with DYNAPPS_ERR_SLOT_BUSY. */
dynapps_err_t dynapps_load(const char *name, dynapps_app_t **out);

/* Load an IRAM image from a RAM buffer (an XIP image needs its flash slot). The buffer may be
 * freed once this returns. */
dynapps_err_t dynapps_load_from_buffer(const void *image, size_t size, dynapps_app_t **out);

/* Verify an image in RAM without loading it: header, SHA-256, signature (refused unsigned when
 * the firmware requires signed images), export table prefix and tables, the checks a load
 * makes before placing anything (docs/loader-api.md). For a transport that receives images
 * (the live agent) before it writes or loads one. */
dynapps_err_t dynapps_verify_image(const void *image, size_t size);

/* Address of the export `name`, callable through a correctly typed function pointer. */
dynapps_err_t dynapps_find_export(const dynapps_app_t *app, const char *name, void **function);

dynapps_err_t dynapps_get_info(const dynapps_app_t *app, dynapps_app_info_t *info);

/* The loaded apps, one per call (docs/loader-api.md, "Listing the loaded apps"): start with
 * *iter NULL; each call sets *iter to the handle of the next loaded app and copies its info out
 * under the lock, so the caller may call the loader between steps (even unload *iter). At the
 * end: DYNAPPS_ERR_NOT_FOUND and *iter NULL. An app whose init or deinit is running is not
 * listed. */
dynapps_err_t dynapps_next_loaded(dynapps_app_t **iter, dynapps_app_info_t *info);

/* The handle of the loaded app called `name` (a buffer-loaded app is named by its header too;
 * of two with one name, the one first in the list), or DYNAPPS_ERR_NOT_FOUND and NULL. */
dynapps_err_t dynapps_find_loaded(const char *name, dynapps_app_t **app);

/* Run deinit (without the lock, like init), then return every byte and mapping the app held.
 * DYNAPPS_ERR_BUSY while a call through the wrappers is running in it. */
dynapps_err_t dynapps_unload(dynapps_app_t *app);

/*
 * Used by the generated wrappers (docs/wrappers.md); *handle is the wrapper's own app handle,
 * read and written only with the loader lock held. Loads, unloads and the start and end of
 * calls from several tasks are serialised by that lock; the call itself, init and deinit run
 * without it. A stale *handle (its app was unloaded through another path) is never used: load
 * replaces it, unload and call refuse it with DYNAPPS_ERR_STALE_HANDLE and clear it.
 */
/* Load slot `name` into *handle; DYNAPPS_ERR_ALREADY_LOADED if *handle names a loaded app. */
dynapps_err_t dynapps_load_handle(const char *name, dynapps_app_t **handle);
/* Unload *handle and clear it; DYNAPPS_ERR_NOT_LOADED if it is not set, BUSY during calls. */
dynapps_err_t dynapps_unload_handle(dynapps_app_t **handle);
/* Start a call of export `index` (manifest order): loads the app first if *handle is NULL,
 * counts the call so that unload waits for it, and gives the export's address. */
dynapps_err_t dynapps_call_begin(const char *name, dynapps_app_t **handle, uint32_t index, void **function);
/* Start a call of the export called `export_name` of a loaded app (a host's call by name, the
 * live agent's): counts the call so that unload refuses with DYNAPPS_ERR_BUSY until
 * dynapps_call_end; DYNAPPS_ERR_STALE_HANDLE for an unloaded app, DYNAPPS_ERR_NOT_FOUND for no such
 * export. */
dynapps_err_t dynapps_call_begin_export(dynapps_app_t *app, const char *export_name, void **function);
/* End a call begun with dynapps_call_begin or _begin_export: DYNAPPS_ERR_NO_CALL if none is running (the count
 * stays 0), DYNAPPS_ERR_STALE_HANDLE for a stale handle. */
dynapps_err_t dynapps_call_end(dynapps_app_t *app);
/* Called by a wrapper whose call could not run; a weak default does nothing. */
void dynapps_on_call_error(const char *app, const char *function, dynapps_err_t err);

/*
 * The generated wrappers' call path (docs/wrappers.md, "Concurrency"; docs/performance.md, "The
 * call path"). Each app's wrappers own one dynapps_wrapper_t, followed by the export addresses
 * the loader fills when it opens the wrapper. A call takes no lock: it counts itself in `state`
 * with one atomic add, which also tells it whether the wrapper is open (bit 31 clear), reads the
 * export's address from the wrapper's own table, calls it, and counts itself out. The loader
 * opens a wrapper after loading its app through it (addresses filled first) and closes it,
 * with one compare-and-swap from 0 (open, no call running), before that app is unloaded
 * through any path, so a wrapper never calls into an app that is gone: a handle made stale
 * behind its back is found on the next call's slow path (dynapps_wrapper_call), not used.
 */
#define DYNAPPS_WRAPPER_CLOSED 0x80000000u

/* The fast path and the generated wrappers are inlined wherever they are called, at every -O. */
#if defined(__GNUC__)
#define DYNAPPS_INLINE static inline __attribute__((always_inline))
#else
#define DYNAPPS_INLINE static inline
#endif

typedef struct dynapps_wrapper {
    uint32_t state;         /* DYNAPPS_WRAPPER_CLOSED, or'ed with the calls running now (atomic) */
    dynapps_app_t *handle;  /* the app loaded through it, NULL if none; written with the lock held */
    const char *name;       /* its app's slot */
    void (**entries)(void); /* export addresses in manifest order, valid while open */
    uint32_t entry_count;
    /* The wrappers' slow paths, one per export with its prototype: what `entries` holds while
     * closed on a chip where the fast path does not check (DYNAPPS_WRAPPER_STUBS). */
    void (*const *stubs)(void);
} dynapps_wrapper_t;

/* The generated <app>_load(), <app>_unload(), and a call's slow path: the wrapper is closed
 * (not loaded yet, or unloaded elsewhere) or the fast path found it so. _call undoes the fast
 * path's count, loads the app if the wrapper has none (lazy load), and returns DYNAPPS_OK with
 * the call counted, or why it can't run (a stale handle: DYNAPPS_ERR_STALE_HANDLE, forgotten). */
dynapps_err_t dynapps_wrapper_load(dynapps_wrapper_t *wrapper);
dynapps_err_t dynapps_wrapper_unload(dynapps_wrapper_t *wrapper);
dynapps_err_t dynapps_wrapper_call(dynapps_wrapper_t *wrapper);

/* The fast path, inlined into every call. Atomic instructions where the chip has them (RV32 "A":
 * esp32c6, esp32h2, esp32p4: one amoadd each way). The esp32c3 (rv32imc, one core) has none:
 * the count is updated with interrupts masked for its load, add and store, which is what
 * ESP-IDF's own atomics do on that chip (components/newlib, esp_stdatomic.h), inlined.
 *
 * DYNAPPS_WRAPPER_STUBS (the esp32c3): the fast path counts itself in and calls the entry without
 * looking at the state; a closed wrapper's entries are its slow paths (`stubs`), which undo the
 * count and load, refuse or call. The loader closes such a wrapper (state 0 to CLOSED, entries to
 * the stubs) and opens it with interrupts masked, which on a one-core chip no call can come
 * between: a call counted in before a close finds the count not 0 and the close refused, one
 * counted in after it reads a stub. That saves the fast path's branch. */
#if defined(__riscv) && !defined(__riscv_atomic)
#define DYNAPPS_WRAPPER_STUBS 1

/* Interrupts off (MIE clear); the mstatus to give back to dynapps_wrapper_unmask. csrrci and
 * csrw spelled as .insn, so that an -march without _zicsr assembles them too. */
DYNAPPS_INLINE uint32_t dynapps_wrapper_mask(void)
{
    uint32_t mask;
    __asm__ volatile(".insn i 0x73, 7, %0, x8, 0x300" : "=r"(mask) : : "memory");
    return mask;
}

DYNAPPS_INLINE void dynapps_wrapper_unmask(uint32_t mask)
{
    __asm__ volatile(".insn i 0x73, 1, x0, %0, 0x300" : : "r"(mask) : "memory");
}

/* Adds `delta` to the wrapper's state and returns the new state. */
DYNAPPS_INLINE uint32_t dynapps_wrapper_add(uint32_t *state, uint32_t delta)
{
    uint32_t mask, value;
    /* csrrci %0, mstatus, 8 (MIE off, old mstatus kept) ... csrw mstatus, %0; spelled as .insn
     * so that an -march without _zicsr assembles it too. */
    __asm__ volatile(".insn i 0x73, 7, %0, x8, 0x300\n\t"
                     "lw %1, 0(%2)\n\t"
                     "add %1, %1, %3\n\t"
                     "sw %1, 0(%2)\n\t"
                     ".insn i 0x73, 1, x0, %0, 0x300"
                     : "=&r"(mask), "=&r"(value)
                     : "r"(state), "r"(delta)
                     : "memory");
    return value;
}

/* Count a call in; false (and the count to undo) if the wrapper is closed. */
DYNAPPS_INLINE int dynapps_wrapper_enter(dynapps_wrapper_t *wrapper)
{
    return (int32_t)dynapps_wrapper_add(&wrapper->state, 1u) >= 0;
}

DYNAPPS_INLINE void dynapps_wrapper_leave(dynapps_wrapper_t *wrapper)
{
    dynapps_wrapper_add(&wrapper->state, (uint32_t)-1);
}

/* Count a call in, open or not (DYNAPPS_WRAPPER_STUBS: a closed wrapper's entries are stubs). */
DYNAPPS_INLINE void dynapps_wrapper_count_in(dynapps_wrapper_t *wrapper)
{
    dynapps_wrapper_add(&wrapper->state, 1u);
}
#else
#define DYNAPPS_WRAPPER_STUBS 0

DYNAPPS_INLINE uint32_t dynapps_wrapper_add(uint32_t *state, uint32_t delta)
{
    return __atomic_add_fetch(state, delta, __ATOMIC_ACQ_REL);
}

/* The state before the add: the bit that says closed is the same after it. Acquire: the
 * export addresses, written before the wrapper opened, are seen. */
DYNAPPS_INLINE int dynapps_wrapper_enter(dynapps_wrapper_t *wrapper)
{
    return (int32_t)__atomic_fetch_add(&wrapper->state, 1u, __ATOMIC_ACQUIRE) >= 0;
}

/* Release: everything the call did happens before an unload that finds the count at 0. */
DYNAPPS_INLINE void dynapps_wrapper_leave(dynapps_wrapper_t *wrapper)
{
    __atomic_fetch_sub(&wrapper->state, 1u, __ATOMIC_RELEASE);
}
#endif

#ifdef __cplusplus
}
#endif
