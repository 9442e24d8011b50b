/*
 * Test image builder: lays out a dynapps image exactly as dynapps_image.h describes
 * (header, code, data, fix-ups, imports, exports, strtab, SHA-256) so the host tests can make
 * good images and then break them one field at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "dynapps_image.h"

typedef struct {
    const char *name;
    uint32_t firmware_index;
} ib_import_t;

typedef struct {
    const char *name;
    uint32_t vaddr;
    uint32_t flags;
} ib_export_t;

typedef struct {
    const char *name; /* the app's name (at most 16 characters); NULL: no name */
    uint16_t version[3];
    uint16_t chip_id;
    uint8_t strategy;
    uint8_t align_log2;
    uint16_t flags;
    uint32_t exports_id;
    uint16_t exports_count;
    const uint8_t *code;
    uint32_t code_size;
    const uint8_t *data;
    uint32_t data_size;
    uint32_t bss_size;
    uint32_t code_vaddr;
    uint32_t data_vaddr;
    const uint32_t *fixups;
    uint32_t fixup_count;
    const ib_import_t *imports;
    uint32_t import_count;
    uint32_t import_slots_vaddr;
    const ib_export_t *exports;
    uint32_t export_count;
    uint32_t init_array_vaddr; /* static constructors: init_count words in the data */
    uint32_t init_count;
    uint32_t fini_array_vaddr; /* static destructors */
    uint32_t fini_count;
} ib_spec_t;

/* File offsets of each part, computed from a header. */
typedef struct {
    size_t code, data, fixups, imports, exports, strtab, hash, size;
} ib_layout_t;

/* A new malloc'd image (free with free()); *size gets its length. NULL if out of memory. */
uint8_t *ib_build(const ib_spec_t *spec, size_t *size);

void ib_read_header(const uint8_t *image, dynapps_image_header_t *h);
void ib_write_header(uint8_t *image, const dynapps_image_header_t *h);
ib_layout_t ib_layout(const uint8_t *image);

/* Rename the image to `name` (its slot's label, as the build names it) and rehash it. */
void ib_set_name(uint8_t *image, const char *name);

/* Recompute the trailing SHA-256 over image[0, size - 32), as image.py would. */
void ib_rehash(uint8_t *image, size_t size);

uint32_t ib_get32(const uint8_t *p);
void ib_put32(uint8_t *p, uint32_t v);
