"""The load and call time model: what the emulator's exact counts would take on the chip.

The emulator counts instructions, not time. This module turns what it observed during a load or
a call into modelled microseconds at the chip's clocks, from four parts:

  cpu    instructions / CPU clock: one cycle per instruction (the in-order RISC-V cores of these
         chips retire about one per cycle on cached code; loads, branches and multi-cycle
         divides make the real figure higher, so this part is a lower bound);
  flash  every 32/64-byte cache line the load reads from the flash windows for the first time,
         each a Quad I/O (EBh) flash read at the flash clock: command (8 clocks, one line),
         24-bit address on four lines (6), dummy (6), then the line's data on four lines;
  sha    the SHA accelerator's time per 64-byte block of SHA-256 (the image hash);
  copies into RAM are instructions: the emulator firmware's memcpy/memset copy a word at a time
         (firmware/emulator/emu_platform.c), as ESP-IDF's ROM versions do, so they are in `cpu`.

Every constant is in TABLE with its source. Where no Espressif document gives a figure for a
chip, the source says what was assumed instead. docs/performance.md ("Load time") explains the
model and its limits: the loader's own code is assumed to be in the cache (warm), and a line is
read from flash once per load, however often the load reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

SHA_BLOCK = 64  # bytes per SHA-256 block (FIPS 180-4)


@dataclass(frozen=True)
class Constant:
    value: float
    source: str


@dataclass(frozen=True)
class ChipTiming:
    cpu_mhz: Constant
    flash_mhz: Constant
    flash_data_lines: Constant  # bits per flash clock in the data phase (QIO: 4)
    line_overhead_clocks: Constant  # flash clocks per read before the data: command, address, dummy
    cache_line_bytes: Constant
    sha_mb_per_s: Constant  # SHA-256 throughput of the accelerator, MB/s (10^6 bytes)

    def flash_line_us(self) -> float:
        line = self.cache_line_bytes.value
        clocks = self.line_overhead_clocks.value + line * 8 / self.flash_data_lines.value
        return clocks / self.flash_mhz.value

    def sha_block_us(self) -> float:
        return SHA_BLOCK / self.sha_mb_per_s.value


_IDF = "ESP-IDF v5.5.5"
_CPU = _IDF + " components/esp_system/port/soc/{chip}/Kconfig.cpu: default ESP_DEFAULT_CPU_FREQ_MHZ_{mhz}"
_FLASH = _IDF + " components/spi_flash/{chip}/Kconfig.flash_freq: default ESPTOOLPY_FLASHFREQ_{mhz}M"
_QIO = ("Quad I/O read, ESPTOOLPY_FLASHMODE_QIO (" + _IDF + " components/esptool_py/Kconfig.projbuild): "
        "4 data lines")
_OVERHEAD = ("EBh Quad I/O read: 8-clock command, SPI_FLASH_QIO_ADDR_BITLEN 24 bits on 4 lines = 6 clocks, "
             "SPI_FLASH_QIO_DUMMY_BITLEN 6 (" + _IDF + " components/spi_flash/include/spi_flash/spi_flash_defs.h)")
_SHA_C3 = (_IDF + " components/idf_test/include/esp32c3/idf_performance_target.h: "
           "IDF_PERFORMANCE_MIN_SHA256_THROUGHPUT_MBSEC 90 'at 160 MHz, threshold set lower than worst case' "
           "(Espressif's test floor, so the modelled hash is no faster than a chip)")
_LINE_C3 = ("ESP32-C3 Technical Reference Manual, chapter 'System and Memory', cache: 32-byte blocks "
            "(read at run time by cache_ll_get_line_size, " + _IDF + " components/hal/esp32c3/include/hal/cache_ll.h)")


def _chip(chip: str, cpu_mhz: int, flash_mhz: int, line_bytes: int, line_source: str, sha_source: str,
          cpu_note: str = "", flash_note: str = "") -> ChipTiming:
    """A chip's row: clocks from ESP-IDF's Kconfig defaults, Quad I/O flash reads as in ESP-IDF."""
    return ChipTiming(
        cpu_mhz=Constant(cpu_mhz, _CPU.format(chip=chip, mhz=cpu_mhz) + cpu_note),
        flash_mhz=Constant(flash_mhz, _FLASH.format(chip=chip, mhz=flash_mhz) + flash_note),
        flash_data_lines=Constant(4, _QIO),
        line_overhead_clocks=Constant(20, _OVERHEAD),
        cache_line_bytes=Constant(line_bytes, line_source),
        sha_mb_per_s=Constant(90, sha_source),
    )


_SHA_AS_C3 = "assumed as esp32c3: ESP-IDF states no SHA-256 throughput for {chip}"
TABLE: dict[str, ChipTiming] = {
    "esp32c3": _chip("esp32c3", 160, 80, 32, _LINE_C3, _SHA_C3,
                     cpu_note="; ESP32-C3 Datasheet, 'CPU and Memory': up to 160 MHz"),
    "esp32c6": _chip("esp32c6", 160, 80, 32, "assumed as esp32c3 (same cache design); not checked in a TRM here",
                     _SHA_AS_C3.format(chip="esp32c6")),
    "esp32h2": _chip("esp32h2", 96, 64, 32, "assumed as esp32c3; not checked in a TRM here",
                     _IDF + " components/idf_test/include/esp32h2/idf_performance_target.h: "
                            "IDF_PERFORMANCE_MIN_SHA256_THROUGHPUT_MBSEC 90"),
    "esp32p4": _chip("esp32p4", 400, 80, 64, "assumed: the esp32p4 L2 cache's smallest line; not checked in a TRM here",
                     _SHA_AS_C3.format(chip="esp32p4"), flash_note=" (40 on revision 0)"),
}


@dataclass(frozen=True)
class ModelledTime:
    cpu_us: float
    flash_us: float
    sha_us: float

    @property
    def total_us(self) -> float:
        return self.cpu_us + self.flash_us + self.sha_us


def timing(chip: str) -> ChipTiming:
    return TABLE[chip]


def modelled(chip: str, instructions: int, flash_lines: int = 0, sha_bytes: int = 0) -> ModelledTime:
    """A load's or a call's modelled time: `flash_lines` cache lines read from flash, `sha_bytes`
    hashed by the accelerator (in whole 64-byte blocks, the padding block included)."""
    t = TABLE[chip]
    blocks = (sha_bytes + 9 + SHA_BLOCK - 1) // SHA_BLOCK if sha_bytes else 0  # + 0x80 byte and 64-bit length
    return ModelledTime(cpu_us=instructions / t.cpu_mhz.value, flash_us=flash_lines * t.flash_line_us(),
                        sha_us=blocks * t.sha_block_us())
