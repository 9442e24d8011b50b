"""The .dapp image format, version 1: writer and reader (docs/image-format.md).

The C side of the same layout is firmware/components/dynapps/include/dynapps_image.h.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from .elf32 import SHT_PROGBITS, Elf32
from .errors import DynappsError

MAGIC = 0x50504144  # b"DAPP"
FORMAT_VERSION = 1
HEADER = struct.Struct("<IHHHBBIIIIIIIIIIIIHH")
HEADER_SIZE = HEADER.size
HASH_SIZE = 32
IMPORT = struct.Struct("<II")
EXPORT = struct.Struct("<III")
STRATEGIES = {"iram": 1, "xip": 2}
FLAG_FPU_ABI = 0x0001
EXPORT_FLAG_NAMES = {1: "init", 2: "deinit"}
assert HEADER_SIZE == 64


@dataclass
class Image:
    chip_id: int
    strategy: str
    align_log2: int
    code: bytes
    data: bytes
    bss_size: int
    code_vaddr: int
    data_vaddr: int
    import_slots_vaddr: int
    firmware_id: int
    flags: int = 0
    fixups: list = field(default_factory=list)  # offsets from the code segment's start
    imports: list = field(default_factory=list)  # (name, firmware index)
    exports: list = field(default_factory=list)  # (name, vaddr, flags)
    format_version: int = FORMAT_VERSION
    sha256: bytes = b""

    def to_bytes(self) -> bytes:
        strtab, offsets = _string_table([n for n, _ in self.imports] + [n for n, _, _ in self.exports])
        code, data = _pad4(self.code), _pad4(self.data)
        body = b"".join([
            code,
            data,
            b"".join(struct.pack("<I", offset) for offset in self.fixups),
            b"".join(IMPORT.pack(offsets[name], index) for name, index in self.imports),
            b"".join(EXPORT.pack(offsets[name], vaddr, flags) for name, vaddr, flags in self.exports),
            strtab,
        ])
        image_size = HEADER_SIZE + len(body) + HASH_SIZE
        header = HEADER.pack(MAGIC, self.format_version, HEADER_SIZE, self.chip_id, STRATEGIES[self.strategy],
                             self.align_log2, image_size, len(code), len(data), self.bss_size, self.code_vaddr,
                             self.data_vaddr, len(self.fixups), len(self.imports), self.import_slots_vaddr,
                             len(self.exports), len(strtab), self.firmware_id, self.flags, 0)
        unsigned = header + body
        return unsigned + hashlib.sha256(unsigned).digest()


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _string_table(names: list[str]) -> tuple[bytes, dict]:
    table, offsets = bytearray(), {}
    for name in names:
        if name not in offsets:
            offsets[name] = len(table)
            table += name.encode() + b"\0"
    return _pad4(bytes(table)), offsets


def read(data: bytes, source: str = "image") -> Image:
    """Parse and verify an image; any inconsistency is a DynappsError naming `source`."""
    def fail(message: str) -> DynappsError:
        return DynappsError(message, source)

    if len(data) < HEADER_SIZE + HASH_SIZE:
        raise fail(f"truncated: {len(data)} bytes is less than a header and a hash")
    (magic, version, header_size, chip_id, strategy, align_log2, image_size, code_size, data_size, bss_size,
     code_vaddr, data_vaddr, fixup_count, import_count, import_slots, export_count, strtab_size, firmware_id,
     flags, _reserved) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise fail(f"not a dynapps image (magic {magic:#010x})")
    if version != FORMAT_VERSION or header_size != HEADER_SIZE:
        raise fail(f"format version {version} (header {header_size} bytes) is not version {FORMAT_VERSION}")
    if image_size > len(data):
        raise fail(f"truncated: header says {image_size} bytes, file has {len(data)}")
    digest = hashlib.sha256(data[:image_size - HASH_SIZE]).digest()
    if digest != data[image_size - HASH_SIZE:image_size]:
        raise fail("SHA-256 mismatch: the image is corrupted")
    position = HEADER_SIZE

    def take(size: int) -> bytes:
        nonlocal position
        if position + size > image_size - HASH_SIZE:
            raise fail("tables run past the end of the image")
        chunk = data[position:position + size]
        position += size
        return chunk

    code, segment_data = take(code_size), take(data_size)
    fixups = list(struct.unpack(f"<{fixup_count}I", take(4 * fixup_count)))
    raw_imports = [IMPORT.unpack(take(IMPORT.size)) for _ in range(import_count)]
    raw_exports = [EXPORT.unpack(take(EXPORT.size)) for _ in range(export_count)]
    strtab = take(strtab_size)
    if position != image_size - HASH_SIZE:
        raise fail("sizes in the header do not add up to the image size")
    name = lambda offset: strtab[offset:strtab.index(b"\0", offset)].decode()  # noqa: E731
    strategy_name = {v: k for k, v in STRATEGIES.items()}.get(strategy)
    if strategy_name is None:
        raise fail(f"unknown strategy {strategy}")
    return Image(chip_id, strategy_name, align_log2, code, segment_data, bss_size, code_vaddr, data_vaddr,
                 import_slots, firmware_id, flags, fixups, [(name(o), i) for o, i in raw_imports],
                 [(name(o), v, f) for o, v, f in raw_exports], version, data[image_size - HASH_SIZE:image_size])


def segment_bytes(elf_path: str, start: int, end: int, alias_delta: int = 0) -> bytes:
    """The bytes of [start, end) as the ELF's allocated PROGBITS sections lay them out; sections
    linked at `alias_delta` from that range (XIP rodata at its data-bus address) count as in it."""
    buffer = bytearray(end - start)
    elf = Elf32(elf_path)
    for section in elf.sections:
        if not section.allocated or section.type != SHT_PROGBITS:
            continue
        address = section.addr
        if alias_delta and start + alias_delta <= address < end + alias_delta:
            address -= alias_delta
        if start <= address < end:
            buffer[address - start:address - start + section.size] = elf.data[section.offset:section.offset + section.size]
    return bytes(buffer)


def from_link(analysis: dict, elf_path: str, chip_id: int, has_fpu: bool, firmware_id: int) -> Image:
    """Build the image of a linked app from its ELF and link analysis (link.py)."""
    code_start, data_start = analysis["code_vaddr"], analysis["data_vaddr"]
    return Image(
        chip_id=chip_id,
        strategy=analysis["strategy"],
        align_log2=analysis["align_log2"],
        code=segment_bytes(elf_path, code_start, code_start + analysis["code_size"], analysis["rodata_delta"]),
        data=segment_bytes(elf_path, data_start, data_start + analysis["data_size"]),
        bss_size=analysis["bss_size"],
        code_vaddr=code_start,
        data_vaddr=data_start,
        import_slots_vaddr=analysis["import_slots_vaddr"],
        firmware_id=firmware_id,
        flags=FLAG_FPU_ABI if has_fpu else 0,
        fixups=analysis["fixups"],
        imports=[(i["name"], i["index"]) for i in analysis["imports"]],
        exports=[(e["name"], e["vaddr"], e["flags"]) for e in analysis["exports"]],
    )


def describe(image: Image, chip_names: dict) -> str:
    """Human-readable contents, for `./dev inspect`."""
    lines = [
        f"format      v{image.format_version}, chip {chip_names.get(image.chip_id, hex(image.chip_id))}, "
        f"strategy {image.strategy}{', FPU ABI' if image.flags & FLAG_FPU_ABI else ''}",
        f"code        {len(image.code):7} B at {image.code_vaddr:#010x}",
        f"data        {len(image.data):7} B at {image.data_vaddr:#010x}",
        f"bss         {image.bss_size:7} B at {image.data_vaddr + len(image.data):#010x}",
        f"firmware id {image.firmware_id:#010x}",
        f"sha256      {image.sha256.hex()}",
        f"fix-ups     {len(image.fixups)}" + (": " + " ".join(f"+{o:#x}" for o in image.fixups[:16]) if image.fixups else "")
        + (" ..." if len(image.fixups) > 16 else ""),
        f"imports     {len(image.imports)}, slots at {image.import_slots_vaddr:#010x}",
    ]
    lines += [f"  [{slot}] {name} = firmware symbol #{index}" for slot, (name, index) in enumerate(image.imports)]
    lines.append(f"exports     {len(image.exports)}")
    lines += [f"  {name} at {vaddr:#010x}" + (f" ({EXPORT_FLAG_NAMES[f]})" if f in EXPORT_FLAG_NAMES else "")
              for name, vaddr, f in image.exports]
    return "\n".join(lines)
