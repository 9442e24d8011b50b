"""What a run of the emulator produced: its result, faults, benchmark marks, and the records of
watches and mappings a test can inspect. Plain data: nothing here touches Unicorn."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import errors


class EmulatorError(errors.DynappsError):
    """The machine can't be set up as asked (bad ELF, firmware outside the memory map, ...)."""


@dataclass
class Fault:
    kind: str  # flash_write, iram_access, fetch_unmapped, fetch_protected, read_unmapped,
    #            write_unmapped, read_protected, write_protected, exception,
    #            invalid_instruction, emulator_error, sha_read, ibus_data_read
    pc: int
    address: int | None = None
    size: int | None = None
    value: int | None = None
    cause: int | None = None  # mcause, for "exception"
    region: str = ""
    detail: str = ""
    ra: int = 0
    sp: int = 0

    def __str__(self) -> str:
        text = f"{self.kind} at pc {self.pc:#010x}"
        if self.cause is not None:
            text += f" mcause {self.cause}"
        if self.address is not None:
            text += f": address {self.address:#010x}"
            if self.region:
                text += f" ({self.region})"
        if self.size is not None:
            text += f", {self.size}-byte access"
        if self.detail:
            text += f" [{self.detail}]"
        return text + f" (ra {self.ra:#010x}, sp {self.sp:#010x})"


@dataclass(frozen=True)
class Mark:
    value: int
    instructions: int | None  # None when the machine does not count


@dataclass(frozen=True)
class DataAccess:
    write: bool
    address: int
    size: int
    value: int
    pc: int


@dataclass
class ExecWatch:
    """Instructions executed in [start, end)."""

    start: int
    end: int
    count: int = 0
    handle: int | None = None


@dataclass
class FlashReadWatch:
    """Data reads through the flash windows, as the cache lines of `line_bytes` they touch, with
    the instruction count of each first touch since `reset` (a time model's cache misses)."""

    line_bytes: int
    lines: dict[int, int] = field(default_factory=dict)  # line address -> instruction count
    handles: list[int] = field(default_factory=list)

    def lines_between(self, first: int, second: int) -> set[int]:
        """Line addresses first touched at instruction counts in [first, second)."""
        return {line for line, at in self.lines.items() if first <= at < second}


@dataclass
class DataWatch:
    """Data reads and writes in [start, end)."""

    start: int
    end: int
    accesses: list[DataAccess] = field(default_factory=list)
    handle: int | None = None

    @property
    def reads(self) -> list[DataAccess]:
        return [a for a in self.accesses if not a.write]

    @property
    def writes(self) -> list[DataAccess]:
        return [a for a in self.accesses if a.write]


@dataclass
class Mapping:
    start: int
    end: int
    kind: str  # firmware, data_view, mmu_exec, mmu_data, mmu_exec_in_data_view
    flash_offset: int | None
    executable: bool


@dataclass
class RunResult:
    exit_code: int | None  # None: the firmware did not exit
    uart_text: str
    instructions: int | None  # None unless count_instructions
    faults: list[Fault]
    reason: str  # exit, fault, timeout, instruction_limit, link_closed (the UART link's host side stopped it)
    seconds: float
    marks: list[Mark]
    uart_bytes: bytes = b""

    @property
    def ok(self) -> bool:
        return self.reason == "exit" and self.exit_code == 0 and not self.faults

    def between_marks(self, first: int, second: int) -> int:
        """Instructions from the first mark `first` to the next mark `second` after it."""
        for i, mark in enumerate(self.marks):
            if mark.value == first:
                for later in self.marks[i + 1:]:
                    if later.value == second:
                        if mark.instructions is None or later.instructions is None:
                            raise EmulatorError("marks carry no counts: Machine(count_instructions=True)")
                        return later.instructions - mark.instructions
        raise EmulatorError(f"no mark {first} followed by mark {second}")
