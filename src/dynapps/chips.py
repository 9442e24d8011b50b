"""Chip profiles: every per-chip fact in one table.

Every ChipProfile value (not the EmulatorProfile ones) was checked against ESP-IDF's own files,
v5.1 .. v5.5, v6.0 and master (6.2-dev); the values are the same in all of them unless a comment
says otherwise. Paths are relative to ESP-IDF's components/ directory:
  soc/<chip>/include/soc/soc.h             SOC_IROM_LOW/HIGH, SOC_DROM_LOW/HIGH, SOC_IRAM_LOW/HIGH,
                                           SOC_DRAM_LOW/HIGH, SOC_DIRAM_*, SOC_I_D_OFFSET,
                                           SOC_BYTE_ACCESSIBLE_LOW/HIGH, SOC_EXTRAM_LOW/HIGH (PSRAM)
  soc/<chip>/include/soc/soc_caps.h        SOC_SPIRAM_SUPPORTED (the chip can have PSRAM)
  soc/<chip>/include/soc/ext_mem_defs.h    SOC_MMU_ENTRY_NUM, SOC_MMU_LINEAR_ADDR_MASK,
                                           SOC_MMU_IRAM0_LINEAR_ADDRESS_LOW/HIGH (the range the
                                           esp_mm mapping driver hands out)
  soc/<chip>/Kconfig.mmu, soc/Kconfig      MMU_PAGE_SIZE (64 KB unless the flash is 1 or 2 MB)
  soc/<chip>/include/soc/soc_caps.h        SOC_CPU_HAS_FPU, SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE
  bootloader_support/include/esp_app_format.h   esp_chip_id_t (also Kconfig IDF_FIRMWARE_CHIP_ID)
  -march/-mabi: ../tools/cmake/toolchain-<chip>.cmake (IDF <= 5.5) and
                soc/project_include.cmake (IDF >= 6.0)
docs/adding-a-chip.md says how to fill in a new chip.
A chip like another is that chip's `derive()` with only what differs (esp32h2 from esp32c6), the way
esptool's targets/ subclass their parent. Facts that follow from the stated ones (the rodata delta,
the plain -march, slot alignment, the emulator's scratch page, the chip-id map) are computed here
and nowhere else. The rest of the build reads these through `profile(name)`; no other module
branches on a chip name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# The SPI flash erase unit, the same on every chip: sector-aligned regions can be written alone.
FLASH_SECTOR = 0x1000
# -mabi values that pass floats in FPU registers: a chip with one of these must have an FPU.
HARD_FLOAT_ABIS = ("ilp32f", "ilp32d")


@dataclass(frozen=True)
class MemoryRegion:
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start

    def contains(self, address: int, size: int = 1) -> bool:
        return self.start <= address and address + size <= self.end


class ProfileError(ValueError):
    """A profile whose stated facts contradict each other, or a derived one that restates its parent."""


@dataclass(frozen=True)
class EmulatorProfile:
    """Where the emulator firmware puts its own pieces inside the chip's real memory map."""

    firmware_ram: MemoryRegion  # firmware data, bss, stack
    heap: MemoryRegion  # heap the emulator port allocates from (exec RAM and bookkeeping)
    data_arena: MemoryRegion  # XIP apps' data + bss (fixed addresses)
    # MMIO base of the emulator's UART: the chip's real UART0 (TX FIFO register at +0), the same
    # on esp32c3/c6/h2 (soc/<chip>/register/soc/reg_base.h DR_REG_UART_BASE)
    uart: int = 0x60000000
    control: int = 0x7F000000  # MMIO base of the emulator control block (exit, MMU, counters): an
    #                            address no device decodes on the real chip (outside every soc.h
    #                            region), 4 KiB page
    # Flash offset from which the flash image is visible on the data bus at
    # flash_dbus.start + offset (identity). The firmware's own text/rodata must end below
    # window start + this - mmu_page_size (the page under it is the port's scratch mapping).
    flash_data_view_from: int = 0x100000
    # The emulated board's PSRAM chip, from the start of the chip's PSRAM window (a real board's is
    # 16 or 32 MB; the emulator maps only what its tests use). The emulator port's PSRAM heap
    # (strategy psram) covers it. None on a chip without PSRAM.
    psram: MemoryRegion | None = None


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
    bootloader_offset: int  # where the ROM looks for the second-stage bootloader in flash
    # PSRAM as the CPU sees it through the cache (one address for fetch and data, executable unless
    # memory protection forbids it), or None: the chip has no PSRAM (no SOC_SPIRAM_SUPPORTED)
    psram: MemoryRegion | None
    # The data arena's default range (firmware/components/dynapps/Kconfig
    # DYNAPPS_DATA_ARENA_ADDRESS / _SIZE defaults), used when the firmware's sdkconfig does not
    # say: near the top of the heap RAM, under APP_USABLE_DRAM_END = SOC_ROM_STACK_START -
    # SOC_ROM_STACK_SIZE (heap/port/<chip>/memory_layout.c, soc/<chip>/include/soc/soc.h)
    data_arena_default: MemoryRegion
    emulator: EmulatorProfile = field(compare=False)
    parent: str | None = field(default=None, compare=False)  # the profile this one was derived from
    # (sdkconfig option, range): the default arena when that bool option is y (the Kconfig's
    # `default ... if` lines before the plain one)
    data_arena_default_if: tuple[tuple[str, MemoryRegion], ...] = ()

    def __post_init__(self) -> None:
        """Refuse stated facts that contradict each other (docs/adding-a-chip.md states the rules)."""
        if self.has_fpu != (self.mabi in HARD_FLOAT_ABIS):
            raise ProfileError(f"{self.name}: has_fpu={self.has_fpu} but mabi={self.mabi}")
        if self.iram.start - self.dram.start != self.i_d_offset or self.iram.size != self.dram.size:
            raise ProfileError(f"{self.name}: iram {self.iram.start:#x}..{self.iram.end:#x} is not dram "
                               f"{self.dram.start:#x}..{self.dram.end:#x} moved by i_d_offset {self.i_d_offset:#x}")
        for region in (self.data_arena_default, *(r for _, r in self.data_arena_default_if)):
            if not self.dram.contains(region.start, region.size):
                raise ProfileError(f"{self.name}: default data arena {region.start:#x}..{region.end:#x} is not in dram")
        board = self.emulator.psram
        if board is not None and (self.psram is None or not self.psram.contains(board.start, board.size)):
            raise ProfileError(f"{self.name}: the emulator's PSRAM {board.start:#x}..{board.end:#x} is not in "
                               f"the chip's PSRAM window")

    @property
    def has_psram(self) -> bool:
        return self.psram is not None

    def derive(self, name: str, **differences) -> ChipProfile:
        """Chip `name`: this one but for `differences`. A difference equal to this chip's value is
        refused, so a derived profile states exactly what differs."""
        restated = sorted(key for key, value in differences.items() if getattr(self, key) == value)
        if restated:
            raise ProfileError(f"{name}: {', '.join(restated)} restate(s) {self.name}")
        return dataclasses.replace(self, name=name, parent=self.name, **differences)

    def default_data_arena(self, options: dict) -> MemoryRegion:
        """The Kconfig default of the arena for a configuration whose bool `options` (sdkconfig
        names without CONFIG_, True when y) are given."""
        return next((region for option, region in self.data_arena_default_if if options.get(option) is True),
                    self.data_arena_default)

    @property
    def unified_flash_window(self) -> bool:
        return self.flash_ibus == self.flash_dbus

    def dram_address(self, iram_address: int) -> int:
        """The data-bus address of the SRAM byte at `iram_address` (the same when i_d_offset is 0)."""
        return iram_address - self.i_d_offset

    def iram_address(self, dram_address: int) -> int:
        """The instruction-bus address of the SRAM byte at `dram_address`."""
        return dram_address + self.i_d_offset

    @property
    def iram_alias_words_only(self) -> bool:
        """SRAM has a separate IRAM alias that takes 32-bit accesses only (esp32c3)."""
        return bool(self.i_d_offset) and not self.iram_byte_access

    @property
    def rodata_delta(self) -> int:
        """Data-bus address minus instruction-bus address of one flash byte (0: one window)."""
        return self.flash_dbus.start - self.flash_ibus.start

    @property
    def plain_march(self) -> str:
        """The ISA without its _zicsr_zifencei suffixes ('rv32imc'): Debian's GCC picks its multilib
        from this form, and -misa-spec=2.2 brings the two extensions back."""
        return self.march.split("_")[0]

    def xip_vaddr(self, flash_offset: int) -> int:
        """Instruction-bus address of a flash offset (the MMU linear address equals the flash address)."""
        return self.flash_ibus.start + flash_offset

    def slot_alignment(self, xip_capable: bool) -> int:
        """What slots are laid out in: an XIP slot is mapped by the MMU page, an IRAM slot is sectors."""
        return self.mmu_page_size if xip_capable else FLASH_SECTOR

    @property
    def emulator_firmware_flash_size(self) -> int:
        """Room for the emulator firmware's own text/rodata from each window's base: everything
        below the scratch page, which lies just under the flash data view."""
        return self.emulator.flash_data_view_from - self.mmu_page_size

    @property
    def flash_scratch_vaddr(self) -> int:
        """Data-bus page the emulator port maps any flash page at (to read the partition table)."""
        return self.flash_dbus.start + self.emulator_firmware_flash_size


# Values filled in below are checked against the ESP-IDF headers named in the module docstring.
PROFILES: dict[str, ChipProfile] = {}


def _add(profile: ChipProfile) -> ChipProfile:
    PROFILES[profile.name] = profile
    return profile


def profile(name: str) -> ChipProfile:
    return PROFILES[name]


def names() -> list[str]:
    return sorted(PROFILES)


def chip_names() -> dict[int, str]:
    """esp_chip_id_t -> profile name (what an image's chip id field means)."""
    return {p.chip_id: p.name for p in PROFILES.values()}


_add(
    ChipProfile(
        name="esp32c3",
        # esp_app_format.h ESP_CHIP_ID_ESP32C3 = 0x0005
        chip_id=0x0005,
        # IDF <= 5.5 tools/cmake/toolchain-esp32c3.cmake: -march=rv32imc_zicsr_zifencei;
        # IDF >= 6.0 soc/project_include.cmake: the same ("rv32imc" + "_zicsr_zifencei")
        march="rv32imc_zicsr_zifencei",
        mabi="ilp32",  # no -mabi in the toolchain files: the rv32imc default, ilp32
        has_fpu=False,  # soc/esp32c3/include/soc/soc_caps.h: no SOC_CPU_HAS_FPU
        # soc/esp32c3/include/soc/soc.h SOC_IROM_LOW 0x42000000, SOC_IROM_HIGH 0x42800000
        # (ext_mem_defs.h: SOC_MMU_ENTRY_NUM 128 x 64 KB = 8 MB; SOC_MMU_IBUS_VADDR_BASE)
        flash_ibus=MemoryRegion(0x42000000, 0x42800000),
        # soc.h SOC_DROM_LOW 0x3C000000, SOC_DROM_HIGH 0x3C800000 (SOC_MMU_DBUS_VADDR_BASE).
        # One MMU table serves both buses: linear page n is seen at 0x3C000000 + n*64K and
        # 0x42000000 + n*64K (ext_mem_defs.h: SOC_MMU_IRAM0_LINEAR_ADDRESS_LOW ==
        # SOC_MMU_DRAM0_LINEAR_ADDRESS_LOW, SOC_MMU_LINEAR_ADDR_MASK 0x7FFFFF)
        flash_dbus=MemoryRegion(0x3C000000, 0x3C800000),
        # soc/esp32c3/Kconfig.mmu: only MMU_PAGE_SIZE_64KB; soc/Kconfig MMU_PAGE_SIZE 0x10000
        mmu_page_size=0x10000,
        # soc.h SOC_DIRAM_IRAM_LOW 0x40380000 .. SOC_DIRAM_IRAM_HIGH 0x403E0000. (SOC_IRAM_LOW is
        # 0x4037C000, but 0x4037C000-0x4037FFFF is the 16 KB ICache (esp_system/ld/esp32c3/
        # memory.ld.in: SRAM_IRAM_ORG = SRAM_IRAM_START + ICACHE_SIZE) and has no data alias.)
        iram=MemoryRegion(0x40380000, 0x403E0000),
        # soc.h SOC_DRAM_LOW 0x3FC80000 == SOC_DIRAM_DRAM_LOW .. SOC_DRAM_HIGH 0x3FCE0000
        dram=MemoryRegion(0x3FC80000, 0x3FCE0000),
        # soc.h SOC_I_D_OFFSET = SOC_DIRAM_IRAM_LOW - SOC_DIRAM_DRAM_LOW = 0x700000
        # (MAP_IRAM_TO_DRAM / MAP_DRAM_TO_IRAM; esp_memory_utils.h esp_ptr_diram_iram_to_dram)
        i_d_offset=0x700000,
        # soc.h SOC_BYTE_ACCESSIBLE_LOW/HIGH 0x3FC80000..0x3FD00000: the DRAM view only
        iram_byte_access=False,
        # internal SRAM is not behind a cache (soc_caps.h: no SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE)
        cache_sync_after_copy=False,
        # bootloader/Kconfig.projbuild BOOTLOADER_OFFSET_IN_FLASH (ESP-IDF v5.5); esptool 5.6
        # targets/<chip>.py BOOTLOADER_FLASH_OFFSET says the same (a test compares them)
        bootloader_offset=0x0,
        # soc_caps.h: no SOC_SPIRAM_SUPPORTED, soc.h: no SOC_EXTRAM_LOW (no esp_psram port for it)
        psram=None,
        # APP_USABLE_DRAM_END 0x3fcde710 - 0x2000 = 0x3fcdc710: 32 KB below it
        data_arena_default=MemoryRegion(0x3FCD4000, 0x3FCDC000),
        emulator=EmulatorProfile(
            firmware_ram=MemoryRegion(0x3FC80000, 0x3FCA0000),
            heap=MemoryRegion(0x3FCA0000, 0x3FCD0000),
            data_arena=MemoryRegion(0x3FCD0000, 0x3FCE0000),
        ),
    )
)

ESP32C6 = _add(
    ChipProfile(
        name="esp32c6",
        # esp_app_format.h ESP_CHIP_ID_ESP32C6 = 0x000D
        chip_id=0x000D,
        # IDF <= 5.5 tools/cmake/toolchain-esp32c6.cmake: -march=rv32imac_zicsr_zifencei.
        # IDF 6.0 soc/project_include.cmake: rv32imac_zicsr_zifencei_zaamo_zalrsc (Zaamo + Zalrsc
        # = the A extension, same instructions); master (6.2-dev) is back to
        # rv32imac_zicsr_zifencei. The plain string is kept: Debian's GCC takes it.
        march="rv32imac_zicsr_zifencei",
        mabi="ilp32",
        has_fpu=False,  # soc/esp32c6/include/soc/soc_caps.h: no SOC_CPU_HAS_FPU
        # soc/esp32c6/include/soc/soc.h SOC_IROM_LOW 0x42000000; SOC_IROM_HIGH is
        # SOC_IROM_LOW + (SOC_MMU_PAGE_SIZE << 8) = 16 MB at 64 KB pages (256 MMU entries), but
        # the esp_mm driver only maps the linear range of ext_mem_defs.h
        # SOC_MMU_IRAM0_LINEAR_ADDRESS_LOW/HIGH, masked by SOC_MMU_LINEAR_ADDR_MASK 0x7FFFFF:
        # 8 MB. esp_mmu_map_virt() refuses a vaddr above 0x42800000 (hal/esp32c6/.../mmu_ll.h
        # mmu_ll_vaddr_to_laddr), so the usable window is 0x42000000..0x42800000.
        flash_ibus=MemoryRegion(0x42000000, 0x42800000),
        # soc.h SOC_DROM_LOW = SOC_IROM_LOW (soc_caps.h SOC_MMU_DI_VADDR_SHARED): one address
        flash_dbus=MemoryRegion(0x42000000, 0x42800000),
        # soc/esp32c6/Kconfig.mmu: MMU_PAGE_SIZE_64KB unless ESPTOOLPY_FLASHSIZE_1MB (16 KB) or
        # _2MB (32 KB); the example firmware uses 4 MB flash (firmware/sdkconfig.defaults)
        mmu_page_size=0x10000,
        # soc.h SOC_IRAM_LOW 0x40800000 .. SOC_IRAM_HIGH 0x40880000 (= SOC_DIRAM_IRAM_*)
        iram=MemoryRegion(0x40800000, 0x40880000),
        # soc.h SOC_DRAM_LOW 0x40800000 .. SOC_DRAM_HIGH 0x40880000: same addresses
        dram=MemoryRegion(0x40800000, 0x40880000),
        i_d_offset=0,  # soc.h: SOC_DIRAM_IRAM_LOW == SOC_DIRAM_DRAM_LOW, no SOC_I_D_OFFSET
        # soc.h SOC_BYTE_ACCESSIBLE_LOW/HIGH 0x40800000..0x40880000: all of it
        iram_byte_access=True,
        # internal SRAM is not behind a cache (soc_caps.h: no SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE)
        cache_sync_after_copy=False,
        # bootloader/Kconfig.projbuild BOOTLOADER_OFFSET_IN_FLASH (ESP-IDF v5.5); esptool 5.6
        # targets/<chip>.py BOOTLOADER_FLASH_OFFSET says the same (a test compares them)
        bootloader_offset=0x0,
        # soc/esp32c6/include/soc/soc_caps.h: no SOC_SPIRAM_SUPPORTED, soc.h: no SOC_EXTRAM_LOW, and
        # no components/esp_psram/esp32c6/ (v5.1 .. v6.1-beta1): the esp32c6 has no PSRAM
        psram=None,
        # APP_USABLE_DRAM_END 0x4087e610 - 0x2000 = 0x4087c610: 32 KB below it
        data_arena_default=MemoryRegion(0x40874000, 0x4087C000),
        emulator=EmulatorProfile(
            firmware_ram=MemoryRegion(0x40800000, 0x40820000),
            heap=MemoryRegion(0x40820000, 0x40870000),
            data_arena=MemoryRegion(0x40870000, 0x40880000),
        ),
    )
)

# esp32h2 is an esp32c6 with less SRAM. Checked the same way, its files give esp32c6's values for
# everything not stated here: -march/-mabi (toolchain-esp32h2.cmake), no FPU (soc_caps.h), one
# 8 MB flash window for both buses (soc.h, ext_mem_defs.h, mmu_ll.h), 64 KB MMU pages
# (Kconfig.mmu), byte-accessible uncached SRAM, bootloader at 0x0, UART0 at 0x60000000, and no
# PSRAM (soc_caps.h: no SOC_SPIRAM_SUPPORTED; no components/esp_psram/esp32h2/).
_add(
    ESP32C6.derive(
        name="esp32h2",
        # esp_app_format.h ESP_CHIP_ID_ESP32H2 = 0x0010
        chip_id=0x0010,
        # soc.h SOC_IRAM_LOW 0x40800000 .. SOC_IRAM_HIGH 0x40850000 (= SOC_DIRAM_IRAM_*)
        iram=MemoryRegion(0x40800000, 0x40850000),
        # soc.h SOC_DRAM_LOW 0x40800000 .. SOC_DRAM_HIGH 0x40850000: same addresses
        dram=MemoryRegion(0x40800000, 0x40850000),
        # APP_USABLE_DRAM_END 0x4084f380 - 0x2000 = 0x4084d380: 32 KB below it
        data_arena_default=MemoryRegion(0x40845000, 0x4084D000),
        emulator=EmulatorProfile(
            firmware_ram=MemoryRegion(0x40800000, 0x40818000),
            heap=MemoryRegion(0x40818000, 0x40840000),
            data_arena=MemoryRegion(0x40840000, 0x40850000),
        ),
    )
)

_add(
    ChipProfile(
        name="esp32p4",
        # esp_app_format.h ESP_CHIP_ID_ESP32P4 = 0x0012
        chip_id=0x0012,
        # Base ISA every revision runs. IDF 5.3-5.5 tools/cmake/toolchain-esp32p4.cmake:
        # -march=rv32imafc_zicsr_zifencei_xesppie -mabi=ilp32f. soc/project_include.cmake:
        # IDF 6.0 rv32imafc_zicsr_zifencei_zaamo_zalrsc, master rv32imafcb_zicsr_zifencei (rev >= 3)
        # or rv32imafc_zicsr_zifencei (rev < 3), plus _zcb_zcmp_zcmt (rev >= 3), _xesploop, _xespv:
        # revision-only and Espressif extensions that Debian's GCC lacks and apps do not need.
        march="rv32imafc_zicsr_zifencei",
        mabi="ilp32f",  # toolchain-esp32p4.cmake / project_include.cmake (SOC_CPU_HAS_FPU)
        has_fpu=True,  # soc/esp32p4/include/soc/soc_caps.h SOC_CPU_HAS_FPU 1
        # soc/esp32p4/include/soc/soc.h SOC_IROM_LOW 0x40000000, SOC_IROM_HIGH 0x44000000
        # (ext_mem_defs.h SOC_IRAM_FLASH_ADDRESS_LOW/HIGH; SOC_MMU_FLASH_LINEAR_ADDRESS_HIGH
        # with SOC_MMU_LINEAR_ADDR_MASK 0xFFFFFFF covers all 64 MB)
        flash_ibus=MemoryRegion(0x40000000, 0x44000000),
        # soc.h SOC_DROM_LOW/HIGH: the same addresses (soc_caps.h SOC_MMU_DI_VADDR_SHARED)
        flash_dbus=MemoryRegion(0x40000000, 0x44000000),
        # soc/esp32p4/Kconfig.mmu: only MMU_PAGE_SIZE_64KB
        mmu_page_size=0x10000,
        # soc.h SOC_IRAM_LOW 0x4ff00000 .. SOC_IRAM_HIGH 0x4ffc0000 (HP L2MEM, = SOC_DIRAM_IRAM_*)
        iram=MemoryRegion(0x4FF00000, 0x4FFC0000),
        # soc.h SOC_DRAM_LOW/HIGH: the same addresses (MAP_IRAM_TO_DRAM(addr) is (addr))
        dram=MemoryRegion(0x4FF00000, 0x4FFC0000),
        i_d_offset=0,  # soc.h: SOC_DIRAM_IRAM_LOW == SOC_DIRAM_DRAM_LOW
        # soc.h SOC_BYTE_ACCESSIBLE_LOW/HIGH 0x4ff00000..0x4ffc0000: all of it
        iram_byte_access=True,
        # soc_caps.h SOC_CACHE_INTERNAL_MEM_VIA_L1CACHE 1, SOC_CACHE_WRITEBACK_SUPPORTED 1:
        # copied code must be written back from the L1 data cache and the L1 instruction cache
        # invalidated (esp_mm/include/esp_cache.h esp_cache_msync)
        cache_sync_after_copy=True,
        # bootloader/Kconfig.projbuild BOOTLOADER_OFFSET_IN_FLASH (ESP-IDF v5.5); esptool 5.6
        # targets/<chip>.py BOOTLOADER_FLASH_OFFSET says the same (a test compares them)
        bootloader_offset=0x2000,
        # soc/esp32p4/include/soc/soc.h SOC_EXTRAM_LOW 0x48000000, SOC_EXTRAM_HIGH 0x4c000000 (v5.3.5
        # lines 158-159, v5.5.5 157-158, v6.0.2 151-152, v6.1-beta1 149-150); soc_caps.h
        # SOC_SPIRAM_SUPPORTED 1. The cached window, used for fetch and data alike (the
        # uncached alias CACHE_LL_L2MEM_NON_CACHE_ADDR is not executable code's address).
        psram=MemoryRegion(0x48000000, 0x4C000000),
        # rev >= 3 (ESP-IDF >= 5.5 default): APP_USABLE_DIRAM_END = SOC_ROM_STACK_START_REV2
        # 0x4ffbcfc0 - 0x2000 = 0x4ffbafc0, the L2 cache at the bottom of L2MEM; 32 KB below it
        data_arena_default=MemoryRegion(0x4FFB2000, 0x4FFBA000),
        # rev < 3 (ESP32P4_SELECTS_REV_LESS_V3; IDF 5.3/5.4 support only these): the L2 cache at the
        # top, APP_USABLE_DIRAM_END = SOC_ROM_STACK_START 0x4ff3cfc0 - 0x2000 = 0x4ff3afc0
        data_arena_default_if=(("ESP32P4_SELECTS_REV_LESS_V3", MemoryRegion(0x4FF32000, 0x4FF3A000)),),
        emulator=EmulatorProfile(
            uart=0x500CA000,  # DR_REG_UART_BASE (esp32p4 in IDF 6.x: register/hw_ver1/ and hw_ver3/)
            firmware_ram=MemoryRegion(0x4FF00000, 0x4FF40000),
            heap=MemoryRegion(0x4FF40000, 0x4FFB0000),
            data_arena=MemoryRegion(0x4FFB0000, 0x4FFC0000),
            psram=MemoryRegion(0x48000000, 0x48100000),  # 1 MB of the window
        ),
    )
)
