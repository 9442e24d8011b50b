/*
 * Import binding (src/dynapps_place.c, rules in src/dynapps_verify.c): unresolved imports,
 * and a failed binding giving back what the load took.
 */
#include "loader_tests.h"

void test_unresolved_import(void)
{
    TABLE_EXPECT(t_import_index_past, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    TABLE_EXPECT(t_import_index_huge, DYNAPPS_ERR_UNRESOLVED_IMPORT);
    TABLE_EXPECT(t_import_wrong_name, DYNAPPS_ERR_UNRESOLVED_IMPORT);
}

/* An XIP image whose imports fail after the slot was mapped and the data copied: the mapping
 * is given back. */
void test_xip_import_failure_unmaps(void)
{
    xip_app_t a;
    xip_app(&a, XIP_SLOT_VADDR, arena_addr(ARENA_AT));
    a.imports[1].firmware_index = 1; /* "fw_unused" -> the firmware's "fw_add" */
    size_t size;
    uint8_t *image = ib_build(&a.spec, &size);
    add_app_slot("x", image, (uint32_t)size);
    host_port_allow_xip(XIP_SLOT_VADDR);
    EXPECT_SLOT("x", DYNAPPS_ERR_UNRESOLVED_IMPORT);
    CHECK(host.xip_vaddr == XIP_SLOT_VADDR && host.maps_live == 0 && calls.init_calls == 0);
    free(image);
}
