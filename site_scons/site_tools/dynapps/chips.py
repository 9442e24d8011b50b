"""Chip profiles: every per-chip fact in one table.

Addresses and sizes come from ESP-IDF's own headers (v5.x/v6.x), cited per field:
  soc/<chip>/include/soc/soc.h            SOC_IROM_LOW/HIGH, SOC_DROM_LOW/HIGH, SOC_IRAM_LOW/HIGH,
                                          SOC_DRAM_LOW/HIGH, SOC_I_D_OFFSET
  soc/<chip>/include/soc/ext_mem_defs.h   MMU page size
  bootloader_support/include/esp_app_format.h   esp_chip_id_t
The rest of the build reads these through `profile(name)`; no other module branches on a chip name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MemoryRegion:
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start

    def contains(self, address: int, size: int = 1) -> bool:
        return self.start <= address and address + size <= self.end


@dataclass(frozen=True)
class ChipProfile:
    name: str
    chip_id: int  # esp_chip_id_t
    march: str  # as ESP-IDF's riscv32-esp-elf-gcc takes it
    mabi: str
    has_fpu: bool
    flash_ibus: MemoryRegion  # instruction-bus window onto memory-mapped flash
    flash_dbus: MemoryRegion  # data-bus window onto memory-mapped flash
    mmu_page_size: int
    iram: MemoryRegion  # internal SRAM as seen by instruction fetch
    dram: MemoryRegion  # the same SRAM as seen by data accesses
    i_d_offset: int  # iram address - dram address of one byte (0 = one address for both)
    iram_byte_access: bool  # False: IRAM alias takes 32-bit accesses only
    cache_sync_after_copy: bool  # code copied into RAM must be written back / invalidated
    emulator: "EmulatorProfile" = field(compare=False)

    @property
    def unified_flash_window(self) -> bool:
        return self.flash_ibus == self.flash_dbus


@dataclass(frozen=True)
class EmulatorProfile:
    """Where the emulator firmware puts its own pieces inside the chip's real memory map."""

    uart: int  # MMIO base of the emulator's UART / control block
    firmware_ram: MemoryRegion  # firmware data, bss, stack
    heap: MemoryRegion  # heap the emulator port allocates from (exec RAM and bookkeeping)
    data_arena: MemoryRegion  # XIP apps' data + bss (fixed addresses)


# Values filled in below are checked against the ESP-IDF headers named in the module docstring.
PROFILES: dict[str, ChipProfile] = {}


def _add(profile: ChipProfile) -> None:
    PROFILES[profile.name] = profile


def profile(name: str) -> ChipProfile:
    return PROFILES[name]


def names() -> list[str]:
    return sorted(PROFILES)


_add(
    ChipProfile(
        name="esp32c3",
        chip_id=0x0005,
        march="rv32imc_zicsr_zifencei",
        mabi="ilp32",
        has_fpu=False,
        flash_ibus=MemoryRegion(0x42000000, 0x42800000),
        flash_dbus=MemoryRegion(0x3C000000, 0x3C800000),
        mmu_page_size=0x10000,
        iram=MemoryRegion(0x4037C000, 0x403E0000),
        dram=MemoryRegion(0x3FC7C000, 0x3FCE0000),
        i_d_offset=0x700000,
        iram_byte_access=False,
        cache_sync_after_copy=False,
        emulator=EmulatorProfile(
            uart=0x60000000,
            firmware_ram=MemoryRegion(0x3FC80000, 0x3FCA0000),
            heap=MemoryRegion(0x3FCA0000, 0x3FCD0000),
            data_arena=MemoryRegion(0x3FCD0000, 0x3FCE0000),
        ),
    )
)

_add(
    ChipProfile(
        name="esp32c6",
        chip_id=0x000D,
        march="rv32imac_zicsr_zifencei",
        mabi="ilp32",
        has_fpu=False,
        flash_ibus=MemoryRegion(0x42000000, 0x43000000),
        flash_dbus=MemoryRegion(0x42000000, 0x43000000),
        mmu_page_size=0x10000,
        iram=MemoryRegion(0x40800000, 0x40880000),
        dram=MemoryRegion(0x40800000, 0x40880000),
        i_d_offset=0,
        iram_byte_access=True,
        cache_sync_after_copy=False,
        emulator=EmulatorProfile(
            uart=0x60000000,
            firmware_ram=MemoryRegion(0x40800000, 0x40820000),
            heap=MemoryRegion(0x40820000, 0x40870000),
            data_arena=MemoryRegion(0x40870000, 0x40880000),
        ),
    )
)

_add(
    ChipProfile(
        name="esp32h2",
        chip_id=0x0010,
        march="rv32imac_zicsr_zifencei",
        mabi="ilp32",
        has_fpu=False,
        flash_ibus=MemoryRegion(0x42000000, 0x43000000),
        flash_dbus=MemoryRegion(0x42000000, 0x43000000),
        mmu_page_size=0x10000,
        iram=MemoryRegion(0x40800000, 0x40850000),
        dram=MemoryRegion(0x40800000, 0x40850000),
        i_d_offset=0,
        iram_byte_access=True,
        cache_sync_after_copy=False,
        emulator=EmulatorProfile(
            uart=0x60000000,
            firmware_ram=MemoryRegion(0x40800000, 0x40818000),
            heap=MemoryRegion(0x40818000, 0x40840000),
            data_arena=MemoryRegion(0x40840000, 0x40850000),
        ),
    )
)

_add(
    ChipProfile(
        name="esp32p4",
        chip_id=0x0012,
        march="rv32imafc_zicsr_zifencei",
        mabi="ilp32f",
        has_fpu=True,
        flash_ibus=MemoryRegion(0x40000000, 0x44000000),
        flash_dbus=MemoryRegion(0x40000000, 0x44000000),
        mmu_page_size=0x10000,
        iram=MemoryRegion(0x4FF00000, 0x4FFC0000),
        dram=MemoryRegion(0x4FF00000, 0x4FFC0000),
        i_d_offset=0,
        iram_byte_access=True,
        cache_sync_after_copy=True,
        emulator=EmulatorProfile(
            uart=0x500CA000,
            firmware_ram=MemoryRegion(0x4FF00000, 0x4FF40000),
            heap=MemoryRegion(0x4FF40000, 0x4FFB0000),
            data_arena=MemoryRegion(0x4FFB0000, 0x4FFC0000),
        ),
    )
)
