"""The emulator's UART bridged to a pty, so that host code talks to the emulator firmware through
pyserial exactly as to a board on /dev/ttyUSB0 (docs/live.md).

`PtyLink` is the link the UART device (devices.Uart) receives from and sends to; `LiveEmulator`
boots a firmware with its UART on a new pty and runs it in a thread until `stop()` (or the
firmware exits). Nothing here imports SCons.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from pathlib import Path

from .. import chips
from .machine import Machine
from .results import RunResult

SEND_WAIT_S = 2.0  # how long a send waits for the host to read before the rest is dropped
LIVE_RUN_LIMIT_S = 24 * 3600.0  # a live machine runs until stopped; this only bounds a forgotten one


class PtyLink:
    """A pseudo-terminal: the emulator holds the master side, the host opens `path` (the slave)."""

    def __init__(self):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # bytes pass unchanged: no echo, no line editing, no CR/LF mapping
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.closed = False

    def receive(self, wait_s: float) -> bytes:
        """What the host wrote, waiting up to `wait_s` for the first byte (b"" if nothing came)."""
        if self.closed:
            return b""
        ready, _, _ = select.select([self._master], [], [], wait_s)
        if not ready:
            return b""
        try:
            return os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def send(self, data: bytes) -> None:
        """Give the host `data`; what it does not take within SEND_WAIT_S is dropped (it went away)."""
        view = memoryview(data)
        while view and not self.closed:
            try:
                view = view[os.write(self._master, view):]
            except BlockingIOError:
                if not select.select([], [self._master], [], SEND_WAIT_S)[1]:
                    return
            except OSError:
                return

    def close(self) -> None:
        """Tell the machine to stop (the UART stops it at its next status read)."""
        self.closed = True

    def release(self) -> None:
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class LiveEmulator:
    """Emulator firmware with its UART on a pty, running in a thread: `port` is the path to open."""

    def __init__(self, chip: str, firmware_elf: Path, flash_image: bytes, *, echo=None,
                 count_instructions: bool = False):
        self.link = PtyLink()
        self.machine = Machine(chips.profile(chip), flash_image, uart_link=self.link, echo=echo,
                               count_instructions=count_instructions)
        self.machine.load_firmware(firmware_elf)
        self.result: RunResult | None = None
        self._thread = threading.Thread(target=self._run, name="dynapps-live-emulator", daemon=True)

    @property
    def port(self) -> str:
        return self.link.path

    def _run(self) -> None:
        self.result = self.machine.run(timeout_s=LIVE_RUN_LIMIT_S)

    def start(self) -> LiveEmulator:
        """Start the machine's thread (once: starting a started machine does nothing)."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> RunResult | None:
        """Stop the machine (it stops at the UART's next status read) and wait for its thread."""
        self.link.close()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.link.release()
        return self.result

    def __enter__(self) -> LiveEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
