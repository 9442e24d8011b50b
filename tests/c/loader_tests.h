/*
 * The loader core's host tests, in the order test_main.c runs them; each is defined in the
 * topic file of the stage it tests (test_verify.c, test_place.c, test_bind.c,
 * test_lifecycle.c, test_sha256.c).
 */
#pragma once

#include "loader_fixtures.h"

#define LOADER_TESTS(X) \
    X(test_sha256_fips_vectors) \
    X(test_sha256_boundaries_and_chunks) \
    X(test_err_names) \
    X(test_iram_load_from_slot_with_alias) \
    X(test_iram_load_from_unaligned_buffer_no_alias) \
    X(test_iram_twice_from_buffer) \
    X(test_iram_minimal) \
    X(test_psram_load) \
    X(test_xip_load) \
    X(test_xip_arena_overlap) \
    X(test_xip_outside_arena) \
    X(test_xip_window_unavailable) \
    X(test_xip_from_buffer_unsupported) \
    X(test_already_loaded_and_not_found) \
    X(test_invalid_arguments) \
    X(test_truncated) \
    X(test_bad_magic_and_version) \
    X(test_bad_header) \
    X(test_bad_header_xip) \
    X(test_alias_mismatch) \
    X(test_wrong_chip) \
    X(test_hash_mismatch) \
    X(test_every_byte_flip) \
    X(test_every_byte_flip_xip) \
    X(test_firmware_mismatch) \
    X(test_export_table_prefix) \
    X(test_signed_image_loads) \
    X(test_tampered_signed_image_is_refused) \
    X(test_fixup_bounds) \
    X(test_bad_tables) \
    X(test_unresolved_import) \
    X(test_out_of_memory) \
    X(test_exec_ram_unavailable) \
    X(test_init_failed) \
    X(test_wrapper_calls) \
    X(test_fixups_word_path_and_unaligned_buffers) \
    X(test_fixup_bounds_word_path) \
    X(test_no_memory_before_hashing) \
    X(test_bookkeeping_is_one_small_record) \
    X(test_already_loaded_by_slot_id) \
    X(test_table_error_order) \
    X(test_xip_import_failure_unmaps) \
    X(test_call_counter_saturates) \
    X(test_xip_data_plus_bss_wraps) \
    X(test_image_from_another_slot) \
    X(test_xip_image_linked_elsewhere) \
    X(test_identity_error_order) \
    X(test_refusal_names_its_rule) \
    X(test_call_arrays_iram) \
    X(test_call_arrays_psram) \
    X(test_call_arrays_xip) \
    X(test_call_arrays_after_failed_init) \
    X(test_call_arrays_bad_range) \
    X(test_call_array_entry_outside_code) \

#define LOADER_TEST_DECLARATION(name) void name(void);
LOADER_TESTS(LOADER_TEST_DECLARATION)
#undef LOADER_TEST_DECLARATION
