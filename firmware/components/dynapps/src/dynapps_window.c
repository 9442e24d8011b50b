/*
 * Reserving the apps window at its identity linear address (dynapps_window.h says why and how).
 * No ESP-IDF includes: the port's MMU hooks do the mapping.
 */
#include <string.h>

#include "dynapps_window.h"

/* Temporary filler mappings below the window, and the flash pages they map. */
typedef struct {
    const dynapps_mmu_ops_t *mmu;
    uint32_t window;     /* linear (and physical) start of the window */
    uint32_t paddr_next; /* flash offset of the next filler's pages; stays below `window` */
    uint32_t count;
    uint32_t laddr[DYNAPPS_WINDOW_MAX_FILLERS];
} fillers_t;

/* A filler of `size` bytes wherever first fit puts it. Its flash pages come from the bottom of
 * the flash; a range esp_mm already maps whole is refused (PADDR_IN_USE), so try the next pages. */
static dynapps_mmu_status_t filler_map(fillers_t *f, uint32_t size, uint32_t *laddr)
{
    dynapps_mmu_status_t status = DYNAPPS_MMU_PADDR_IN_USE;
    for (unsigned attempt = 0; attempt < 4 && status == DYNAPPS_MMU_PADDR_IN_USE; attempt++) {
        if (size > f->window || f->paddr_next > f->window - size) {
            return DYNAPPS_MMU_FAILED; /* would reach the window's own flash */
        }
        status = f->mmu->map_first_fit(f->paddr_next, size, true, laddr);
        if (status == DYNAPPS_MMU_PADDR_IN_USE) {
            f->paddr_next += f->mmu->page_size;
        }
    }
    return status;
}

static void filler_keep(fillers_t *f, uint32_t laddr, uint32_t size)
{
    f->laddr[f->count++] = laddr;
    f->paddr_next += size;
}

/*
 * Take every free linear page below the window. A one-page probe finds the lowest free page (first
 * fit); the rest of that hole up to the window is then asked for in one mapping, kept only if it
 * lands right after the probe (else a block lies in between: the next probe finds what is left).
 */
static dynapps_err_t fill_below(fillers_t *f, dynapps_window_report_t *report)
{
    const uint32_t page = f->mmu->page_size;
    for (bool first = true;; first = false) {
        uint32_t at = 0;
        dynapps_mmu_status_t status = filler_map(f, page, &at);
        if (status != DYNAPPS_MMU_OK) {
            report->failed_step = "probe for the lowest free page";
            report->mmu = status;
            return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
        }
        if (first) {
            report->first_free = at;
        }
        if (at >= f->window) {
            f->mmu->unmap(at); /* nothing free below the window any more */
            return DYNAPPS_OK;
        }
        if (f->count == DYNAPPS_WINDOW_MAX_FILLERS) {
            f->mmu->unmap(at);
            report->failed_step = "fillers: too many holes below the window";
            return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
        }
        filler_keep(f, at, page);
        uint32_t rest = f->window - (at + page);
        uint32_t got = 0;
        if (rest != 0 && f->count < DYNAPPS_WINDOW_MAX_FILLERS &&
            filler_map(f, rest, &got) == DYNAPPS_MMU_OK) {
            if (got == at + page) {
                filler_keep(f, got, rest);
            } else {
                f->mmu->unmap(got);
            }
        }
    }
}

/* First fit now puts the window at its start, unless something occupies part of it. */
static dynapps_err_t map_window(const dynapps_mmu_ops_t *mmu, uint32_t start, uint32_t size,
                                dynapps_window_report_t *report)
{
    uint32_t got = 0;
    dynapps_mmu_status_t status = mmu->map_first_fit(start, size, false, &got);
    if (status != DYNAPPS_MMU_OK) {
        report->failed_step = "map the window";
        report->mmu = status;
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    if (got != start) {
        mmu->unmap(got); /* never run an app at a wrong address */
        report->got = got;
        report->mapped_elsewhere = true;
        report->failed_step = "map the window at its own address";
        return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
    }
    return DYNAPPS_OK;
}

dynapps_err_t dynapps_window_reserve(const dynapps_mmu_ops_t *mmu, uint32_t flash_start, uint32_t size,
                                     dynapps_window_report_t *report)
{
    if (report == NULL) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    memset(report, 0, sizeof *report);
    report->wanted = flash_start;
    if (mmu == NULL || mmu->map_first_fit == NULL || mmu->unmap == NULL || mmu->page_size == 0 ||
        (mmu->page_size & (mmu->page_size - 1)) != 0 || flash_start % mmu->page_size != 0 ||
        size == 0 || size % mmu->page_size != 0 || flash_start > UINT32_MAX - size) {
        return DYNAPPS_ERR_INVALID_ARG;
    }
    if (mmu->map_at != NULL) {
        report->mechanism = DYNAPPS_WINDOW_MAP_AT;
        report->mmu = mmu->map_at(flash_start, flash_start, size);
        if (report->mmu != DYNAPPS_MMU_OK) {
            report->failed_step = "map the window at its own address";
            return DYNAPPS_ERR_ADDRESS_UNAVAILABLE;
        }
        return DYNAPPS_OK;
    }
    report->mechanism = DYNAPPS_WINDOW_FILLERS;
    fillers_t fillers = {.mmu = mmu, .window = flash_start};
    dynapps_err_t err = fill_below(&fillers, report);
    if (err == DYNAPPS_OK) {
        err = map_window(mmu, flash_start, size, report);
    }
    for (uint32_t i = fillers.count; i-- > 0;) {
        mmu->unmap(fillers.laddr[i]);
    }
    report->fillers = fillers.count;
    return err;
}
