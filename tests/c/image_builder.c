/* Test image builder (see image_builder.h). Hashes with the core's own SHA-256, which the tests
 * check separately against the FIPS 180-4 vectors. */
#include "image_builder.h"

#include <stdlib.h>
#include <string.h>

#include "dynapps_sha256.h"

uint32_t ib_get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

void ib_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }

void ib_read_header(const uint8_t *image, dynapps_image_header_t *h) { memcpy(h, image, sizeof *h); }

void ib_write_header(uint8_t *image, const dynapps_image_header_t *h) { memcpy(image, h, sizeof *h); }

ib_layout_t ib_layout(const uint8_t *image)
{
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    ib_layout_t l;
    l.code = DYNAPPS_IMAGE_HEADER_SIZE;
    l.data = l.code + h.code_size;
    l.fixups = l.data + h.data_size;
    l.imports = l.fixups + 4u * (size_t)h.fixup_count;
    l.exports = l.imports + 8u * (size_t)h.import_count;
    l.strtab = l.exports + 12u * (size_t)h.export_count;
    l.hash = l.strtab + h.strtab_size;
    l.size = l.hash + DYNAPPS_IMAGE_HASH_SIZE;
    return l;
}

void ib_rehash(uint8_t *image, size_t size)
{
    dynapps_sha256(image, size - DYNAPPS_IMAGE_HASH_SIZE, image + size - DYNAPPS_IMAGE_HASH_SIZE);
}

void ib_set_name(uint8_t *image, const char *name)
{
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    memset(h.name, 0, sizeof h.name);
    strncpy(h.name, name, sizeof h.name);
    ib_write_header(image, &h);
    ib_rehash(image, h.image_size);
}

static size_t strtab_size(const ib_spec_t *s)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->import_count; i++) {
        n += strlen(s->imports[i].name) + 1;
    }
    for (uint32_t i = 0; i < s->export_count; i++) {
        n += strlen(s->exports[i].name) + 1;
    }
    return (n + 3u) & ~(size_t)3u;
}

/* Append a name to the string table; returns its offset. */
static uint32_t add_name(uint8_t *strtab, size_t *used, const char *name)
{
    size_t len = strlen(name) + 1;
    uint32_t offset = (uint32_t)*used;
    memcpy(strtab + *used, name, len);
    *used += len;
    return offset;
}

static void write_tables(const ib_spec_t *s, uint8_t *image, const ib_layout_t *l)
{
    size_t used = 0;
    uint8_t *strtab = image + l->strtab;
    for (uint32_t i = 0; i < s->fixup_count; i++) {
        ib_put32(image + l->fixups + 4u * i, s->fixups[i]);
    }
    for (uint32_t i = 0; i < s->import_count; i++) {
        dynapps_image_import_t imp = {add_name(strtab, &used, s->imports[i].name),
                                      s->imports[i].firmware_index};
        memcpy(image + l->imports + sizeof imp * i, &imp, sizeof imp);
    }
    for (uint32_t i = 0; i < s->export_count; i++) {
        dynapps_image_export_t exp = {add_name(strtab, &used, s->exports[i].name),
                                      s->exports[i].vaddr, s->exports[i].flags};
        memcpy(image + l->exports + sizeof exp * i, &exp, sizeof exp);
    }
}

static dynapps_image_header_t make_header(const ib_spec_t *s, size_t size)
{
    dynapps_image_header_t h;
    memset(&h, 0, sizeof h);
    h.magic = DYNAPPS_IMAGE_MAGIC;
    h.format_version = DYNAPPS_IMAGE_FORMAT_VERSION;
    h.header_size = DYNAPPS_IMAGE_HEADER_SIZE;
    h.chip_id = s->chip_id;
    h.strategy = s->strategy;
    h.align_log2 = s->align_log2;
    h.image_size = (uint32_t)size;
    h.code_size = s->code_size;
    h.data_size = s->data_size;
    h.bss_size = s->bss_size;
    h.code_vaddr = s->code_vaddr;
    h.data_vaddr = s->data_vaddr;
    h.fixup_count = s->fixup_count;
    h.import_count = s->import_count;
    h.import_slots_vaddr = s->import_slots_vaddr;
    h.export_count = s->export_count;
    h.strtab_size = (uint32_t)strtab_size(s);
    h.exports_id = s->exports_id;
    h.exports_count = s->exports_count;
    h.flags = s->flags;
    if (s->name != NULL) {
        strncpy(h.name, s->name, sizeof h.name); /* NUL-padded; no NUL at 16 characters */
    }
    h.version_major = s->version[0];
    h.version_minor = s->version[1];
    h.version_patch = s->version[2];
    h.init_array_vaddr = s->init_array_vaddr;
    h.init_count = s->init_count;
    h.fini_array_vaddr = s->fini_array_vaddr;
    h.fini_count = s->fini_count;
    return h;
}

uint8_t *ib_build(const ib_spec_t *s, size_t *size)
{
    size_t total = DYNAPPS_IMAGE_HEADER_SIZE + s->code_size + s->data_size + 4u * s->fixup_count +
                   8u * s->import_count + 12u * s->export_count + strtab_size(s) +
                   DYNAPPS_IMAGE_HASH_SIZE;
    uint8_t *image = calloc(1, total);
    if (image == NULL) {
        return NULL;
    }
    dynapps_image_header_t h = make_header(s, total);
    ib_write_header(image, &h);
    ib_layout_t l = ib_layout(image);
    if (s->code_size != 0) {
        memcpy(image + l.code, s->code, s->code_size);
    }
    if (s->data_size != 0) {
        memcpy(image + l.data, s->data, s->data_size);
    }
    write_tables(s, image, &l);
    ib_rehash(image, total);
    *size = total;
    return image;
}
