/* Shared by the emulator's test programs (tests/test_emu_*.py builds them with emu_support.build):
 * the platform's device header and two RV32 instructions a program writes as code. */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "dynapps_emu.h"

typedef int (*int_fn)(void);

#define RV_LI_A0(value) (0x00000513u | ((uint32_t)(value) << 20)) /* li a0, value (12-bit) */
#define RV_RET 0x00008067u                                        /* ret */

#ifdef DRAM_BUF
#define IRAM_BUF (DRAM_BUF + DYNAPPS_EMU_I_D_OFFSET)

/* Writes `li a0, value; ret` through the DRAM alias at DRAM_BUF (-D, a free DRAM address),
 * reports it as fresh code and calls it at its IRAM alias. */
static inline int write_code_and_call(int value) {
    volatile uint32_t *dram = (volatile uint32_t *)DRAM_BUF;
    dram[0] = RV_LI_A0(value);
    dram[1] = RV_RET;
    dynapps_emu_sync_code(IRAM_BUF, 8);
    return ((int_fn)IRAM_BUF)();
}
#endif
