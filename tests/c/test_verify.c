/*
 * Verification (src/dynapps_verify.c): header, identity and content checks; each refusal
 * with its error code and, through the trace (DYNAPPS_TRACE), the rule that fired.
 */
#include "loader_tests.h"

/* ---- verification failures ---------------------------------------------------------------- */

void test_truncated(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    for (size_t n = 0; n < size; n++) {
        uint8_t *c = copy_of(image, n, 0); /* exactly n bytes: ASan checks no read beyond */
        EXPECT_BUFFER(c, n, DYNAPPS_ERR_TRUNCATED);
        free(c);
    }
    add_app_slot("short", image, (uint32_t)size - 4); /* partition smaller than image */
    EXPECT_SLOT("short", DYNAPPS_ERR_TRUNCATED);
    free(image);
}

void test_bad_magic_and_version(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    uint8_t *c = copy_of(image, size, 0);
    c[0] ^= 0x01;
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_BAD_MAGIC);
    c[4] = 1; /* and a bad version (the previous one) too: magic is checked first */
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_BAD_MAGIC);
    c[0] ^= 0x01;
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_UNSUPPORTED_VERSION);
    c[4] = 0;
    EXPECT_BUFFER(c, size, DYNAPPS_ERR_UNSUPPORTED_VERSION);
    free(c);
    free(image);
}

void test_bad_header(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    static const header_edit_t edits[] = {
        e_header_size_small, e_header_size_big, e_strategy_0,     e_strategy_4,
        e_reserved,          e_code_size_odd,  e_code_size_more,
        e_data_size_odd,     e_strtab_odd,      e_image_size_more, e_image_size_less,
        e_fixups_more,       e_align_low,       e_align_high,     e_bss_huge,
        e_data_wraps,        e_code_wraps,      e_fixups_wrap,    e_imports_wrap,
        e_exports_wrap,      e_wrong_chip_bad_header, e_ram_wraps,
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        EXPECT_HEADER_EDIT(image, size, edits[i], DYNAPPS_ERR_BAD_HEADER);
    }
    CHECK(host.alloc_calls == 0 && host.sha_calls == 0); /* refused before allocating or hashing */
    EXPECT_HEADER_EDIT(image, size, e_unknown_flag, DYNAPPS_OK);
    free(image);
}

/* Data linked where the shared bias would not put it: found once the port has said what its
 * alias offset is, so exec RAM has been allocated by then and must be given back. */
void test_alias_mismatch(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    EXPECT_HEADER_EDIT(image, size, e_alias, DYNAPPS_ERR_BAD_HEADER);
    CHECK(host.exec_align == 4 && host.alloc_calls == 2);
    CHECK(host.sha_calls == 0); /* the alias is a header check: no hashing for it */
    EXPECT_HEADER_EDIT(image, size, e_data_moved, DYNAPPS_ERR_BAD_HEADER);
    host.i_d_offset = 0; /* an image linked for the esp32c3 alias on a one-address chip */
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_BAD_HEADER);
    CHECK(calls.init_calls == 0);
    free(image);
}

void test_bad_header_xip(void)
{
    xip_app_t a;
    xip_app(&a, XIP_SLOT_VADDR, arena_addr(ARENA_AT));
    uint32_t fixup = 0;
    a.spec.fixups = &fixup; /* an XIP image is linked at final addresses: no fix-ups */
    a.spec.fixup_count = 1;
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    add_app_slot("x", image, (uint32_t)size);
    EXPECT_SLOT("x", DYNAPPS_ERR_BAD_HEADER);
    free(image);

    image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    EXPECT_HEADER_EDIT(image, size, e_xip_code_low, DYNAPPS_ERR_BAD_HEADER);
    EXPECT_HEADER_EDIT(image, size, e_xip_segments_wrap, DYNAPPS_ERR_BAD_HEADER);
    CHECK(host.alloc_calls == 0);
    free(image);
}

void test_wrong_chip(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    EXPECT_HEADER_EDIT(image, size, e_wrong_chip, DYNAPPS_ERR_WRONG_CHIP);
    EXPECT_HEADER_EDIT(image, size, e_fpu, DYNAPPS_ERR_WRONG_CHIP);
    /* wrong chip is reported before truncation */
    uint8_t *c = copy_of(image, size, 0);
    dynapps_image_header_t h;
    ib_read_header(c, &h);
    e_wrong_chip_truncated(&h);
    ib_write_header(c, &h);
    EXPECT_BUFFER(c, size - 1, DYNAPPS_ERR_WRONG_CHIP);
    free(c);
    free(image);
}

#define FLIP_EXPECT(image, size, at, want) flip_expect_at((image), (size), (at), (want), __FILE__, __LINE__)

void test_hash_mismatch(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_layout_t l = ib_layout(image);
    FLIP_EXPECT(image, size, offsetof(dynapps_image_header_t, exports_id), DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, offsetof(dynapps_image_header_t, import_slots_vaddr) + 1,
                DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.code + 5, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.data + 9, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.fixups + 4, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.imports + 4, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.exports + 4, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.strtab + 1, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, l.hash, DYNAPPS_ERR_HASH_MISMATCH);
    FLIP_EXPECT(image, size, size - 1, DYNAPPS_ERR_HASH_MISMATCH);
    free(image);
}

/* Every single-byte corruption is refused; past the header it is always the hash that says so. */
void test_every_byte_flip(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    for (size_t at = 0; at < size; at++) {
        for (int bit = 0; bit < 8; bit += 7) {
            uint8_t *c = copy_of(image, size, 0);
            c[at] ^= (uint8_t)(1u << bit);
            dynapps_app_t *app = NULL;
            dynapps_err_t err = dynapps_load_from_buffer(c, size, &app);
            if (at >= DYNAPPS_IMAGE_HEADER_SIZE) {
                CHECK_ERR(err, DYNAPPS_ERR_HASH_MISMATCH);
            } else if (err == DYNAPPS_OK) {
                fprintf(stderr, "  header byte %zu bit %d: corrupted image loaded\n", at, bit);
                failures++;
                dynapps_unload(app);
            }
            CHECK_CLEAN();
            free(c);
        }
    }
    CHECK(calls.init_calls == 0);
    free(image);
}

/* The same through an XIP slot: nothing mapped or written to the arena on failure. */
void test_every_byte_flip_xip(void)
{
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    uint8_t *slot = copy_of(image, size, 0);
    add_app_slot("x", slot, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    for (size_t at = 0; at < size; at++) {
        slot[at] ^= 0x10;
        dynapps_app_t *app = NULL;
        dynapps_err_t err = dynapps_load("x", &app);
        CHECK(err != DYNAPPS_OK);
        if (err == DYNAPPS_OK) {
            dynapps_unload(app);
        }
        CHECK_CLEAN();
        slot[at] ^= 0x10;
    }
    CHECK(all_bytes(host.arena, host.arena_size, 0xA5));
    EXPECT_SLOT("x", DYNAPPS_OK);
    free(slot);
    free(image);
}

void test_firmware_mismatch(void)
{
    size_t size;
    uint8_t *image = iram_image(&size);
    EXPECT_HEADER_EDIT(image, size, e_firmware_id, DYNAPPS_ERR_FIRMWARE_MISMATCH);
    free(image);
}

static void set_prefix(dynapps_image_header_t *h, uint16_t count, uint32_t id)
{
    h->exports_count = count;
    h->exports_id = id;
}
static void e_prefix_2(dynapps_image_header_t *h) { set_prefix(h, 2, FW_PREFIX_2_ID); }
static void e_prefix_2_wrong_id(dynapps_image_header_t *h) { set_prefix(h, 2, FW_PREFIX_1_ID); }
static void e_prefix_longer_than_table(dynapps_image_header_t *h) { set_prefix(h, 4, FW_ID); }
static void e_prefix_1_too_short(dynapps_image_header_t *h) { set_prefix(h, 1, FW_PREFIX_1_ID); }
static void e_prefix_empty_with_id(dynapps_image_header_t *h) { set_prefix(h, 0, FW_ID); }

/* An image names the prefix of the export table it needs (issue 11 item 5): a firmware whose
 * table starts with it loads the image; a prefix this table does not start with (another id, or
 * longer than the table) is refused; an import beyond the named prefix does not resolve. */
void test_export_table_prefix(void)
{
    size_t size;
    uint8_t *image = iram_image(&size); /* imports fw_add (1) and fw_puts (0): needs 2 entries */
    EXPECT_HEADER_EDIT(image, size, e_prefix_2, DYNAPPS_OK);
    EXPECT_HEADER_EDIT(image, size, e_prefix_2_wrong_id, DYNAPPS_ERR_FIRMWARE_MISMATCH);
    EXPECT_HEADER_EDIT(image, size, e_prefix_longer_than_table, DYNAPPS_ERR_FIRMWARE_MISMATCH);
    EXPECT_HEADER_EDIT(image, size, e_prefix_empty_with_id, DYNAPPS_ERR_FIRMWARE_MISMATCH);
    EXPECT_HEADER_EDIT(image, size, e_prefix_1_too_short, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    free(image);
}

#define FIXUP_EXPECT(offset, want) fixup_expect_at((offset), (want), __FILE__, __LINE__)

void test_fixup_bounds(void)
{
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* just past data */
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE + 4, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* in bss */
    FIXUP_EXPECT(CODE_SIZE, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);      /* in the padding */
    FIXUP_EXPECT(CODE_SPAN - 4, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);  /* in the padding */
    FIXUP_EXPECT(2, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);              /* misaligned */
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE - 3, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    FIXUP_EXPECT(0xFFFFFFFCu, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);    /* offset + 4 wraps */
    FIXUP_EXPECT(CODE_SIZE - 4, DYNAPPS_OK);                       /* last code word */
    FIXUP_EXPECT(CODE_SPAN + DATA_SIZE - 4, DYNAPPS_OK);           /* last data word */
}

void test_bad_tables(void)
{
    TABLE_EXPECT(t_slots_past_data, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_slots_before_data, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_slots_misaligned, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_slots_last_words, DYNAPPS_OK);
    TABLE_EXPECT(t_import_name_past, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_import_name_huge, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_import_name_empty, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_name_unterminated, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_past_code, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_before_code, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_in_padding, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_in_data, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_unknown_flag, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_two_inits, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_init_deinit, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_export_name_past, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_unresolved_and_bad_export, DYNAPPS_ERR_BAD_TABLE); /* tables before binding */
}

void test_table_error_order(void)
{
    TABLE_EXPECT(t_bad_fixup, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_table, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_slots, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_import, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_fixup_and_name, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    TABLE_EXPECT(t_unresolved_then_bad_name, DYNAPPS_ERR_BAD_TABLE);
    TABLE_EXPECT(t_strtab_tail_junk, DYNAPPS_OK);
    CHECK(calls.init_calls == 1); /* only the good one ran */

    /* the same from a misaligned buffer, where binding always takes the checked path */
    size_t size;
    uint8_t *image = iram_image(&size);
    ib_layout_t l = ib_layout(image);
    t_unresolved_then_bad_name(image, &l);
    ib_rehash(image, size);
    uint8_t *block;
    uint8_t *buffer = at_offset(image, size, 1, &block);
    EXPECT_BUFFER(buffer, size, DYNAPPS_ERR_BAD_TABLE);
    free(block);
    free(image);
    image = iram_image(&size);
    t_import_wrong_name(image, &l);
    ib_rehash(image, size);
    buffer = at_offset(image, size, 3, &block);
    EXPECT_BUFFER(buffer, size, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    free(block);
    free(image);

    TABLE_EXPECT(t_slots_misaligned_in_data, DYNAPPS_ERR_BAD_TABLE);
}

/* ---- runner ------------------------------------------------------------------------------- */

/* ---- header arithmetic ------------------------------------------------------------------ */

/* data_size + bss_size of exactly 2^32 at data_vaddr 0: the range fits the address space, but a
 * 32-bit sum of the two is 0, which once skipped the arena check and bound the import slots at
 * address 8. Refused before anything is written. */
void test_xip_data_plus_bss_wraps(void)
{
    xip_app_t a;
    xip_app(&a, XIP_SLOT_VADDR, 0);
    a.spec.bss_size = 0u - XIP_DATA_SIZE;
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("wrap", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("wrap", DYNAPPS_ERR_ADDRESS_UNAVAILABLE);
    CHECK(host.maps_live == 0 && host.sha_calls == 0 && calls.init_calls == 0);
    CHECK(all_bytes(host.arena, host.arena_size, 0xA5)); /* nothing written into the arena */
    free(image);
}

/* ---- app identity ------------------------------------------------------------------------ */

/* Apps alpha and beta, each built for its own slot, written into each other's slots (flash-apps
 * keyed by name, or a partition table that moved): each is refused, before anything is
 * allocated, hashed or run. A label of 16 characters (no NUL) is compared in full. */
void test_image_from_another_slot(void)
{
    size_t sa, sb;
    uint8_t *alpha = iram_image(&sa), *beta = iram_image(&sb);
    ib_set_name(alpha, "alpha");
    ib_set_name(beta, "beta");
    host_port_add_slot("alpha", beta, (uint32_t)sb);
    host_port_add_slot("beta", alpha, (uint32_t)sa);
    EXPECT_SLOT("alpha", DYNAPPS_ERR_WRONG_SLOT);
    EXPECT_SLOT("beta", DYNAPPS_ERR_WRONG_SLOT);
    CHECK(host.alloc_calls == 0 && host.sha_calls == 0 && calls.init_calls == 0);
    host.slots[0].bytes = alpha;
    EXPECT_SLOT("alpha", DYNAPPS_OK);
    /* a prefix of the label is not the label, nor is the label a prefix of the name */
    ib_set_name(alpha, "alph");
    EXPECT_SLOT("alpha", DYNAPPS_ERR_WRONG_SLOT);
    ib_set_name(alpha, "alphabet");
    EXPECT_SLOT("alpha", DYNAPPS_ERR_WRONG_SLOT);
    ib_set_name(alpha, "exactly16chars__");
    host.slots[0].name = "exactly16chars__";
    EXPECT_SLOT("exactly16chars__", DYNAPPS_OK);
    host.slots[0].name = "exactly16chars_x";
    EXPECT_SLOT("exactly16chars_x", DYNAPPS_ERR_WRONG_SLOT);
    /* a buffer has no slot: its name is not checked */
    EXPECT_BUFFER(beta, sb, DYNAPPS_OK);
    free(alpha);
    free(beta);
}

/* An XIP image linked for another slot's window, or one MMU page off, is refused before the
 * port is asked to map anything; so is any XIP image from a slot the port can't map for
 * execution (xip_vaddr 0). The slot's name is right each time: only the address is wrong. */
void test_xip_image_linked_elsewhere(void)
{
    static const uint32_t linked_for[] = {0x42020000u, XIP_SLOT_VADDR + 0x10000u,
                                          XIP_SLOT_VADDR - 0x10000u, XIP_SLOT_VADDR + 4u};
    for (size_t i = 0; i < sizeof linked_for / sizeof linked_for[0]; i++) {
        size_t size;
        uint8_t *image = xip_image(linked_for[i], arena_addr(ARENA_AT), &size);
        ib_set_name(image, "fir");
        host.slot_count = 0;
        host_port_add_slot("fir", image, (uint32_t)size)->xip_vaddr = XIP_SLOT_VADDR;
        host_port_allow_xip(linked_for[i]); /* the port could map there: the core must not ask */
        host.xip_vaddr = 0;
        EXPECT_SLOT("fir", DYNAPPS_ERR_WRONG_ADDRESS);
        CHECK(host.xip_vaddr == 0 && host.sha_calls == 0 && host.alloc_calls == 0);
        CHECK(all_bytes(host.arena, host.arena_size, 0xA5) && calls.init_calls == 0);
        free(image);
    }
    size_t size;
    uint8_t *image = xip_image(XIP_SLOT_VADDR, arena_addr(ARENA_AT), &size);
    ib_set_name(image, "fir");
    host.slot_count = 0;
    host_slot_t *slot = host_port_add_slot("fir", image, (uint32_t)size);
    slot->xip_vaddr = 0;
    EXPECT_SLOT("fir", DYNAPPS_ERR_WRONG_ADDRESS);
    slot->xip_vaddr = XIP_SLOT_VADDR;
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("fir", DYNAPPS_OK);
    CHECK(host.xip_vaddr == XIP_SLOT_VADDR);
    free(image);
}

/* The name is checked first: another app's XIP image in a slot is WRONG_SLOT whatever its
 * address; v1 images (no name) are refused as an unsupported version. */
void test_identity_error_order(void)
{
    size_t size;
    uint8_t *image = xip_image(0x42020000u, arena_addr(ARENA_AT), &size);
    ib_set_name(image, "stats");
    host_port_add_slot("fir", image, (uint32_t)size)->xip_vaddr = XIP_SLOT_VADDR;
    EXPECT_SLOT("fir", DYNAPPS_ERR_WRONG_SLOT);
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    h.format_version = 1;
    ib_write_header(image, &h);
    ib_rehash(image, size);
    EXPECT_SLOT("fir", DYNAPPS_ERR_UNSUPPORTED_VERSION);
    free(image);
}

/* ---- the refusal trace: which rule refused an image ---------------------------------------- */

static void check_rule_at(const char *want, const char *file, int line)
{
    if (strcmp(last_refusal(), want) != 0) {
        fprintf(stderr, "  %s:%d: refused by \"%s\", want \"%s\"\n", file, line, last_refusal(), want);
        failures++;
    }
    memset(&refusals, 0, sizeof refusals);
}

#define CHECK_RULE(want) check_rule_at((want), __FILE__, __LINE__)

/* Each BAD_HEADER cause names its own rule, and so do the other refusals: what a user (or a
 * test) learns beyond the error code. */
void test_refusal_names_its_rule(void)
{
    static const struct {
        header_edit_t edit;
        dynapps_err_t err;
        const char *rule;
    } header_cases[] = {
        {e_header_size_small, DYNAPPS_ERR_BAD_HEADER, "header.header_size"},
        {e_reserved, DYNAPPS_ERR_BAD_HEADER, "header.reserved"},
        {e_code_size_odd, DYNAPPS_ERR_BAD_HEADER, "header.size_alignment"},
        {e_image_size_more, DYNAPPS_ERR_BAD_HEADER, "header.size_sum"},
        {e_fixups_wrap, DYNAPPS_ERR_BAD_HEADER, "header.size_sum"},
        {e_strategy_4, DYNAPPS_ERR_BAD_HEADER, "header.strategy"},
        {e_align_high, DYNAPPS_ERR_BAD_HEADER, "header.align_log2"},
        {e_bss_huge, DYNAPPS_ERR_BAD_HEADER, "header.iram_size"},
        {e_code_wraps, DYNAPPS_ERR_BAD_HEADER, "header.address_wraps"},
        {e_wrong_chip, DYNAPPS_ERR_WRONG_CHIP, "header.chip"},
        {e_firmware_id, DYNAPPS_ERR_FIRMWARE_MISMATCH, "contents.exports_prefix"},
    };
    size_t size;
    uint8_t *image = iram_image(&size);
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
        EXPECT_HEADER_EDIT(image, size, header_cases[i].edit, header_cases[i].err);
        CHECK_RULE(header_cases[i].rule);
    }
    free(image);

    TABLE_EXPECT(t_export_past_code, DYNAPPS_ERR_BAD_TABLE);
    CHECK_RULE("exports.vaddr");
    TABLE_EXPECT(t_export_two_inits, DYNAPPS_ERR_BAD_TABLE);
    CHECK_RULE("exports.flags");
    TABLE_EXPECT(t_slots_past_data, DYNAPPS_ERR_BAD_TABLE);
    CHECK_RULE("imports.slots");
    TABLE_EXPECT(t_import_name_empty, DYNAPPS_ERR_BAD_TABLE);
    CHECK_RULE("imports.name");
    TABLE_EXPECT(t_import_wrong_name, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    CHECK_RULE("imports.unresolved");
    TABLE_EXPECT(t_fixup_and_table, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS);
    CHECK_RULE("fixup.bounds");
    FIXUP_EXPECT(CODE_SIZE, DYNAPPS_ERR_FIXUP_OUT_OF_BOUNDS); /* in the padding */
    CHECK_RULE("fixup.bounds");
    image = iram_image(&size);
    image[DYNAPPS_IMAGE_HEADER_SIZE] ^= 1u; /* a code byte */
    EXPECT_BUFFER(image, size, DYNAPPS_ERR_HASH_MISMATCH);
    free(image);
    CHECK_RULE("contents.hash");
}
