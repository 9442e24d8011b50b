"""RISC-V relocation types (ELF psABI numbers) and what each means for the strategies: XIP images
are linked at their final addresses, copied ones (iram, psram) are moved by one bias."""

from __future__ import annotations

NAMES = {
    0: "R_RISCV_NONE", 1: "R_RISCV_32", 2: "R_RISCV_64", 3: "R_RISCV_RELATIVE", 4: "R_RISCV_COPY",
    5: "R_RISCV_JUMP_SLOT", 6: "R_RISCV_TLS_DTPMOD32", 7: "R_RISCV_TLS_DTPMOD64",
    8: "R_RISCV_TLS_DTPREL32", 9: "R_RISCV_TLS_DTPREL64", 10: "R_RISCV_TLS_TPREL32",
    11: "R_RISCV_TLS_TPREL64", 16: "R_RISCV_BRANCH", 17: "R_RISCV_JAL", 18: "R_RISCV_CALL",
    19: "R_RISCV_CALL_PLT", 20: "R_RISCV_GOT_HI20", 21: "R_RISCV_TLS_GOT_HI20",
    22: "R_RISCV_TLS_GD_HI20", 23: "R_RISCV_PCREL_HI20", 24: "R_RISCV_PCREL_LO12_I",
    25: "R_RISCV_PCREL_LO12_S", 26: "R_RISCV_HI20", 27: "R_RISCV_LO12_I", 28: "R_RISCV_LO12_S",
    29: "R_RISCV_TPREL_HI20", 30: "R_RISCV_TPREL_LO12_I", 31: "R_RISCV_TPREL_LO12_S",
    32: "R_RISCV_TPREL_ADD", 33: "R_RISCV_ADD8", 34: "R_RISCV_ADD16", 35: "R_RISCV_ADD32",
    36: "R_RISCV_ADD64", 37: "R_RISCV_SUB8", 38: "R_RISCV_SUB16", 39: "R_RISCV_SUB32",
    40: "R_RISCV_SUB64", 41: "R_RISCV_GNU_VTINHERIT", 42: "R_RISCV_GNU_VTENTRY", 43: "R_RISCV_ALIGN",
    44: "R_RISCV_RVC_BRANCH", 45: "R_RISCV_RVC_JUMP", 46: "R_RISCV_RVC_LUI", 47: "R_RISCV_GPREL_I",
    48: "R_RISCV_GPREL_S", 49: "R_RISCV_TPREL_I", 50: "R_RISCV_TPREL_S", 51: "R_RISCV_RELAX",
    52: "R_RISCV_SUB6", 53: "R_RISCV_SET6", 54: "R_RISCV_SET8", 55: "R_RISCV_SET16",
    56: "R_RISCV_SET32", 57: "R_RISCV_32_PCREL", 58: "R_RISCV_IRELATIVE",
}

ABSOLUTE_WORD = 1  # R_RISCV_32: an IRAM fix-up "add the load bias"

# Resolved by the linker once and for all: PC-relative or a difference of two labels, both of
# which move together when the blob moves.
FIXED_DISTANCE = {0, 16, 17, 18, 19, 23, 24, 25, 33, 34, 35, 36, 37, 38, 39, 40, 43, 44, 45, 51,
                  52, 53, 54, 55, 56, 57}

# Absolute addresses encoded in instructions: correct for XIP (linked at final addresses),
# would need code patching in an IRAM blob.
ABSOLUTE_IN_CODE = {26, 27, 28, 46}


def name(kind: int) -> str:
    return NAMES.get(kind, f"relocation type {kind}")


def problem(kind: int, strategy: str) -> str | None:
    """Why `kind` can't go into an image of `strategy`, or None if it can."""
    if kind in FIXED_DISTANCE or kind == ABSOLUTE_WORD:
        return None
    if kind in ABSOLUTE_IN_CODE:
        if strategy == "xip":
            return None
        return "an absolute address inside an instruction, which a copied (IRAM or PSRAM) blob can't fix at load (compile with -mcmodel=medany)"
    if kind in (47, 48):
        return "gp-relative addressing: gp belongs to the firmware (compile with -mno-relax, link with --no-relax)"
    if kind in (20, 21, 22, 3, 5, 58):
        return "a GOT/PLT/dynamic relocation: apps are not linked as PIC (drop -fPIC)"
    if kind in (6, 7, 8, 9, 10, 11, 29, 30, 31, 32, 49, 50):
        return "thread-local storage, which apps can't use"
    return "a relocation the dynapps image format can't express"
