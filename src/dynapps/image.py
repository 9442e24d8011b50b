"""The .dapp image format, version 3: writer and reader (docs/image-format.md), signed when the
project has a signing key (signing.py).

The C side of the same layout is firmware/components/dynapps/include/dynapps_image.h. The writer
checks every table against the rules the loader applies (check_tables), so that a mistake in the
build is a build error naming the app, never a load failure on a device; the reader applies the
same rules, so `./dev inspect` says which one a malformed image breaks.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from . import signing, trustmark
from .contracts import ImageSettings, LinkAnalysis
from .elf32 import SHT_NOBITS, Elf32
from .errors import DynappsError
from .manifest import COPIED_STRATEGIES

MAGIC = 0x50504144  # b"DAPP"
FORMAT_VERSION = 3
HEADER = struct.Struct("<IHHHBBIIIIIIIIIIIIHH16sHHHHIIII")
HEADER_SIZE = HEADER.size
NAME_SIZE = 16  # an ESP-IDF partition label: the loader compares the name with its slot's label
HASH_SIZE = 32
IMPORT = struct.Struct("<II")
EXPORT = struct.Struct("<III")
STRATEGIES = {"iram": 1, "xip": 2, "psram": 3}  # dynapps_image.h dynapps_strategy_t
FLAG_FPU_ABI = 0x0001
FLAG_SIGNED = 0x0002  # a signature (ECDSA P-256 over the SHA-256, raw r || s) follows the SHA-256
SIGNATURE_SIZE = signing.SIGNATURE_SIZE
EXPORT_FLAG_INIT, EXPORT_FLAG_DEINIT = 1, 2
EXPORT_FLAG_NAMES = {EXPORT_FLAG_INIT: "init", EXPORT_FLAG_DEINIT: "deinit"}
ALIGN_LOG2_RANGE = range(2, 13)  # the loader's IRAM alignment bounds (4 B .. 4 KiB)
ADDRESS_SPACE = 1 << 32
assert HEADER_SIZE == 104


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
    exports_id: int  # id of the firmware export table's first exports_count entries (0 when 0)
    flags: int = 0
    fixups: list = field(default_factory=list)  # offsets from the code segment's start
    imports: list = field(default_factory=list)  # (name, firmware index)
    exports: list = field(default_factory=list)  # (name, vaddr, flags)
    name: str = ""  # the app's name: the label of the slot it loads from
    version: tuple = (0, 0, 0)  # the manifest's major.minor.patch
    exports_count: int = 0  # the prefix of the firmware's export table the imports need
    init_array_vaddr: int = 0  # static constructors: init_count words in the data segment
    init_count: int = 0
    fini_array_vaddr: int = 0  # static destructors, called last first
    fini_count: int = 0
    format_version: int = FORMAT_VERSION
    sha256: bytes = b""
    signature: bytes = b""  # written as it is (a test's tampering), unless to_bytes signs anew

    @property
    def code_span(self) -> int:
        """IRAM/PSRAM: where the data segment starts in the loaded region (code rounded up to the
        alignment). XIP: the code size."""
        if self.strategy not in COPIED_STRATEGIES:
            return len(self.code)
        align = 1 << self.align_log2
        return -(-len(self.code) // align) * align

    def call_arrays(self) -> tuple[int, int, int, int]:
        """The header's last four fields, in their order."""
        return self.init_array_vaddr, self.init_count, self.fini_array_vaddr, self.fini_count

    def to_bytes(self, *, checked: bool = True, sign=None) -> bytes:
        """The image file, signed by `sign` (digest -> 64-byte signature) when given, else with
        `signature` if it has one. checked=False skips check_tables: only for tests that make
        images the loader must refuse."""
        if checked:
            check_tables(self)
        signed = sign is not None or bool(self.signature)
        flags = self.flags & ~FLAG_SIGNED | (FLAG_SIGNED if signed else 0)
        strtab, offsets = _string_table([n for n, _ in self.imports] + [n for n, _, _ in self.exports])
        body = b"".join([
            self.code,
            self.data,
            b"".join(struct.pack("<I", offset) for offset in self.fixups),
            b"".join(IMPORT.pack(offsets[name], index) for name, index in self.imports),
            b"".join(EXPORT.pack(offsets[name], vaddr, flags) for name, vaddr, flags in self.exports),
            strtab,
        ])
        image_size = HEADER_SIZE + len(body) + HASH_SIZE + (SIGNATURE_SIZE if signed else 0)
        header = HEADER.pack(MAGIC, self.format_version, HEADER_SIZE, self.chip_id, STRATEGIES[self.strategy],
                             self.align_log2, image_size, len(self.code), len(self.data), self.bss_size,
                             self.code_vaddr, self.data_vaddr, len(self.fixups), len(self.imports),
                             self.import_slots_vaddr, len(self.exports), len(strtab), self.exports_id, flags,
                             self.exports_count, self.name.encode("ascii", "replace"), *self.version, 0,
                             *self.call_arrays())
        hashed = header + body
        digest = hashlib.sha256(hashed).digest()
        if not signed:
            return hashed + digest
        return hashed + digest + (sign(digest) if sign is not None else self.signature)


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _string_table(names: list[str]) -> tuple[bytes, dict]:
    table, offsets = bytearray(), {}
    for name in names:
        if name not in offsets:
            offsets[name] = len(table)
            table += name.encode() + b"\0"
    return _pad4(bytes(table)), offsets


# ---- the rules the loader applies to the tables (docs/image-format.md, "Verification") ----------

def check_tables(img: Image) -> None:
    """Raise DynappsError("app NAME: ...") for the first rule the image breaks."""
    for problem in _problems(img):
        raise DynappsError(f"app {img.name or '(unnamed)'}: {problem}")


def _problems(img: Image):
    """Each broken rule, as a sentence; checked lazily, in the loader's order."""
    yield from _identity_problems(img)
    yield from _field_problems(img)
    yield from _segment_problems(img)
    yield from _fixup_problems(img)
    yield from _import_problems(img)
    yield from _export_problems(img)
    yield from _call_array_problems(img)


def _fits(value: int, bits: int) -> bool:
    return isinstance(value, int) and 0 <= value < 1 << bits


def _identity_problems(img: Image):
    raw = img.name.encode("ascii", "replace")
    if not raw or len(raw) > NAME_SIZE or not all(0x21 <= b < 0x7F for b in raw):
        yield f"name {img.name!r} is not 1 to {NAME_SIZE} printable ASCII characters (a partition label)"
    if len(img.version) != 3 or not all(_fits(part, 16) for part in img.version):
        yield f"version {'.'.join(map(str, img.version))}: each of major.minor.patch must be 0 to 65535"


def _field_problems(img: Image):
    if img.strategy not in STRATEGIES:
        yield f"unknown strategy {img.strategy!r}"
        return
    widths = {"chip id": (img.chip_id, 16), "flags": (img.flags, 16), "exports id": (img.exports_id, 32),
              "exports count": (img.exports_count, 16),
              "bss size": (img.bss_size, 32), "code address": (img.code_vaddr, 32),
              "data address": (img.data_vaddr, 32), "import slots address": (img.import_slots_vaddr, 32)}
    for what, (value, bits) in widths.items():
        if not _fits(value, bits):
            yield f"{what} {value} does not fit {bits} bits"
    if img.strategy in COPIED_STRATEGIES and img.align_log2 not in ALIGN_LOG2_RANGE:
        yield f"{img.strategy.upper()} alignment 2^{img.align_log2} is outside 2^2 .. 2^12"


def _segment_problems(img: Image):
    if not img.code:
        yield "the code segment is empty"
    for what, segment in (("code", img.code), ("data", img.data)):
        if len(segment) % 4:
            yield f"the {what} segment is {len(segment)} bytes, not a multiple of 4 (the linker script must align it)"
    if img.code_vaddr + len(img.code) > ADDRESS_SPACE:
        yield f"code at {img.code_vaddr:#x} + {len(img.code)} bytes runs past the 32-bit address space"
    if img.data_vaddr + len(img.data) + img.bss_size > ADDRESS_SPACE:
        yield f"data + bss at {img.data_vaddr:#x} run past the 32-bit address space"
    if img.strategy in COPIED_STRATEGIES and img.code_span + len(img.data) + img.bss_size >= ADDRESS_SPACE:
        yield "code + data + bss need 4 GiB or more of RAM"
    if img.strategy == "xip" and img.code_vaddr < HEADER_SIZE:
        yield f"XIP code at {img.code_vaddr:#x} leaves no room for the {HEADER_SIZE}-byte header before it"


def _fixup_problems(img: Image):
    if img.fixups and img.strategy == "xip":
        yield f"an XIP image has no fix-ups, this one has {len(img.fixups)}"
        return
    code_end, data_start = len(img.code), img.code_span
    data_end = data_start + len(img.data)
    for offset in img.fixups:
        inside = offset + 4 <= code_end or data_start <= offset and offset + 4 <= data_end
        if not _fits(offset, 32) or offset % 4 or not inside:
            yield (f"fix-up at offset {offset:#x} is not a 4-aligned word inside the code [0, {code_end:#x}) "
                   f"or data [{data_start:#x}, {data_end:#x}) segment")


def _name_problem(kind: str, name: str):
    if not name or "\0" in name or not name.isascii():
        return f"{kind} name {name!r} is not a non-empty ASCII string without NUL"
    return None


def _import_problems(img: Image):
    if img.imports:
        slots, count = img.import_slots_vaddr, len(img.imports)
        data_end = img.data_vaddr + len(img.data)
        if slots % 4 or img.data_vaddr % 4:
            yield (f"import slots at {slots:#x} (data at {img.data_vaddr:#x}) are not 4-aligned "
                   "(the linker script must align __dynapps_imports)")
        if not img.data_vaddr <= slots <= slots + 4 * count <= data_end:
            yield (f"{count} import slots at {slots:#x} are not inside the data segment "
                   f"[{img.data_vaddr:#x}, {data_end:#x})")
    for name, index in img.imports:
        problem = _name_problem("import", name)
        if problem:
            yield problem
        if not _fits(index, 32) or index >= img.exports_count:
            yield (f"import {name}: firmware index {index} is not inside the export table prefix the image "
                   f"names (its first {img.exports_count} entries)")
    if img.exports_count == 0 and img.exports_id != 0:
        yield f"exports id {img.exports_id:#x} with an empty export table prefix (it must be 0)"


def _export_problems(img: Image):
    seen = 0
    code_end = img.code_vaddr + len(img.code)
    for name, vaddr, flags in img.exports:
        problem = _name_problem("export", name)
        if problem:
            yield problem
        if not img.code_vaddr <= vaddr < code_end:
            yield f"export {name} at {vaddr:#x} is outside the code segment [{img.code_vaddr:#x}, {code_end:#x})"
        if flags not in (0, EXPORT_FLAG_INIT, EXPORT_FLAG_DEINIT) or flags & seen:
            yield f"export {name}: flags {flags} (at most one init and one deinit, never both on one export)"
        seen |= flags


def _call_array_problems(img: Image):
    """Constructor and destructor arrays: 4-aligned words inside the data segment, each the address
    of a function in the code segment; in a copied (IRAM or PSRAM) image each word has its fix-up."""
    data_end, code_end = img.data_vaddr + len(img.data), img.code_vaddr + len(img.code)
    fixups = set(img.fixups)
    for kind, vaddr, count in (("constructor", img.init_array_vaddr, img.init_count),
                               ("destructor", img.fini_array_vaddr, img.fini_count)):
        if not (_fits(vaddr, 32) and _fits(count, 32)):
            yield f"{kind} array at {vaddr} with {count} entries does not fit 32 bits"
            continue
        if count == 0:
            continue  # the address means nothing
        if vaddr % 4 or not img.data_vaddr <= vaddr <= vaddr + 4 * count <= data_end:
            yield (f"{count} {kind}s at {vaddr:#x} are not 4-aligned words inside the data segment "
                   f"[{img.data_vaddr:#x}, {data_end:#x})")
            continue
        for at in range(vaddr, vaddr + 4 * count, 4):
            offset = at - img.data_vaddr
            entry = struct.unpack_from("<I", img.data, offset)[0]
            if not img.code_vaddr <= entry < code_end:
                yield f"{kind} at {at:#x} calls {entry:#x}, outside the code segment [{img.code_vaddr:#x}, {code_end:#x})"
            if img.strategy in COPIED_STRATEGIES and img.code_span + offset not in fixups:
                yield f"{kind} at {at:#x} has no fix-up: it would call its link address"


# ---- reading ------------------------------------------------------------------------------------

def read(data: bytes, source: str = "image") -> Image:
    """Parse and verify an image; any inconsistency is a DynappsError naming `source`."""
    def fail(message: str) -> DynappsError:
        return DynappsError(message, source)

    if len(data) < 8:
        raise fail(f"truncated: {len(data)} bytes is less than a header and a hash")
    magic, version, header_size = struct.unpack_from("<IHH", data)
    if magic != MAGIC:
        raise fail(f"not a dynapps image (magic {magic:#010x})")
    if version != FORMAT_VERSION or header_size != HEADER_SIZE:
        raise fail(f"format version {version} (header {header_size} bytes) is not version {FORMAT_VERSION}")
    if len(data) < HEADER_SIZE + HASH_SIZE:
        raise fail(f"truncated: {len(data)} bytes is less than a header and a hash")
    signature_size = SIGNATURE_SIZE if struct.unpack_from("<H", data, 60)[0] & FLAG_SIGNED else 0
    (_magic, _version, _header_size, chip_id, strategy, align_log2, image_size, code_size, data_size, bss_size,
     code_vaddr, data_vaddr, fixup_count, import_count, import_slots, export_count, strtab_size, exports_id,
     flags, exports_count, raw_name, major, minor, patch, reserved2, *call_arrays) = HEADER.unpack_from(data)
    if reserved2:
        raise fail("reserved header fields are not 0")
    if image_size > len(data):
        raise fail(f"truncated: header says {image_size} bytes, file has {len(data)}")
    if image_size < HEADER_SIZE + HASH_SIZE + signature_size:
        raise fail(f"header says the image is {image_size} bytes, less than a header, a hash"
                   + (" and a signature" if signature_size else ""))
    hash_at = image_size - HASH_SIZE - signature_size
    digest = hashlib.sha256(data[:hash_at]).digest()
    if digest != data[hash_at:hash_at + HASH_SIZE]:
        raise fail("SHA-256 mismatch: the image is corrupted")
    position = HEADER_SIZE

    def take(size: int) -> bytes:
        nonlocal position
        if position + size > hash_at:
            raise fail("tables run past the end of the image")
        chunk = data[position:position + size]
        position += size
        return chunk

    code, segment_data = take(code_size), take(data_size)
    fixups = list(struct.unpack(f"<{fixup_count}I", take(4 * fixup_count)))
    raw_imports = [IMPORT.unpack(take(IMPORT.size)) for _ in range(import_count)]
    raw_exports = [EXPORT.unpack(take(EXPORT.size)) for _ in range(export_count)]
    strtab = take(strtab_size)
    if position != hash_at:
        raise fail("sizes in the header do not add up to the image size")
    if strtab_size % 4:
        raise fail(f"string table is {strtab_size} bytes, not a multiple of 4")
    strategy_name = {v: k for k, v in STRATEGIES.items()}.get(strategy)
    if strategy_name is None:
        raise fail(f"unknown strategy {strategy}")

    def name(offset: int, what: str) -> str:
        end = strtab.find(b"\0", offset) if offset < len(strtab) else -1
        if end < 0:
            raise fail(f"{what}: string offset {offset} does not start a NUL-terminated name inside the "
                       f"{len(strtab)}-byte string table")
        return strtab[offset:end].decode("ascii", "replace")

    img = Image(chip_id, strategy_name, align_log2, code, segment_data, bss_size, code_vaddr, data_vaddr,
                import_slots, exports_id, flags, fixups,
                [(name(o, f"import {n}"), i) for n, (o, i) in enumerate(raw_imports)],
                [(name(o, f"export {n}"), v, f) for n, (o, v, f) in enumerate(raw_exports)],
                _header_name(raw_name, fail), (major, minor, patch), exports_count, *call_arrays, version, digest,
                data[hash_at + HASH_SIZE:image_size])
    for problem in _problems(img):
        raise fail(problem)
    return img


def _header_name(raw: bytes, fail) -> str:
    """The NUL-padded name field: the name, then only NULs."""
    text = raw.rstrip(b"\0")
    if b"\0" in text:
        raise fail(f"app name field {raw!r} has bytes after its NUL")
    return text.decode("ascii", "replace")


def segment_bytes(elf_path: str, start: int, end: int, alias_delta: int = 0) -> bytes:
    """The bytes of [start, end) as the ELF's allocated sections with contents lay them out; sections
    linked at `alias_delta` from that range (XIP rodata at its data-bus address) count as in it.
    A section that starts inside the range must end inside it: the segment sizes come from the
    link analysis, and a longer section would silently grow the segment past them."""
    buffer = bytearray(end - start)
    elf = Elf32(elf_path)
    for section in elf.sections:
        if not section.allocated or section.type == SHT_NOBITS:  # PROGBITS, or INIT_ARRAY when .data holds only that
            continue
        address = section.addr
        if alias_delta and start + alias_delta <= address < end + alias_delta:
            address -= alias_delta
        if start <= address < end:
            if address + section.size > end:
                raise DynappsError(f"section {section.name} [{address:#x}, {address + section.size:#x}) runs past "
                                   f"the end of its segment [{start:#x}, {end:#x})")
            buffer[address - start:address - start + section.size] = elf.data[section.offset:section.offset + section.size]
    return bytes(buffer)


def parse_version(text: str) -> tuple[int, int, int]:
    """The manifest's `major.minor.patch` (manifest.py checked its form) as three numbers."""
    major, minor, patch = (int(part) for part in text.split("."))
    return major, minor, patch


def export_prefix(imports, prefix_ids) -> tuple[int, int]:
    """(count, id) of the shortest prefix of the firmware's export table that holds every import:
    a firmware whose table starts with it loads the image, so appending exports changes nothing."""
    count = max((index + 1 for _name, index in imports), default=0)
    return count, prefix_ids[count - 1] if count else 0


def from_link(analysis: LinkAnalysis, elf_path: str, chip_id: int, has_fpu: bool, prefix_ids: tuple,
              version: str = "0.0.0") -> Image:
    """Build the image of a linked app from its ELF and link analysis (link.py); check_tables
    (run by to_bytes) refuses an analysis the loader would refuse."""
    code_start, data_start = analysis.code_vaddr, analysis.data_vaddr
    imports = [(entry.name, entry.index) for entry in analysis.imports]
    exports_count, exports_id = export_prefix(imports, prefix_ids)
    try:
        code = segment_bytes(elf_path, code_start, code_start + analysis.code_size, analysis.rodata_delta)
        data = segment_bytes(elf_path, data_start, data_start + analysis.data_size)
    except DynappsError as error:
        raise DynappsError(f"app {analysis.app}: {error}") from None
    return Image(
        chip_id=chip_id,
        strategy=analysis.strategy,
        align_log2=analysis.align_log2,
        code=code,
        data=data,
        bss_size=analysis.bss_size,
        code_vaddr=code_start,
        data_vaddr=data_start,
        import_slots_vaddr=analysis.import_slots_vaddr,
        exports_id=exports_id,
        exports_count=exports_count,
        flags=FLAG_FPU_ABI if has_fpu else 0,
        fixups=list(analysis.fixups),
        imports=imports,
        exports=[(entry.name, entry.vaddr, entry.flags) for entry in analysis.exports],
        name=analysis.app,
        version=parse_version(version),
        init_array_vaddr=analysis.init_array_vaddr if analysis.init_count else 0,
        init_count=analysis.init_count,
        fini_array_vaddr=analysis.fini_array_vaddr if analysis.fini_count else 0,
        fini_count=analysis.fini_count,
    )


def signer(key_path: str):
    """The `sign` of to_bytes for the private key at `key_path`, or None for ""."""
    if not key_path:
        return None
    key = signing.load_private_key(Path(key_path), key_path)
    return lambda digest: signing.sign_digest(key, digest)


def verify_signature(img: Image, public_key: bytes) -> bool:
    """Whether the image's signature verifies with `public_key` (what the loader checks)."""
    return bool(img.signature) and signing.verify_digest(public_key, img.sha256, img.signature)


def build(analysis: LinkAnalysis, elf_path: str, settings: ImageSettings) -> bytes:
    """The image file of a linked app, signed when the project has a key, refused when it does
    not fit the slot layout.py gave it."""
    data = from_link(analysis, elf_path, settings.chip_id, settings.has_fpu, settings.export_prefix_ids,
                     settings.version).to_bytes(sign=signer(settings.signing_key))
    slot_size = analysis.slot.size
    # An XIP image leaves the sector after it for the loader's trust mark (trustmark.py).
    needed_bytes = trustmark.slot_bytes_needed(len(data)) if analysis.strategy == "xip" else len(data)
    if needed_bytes > slot_size:
        granularity = settings.slot_alignment  # the slot is laid out in these: the hint must be one
        needed = (needed_bytes + granularity - 1) // granularity * granularity // 1024
        mark = f" (with the {trustmark.SECTOR}-byte sector of its trust mark: {needed_bytes})" \
            if needed_bytes != len(data) else ""
        raise DynappsError(f"app {analysis.app}: image is {len(data)} bytes{mark} but its slot holds "
                           f"{slot_size}; set limits.flash: {needed}K in {settings.manifest}")
    return data


def describe(image: Image, chip_names: dict) -> str:
    """Human-readable contents, for `./dev inspect`."""
    lines = [
        f"app         {image.name} {'.'.join(map(str, image.version))}",
        f"format      v{image.format_version}, chip {chip_names.get(image.chip_id, hex(image.chip_id))}, "
        f"strategy {image.strategy}{', FPU ABI' if image.flags & FLAG_FPU_ABI else ''}",
        f"code        {len(image.code):7} B at {image.code_vaddr:#010x}",
        f"data        {len(image.data):7} B at {image.data_vaddr:#010x}",
        f"bss         {image.bss_size:7} B at {image.data_vaddr + len(image.data):#010x}",
        f"firmware    needs the first {image.exports_count} exports of its table (prefix id {image.exports_id:#010x})",
        f"sha256      {image.sha256.hex()}",
        "signature   " + (f"ECDSA P-256 r||s {image.signature[:8].hex()}...{image.signature[-8:].hex()}"
                          if image.signature else "none (unsigned)"),
        f"fix-ups     {len(image.fixups)}" + (": " + " ".join(f"+{o:#x}" for o in image.fixups[:16]) if image.fixups else "")
        + (" ..." if len(image.fixups) > 16 else ""),
        f"imports     {len(image.imports)}, slots at {image.import_slots_vaddr:#010x}",
    ]
    if image.strategy == "xip":
        lines.insert(2, f"slot        mapped at {image.code_vaddr - HEADER_SIZE:#010x} (where it was linked)")
    lines += [f"  [{slot}] {name} = firmware symbol #{index}" for slot, (name, index) in enumerate(image.imports)]
    lines += [f"{kind:11} {count}" + (f" at {vaddr:#010x}" if count else "")
              for kind, vaddr, count in (("ctors", image.init_array_vaddr, image.init_count),
                                         ("dtors", image.fini_array_vaddr, image.fini_count))]
    lines.append(f"exports     {len(image.exports)}")
    lines += [f"  {name} at {vaddr:#010x}" + (f" ({EXPORT_FLAG_NAMES[f]})" if f in EXPORT_FLAG_NAMES else "")
              for name, vaddr, f in image.exports]
    return "\n".join(lines)
