"""Talk to the live agent in a running firmware (docs/live.md): push an app, load and unload it,
call its exports with typed arguments.

    dev = dynapps.remote.connect("/dev/ttyUSB0")            # or the emulator's pty (scons live)
    dev.push("build/apps/fir.dapp")                          # no reset, no bootloader
    out = numpy.zeros(64, numpy.int16)
    dev.apps.fir.fir_filter(samples, out, 64)                # typed from apps/fir/app.yaml

`dev.apps.<app>.<export>` are built from the project's manifests (the project folder given to
connect, "." by default): arguments are checked and converted by the export's C signature,
lowered to the registers of the chip's calling convention (liveproto.py), and arrays behind
pointers travel in buffers the host allocates in the device and frees after the call; a
non-const pointer's buffer is read back into the numpy array, bytearray or list passed. Every
failure is one DynappsError line naming the port, the app and the export.
"""

from __future__ import annotations

import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import chips
from . import image as image_format
from . import liveproto as proto
from .errors import DynappsError

DEFAULT_BAUD = 115200
DEFAULT_TIMEOUT_S = 5.0
PUSH_TIMEOUT_S = 30.0  # erasing a flash slot takes a while on a board
STRATEGY_NAMES = {code: name for name, code in image_format.STRATEGIES.items()}


def _numpy():
    """numpy when the caller has imported it, else None: a numpy array argument means numpy is
    imported already, and a build that only reads this module's constants does not pay 70 ms
    for importing it."""
    return sys.modules.get("numpy")


@dataclass(frozen=True)
class LoadedApp:
    name: str
    strategy: str
    version: tuple
    ram_bytes: int


@dataclass(frozen=True)
class DeviceInfo:
    protocol: int
    fpu_abi: bool
    chip_id: int
    firmware_id: int
    max_payload: int
    heap_free: int  # byte-addressable internal RAM
    exec_free: int  # executable RAM
    psram_free: int
    apps: tuple


def _app_record(raw: bytes) -> LoadedApp:
    name, strategy, major, minor, patch, ram = proto.APP_RECORD.unpack(raw)
    return LoadedApp(name.rstrip(b"\0").decode(), STRATEGY_NAMES.get(strategy, str(strategy)), (major, minor, patch),
                     ram)


def _log_to_stderr(line: str) -> None:
    print(f"device: {line}", file=sys.stderr)


class Device:
    """One session with an agent. Use connect(); close() (or `with`) releases the port."""

    def __init__(self, port, name: str, project: Path | None, timeout_s: float, on_log):
        self._port = port
        self.name = name
        self.timeout_s = timeout_s
        self.log: list[str] = []
        self._on_log = on_log
        self._reader = proto.FrameReader(self._log_line)
        self._frames: list[proto.Frame] = []
        self._sequence = 0
        self.info = self.hello()
        self.apps = _AppsNamespace(self, project)

    # ------------------------------------------------------------ frames

    def _log_line(self, line: str) -> None:
        self.log.append(line)
        if self._on_log:
            self._on_log(line)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests send corrupted frames through this)."""
        self._port.write(data)
        self._port.flush()

    def receive(self, timeout_s: float | None = None) -> proto.Frame:
        """The next frame the agent sends; DynappsError when none comes in time."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while not self._frames:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DynappsError(f"{self.name}: no answer from the agent within {timeout_s or self.timeout_s:g} s "
                                   "(is the firmware built with the agent, CONFIG_DYNAPPS_AGENT?)")
            self._port.timeout = min(left, 0.05)
            data = self._port.read(max(1, self._port.in_waiting))
            if data:
                self._frames += self._reader.feed(data)
        return self._frames.pop(0)

    def next_sequence(self) -> int:
        sequence = self._sequence
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        return sequence

    def request(self, frame_type: int, payload: bytes = b"", what: str = "", timeout_s: float | None = None) -> bytes:
        """Send one command with the session's next sequence number; its answer's payload."""
        sequence = self.next_sequence() if frame_type != proto.HELLO else 0
        self.send_raw(proto.encode(frame_type, sequence, payload))
        frame = self.receive(timeout_s)
        if frame.sequence != sequence and frame_type != proto.HELLO:
            raise DynappsError(f"{self.name}: answer to frame {frame.sequence}, expected {sequence}")
        if frame.is_error:
            agent, loader = frame.error()
            detail = f" ({loader})" if loader else ""
            raise DynappsError(f"{self.name}: {what or _COMMAND_NAMES.get(frame_type, frame_type)}: {agent}{detail}")
        if frame.type != frame_type | proto.ANSWER:
            raise DynappsError(f"{self.name}: answer of type {frame.type:#x} to command {frame_type:#x}")
        return frame.payload

    # ------------------------------------------------------------ commands

    def hello(self) -> DeviceInfo:
        """Start a new session: the agent aborts a push and frees the buffers of the previous one."""
        payload = self.request(proto.HELLO, what="hello")
        (version, fpu, chip, firmware_id, first, max_payload, heap, exec_free, psram,
         count) = proto.HELLO_FIXED.unpack_from(payload)
        records = payload[proto.HELLO_FIXED.size:]
        apps = tuple(_app_record(records[i * proto.APP_RECORD.size:(i + 1) * proto.APP_RECORD.size])
                     for i in range(count))
        if version != proto.VERSION:
            raise DynappsError(f"{self.name}: the agent speaks protocol {version}, this host {proto.VERSION}")
        self._sequence = first
        self.info = DeviceInfo(version, bool(fpu), chip, firmware_id, max_payload, heap, exec_free, psram, apps)
        return self.info

    def push(self, image, progress=None, chunk: int | None = None) -> LoadedApp:
        """Send an image (bytes or a .dapp path) and load it in place of the running copy.
        `progress(sent, total)` is called after every piece."""
        data = Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)
        header = _image_header(data, str(image) if isinstance(image, (str, Path)) else "image")
        name, strategy = header["name"], header["strategy"]
        self._check_image(header, name)
        what = f"push {name}"
        self.request(proto.PUSH_BEGIN, struct.pack("<IIB3x", len(data), proto.crc32(data), strategy)
                     + proto.name_field(name), what, PUSH_TIMEOUT_S)
        piece = chunk or self.info.max_payload - 4
        for offset in range(0, len(data), piece):
            self.request(proto.PUSH_DATA, struct.pack("<I", offset) + data[offset:offset + piece], what)
            if progress:
                progress(min(offset + piece, len(data)), len(data))
        return _app_record(self.request(proto.PUSH_END, what=what, timeout_s=PUSH_TIMEOUT_S))

    def _check_image(self, header: dict, name: str) -> None:
        image_chip, device_chip = header["chip_id"], self.info.chip_id
        if image_chip != device_chip:
            names = chips.chip_names()
            raise DynappsError(f"{self.name}: {name} is built for {names.get(image_chip, image_chip)}, the device is "
                               f"{names.get(device_chip, device_chip)}")

    def load(self, name: str) -> LoadedApp:
        """Load an app from its flash slot."""
        return _app_record(self.request(proto.LOAD, proto.name_field(name), f"load {name}"))

    def unload(self, name: str) -> None:
        self.request(proto.UNLOAD, proto.name_field(name), f"unload {name}")

    def reload(self, name: str) -> LoadedApp:
        """Unload the app and load it again from its slot."""
        self.unload(name)
        return self.load(name)

    def loaded(self) -> dict:
        return {app.name: app for app in self.hello().apps}

    def call_registers(self, app: str, export: str, ints, floats=(), kind: int = proto.RETURN_INT) -> tuple:
        """Call an export with raw register values; (a0, a1), or (fa0 bits, 0)."""
        name = export.encode()
        payload = (proto.CALL_FIXED.pack(proto.name_field(app), kind, len(ints), len(floats), len(name))
                   + struct.pack(f"<{len(ints)}I{len(floats)}I", *ints, *floats) + name)
        return struct.unpack("<II", self.request(proto.CALL, payload, f"{app}.{export}"))

    # ------------------------------------------------------------ buffers

    def alloc(self, size: int) -> int:
        """A zeroed buffer of `size` bytes in the device; its address."""
        return struct.unpack("<I", self.request(proto.BUF_ALLOC, struct.pack("<I", size), "buffer alloc"))[0]

    def write(self, address: int, data: bytes, offset: int = 0) -> None:
        piece = self.info.max_payload - 8
        for at in range(0, len(data), piece):
            self.request(proto.BUF_WRITE, struct.pack("<II", address, offset + at) + data[at:at + piece],
                         "buffer write")

    def read(self, address: int, size: int, offset: int = 0) -> bytes:
        out = bytearray()
        while len(out) < size:
            count = min(self.info.max_payload, size - len(out))
            out += self.request(proto.BUF_READ, struct.pack("<III", address, offset + len(out), count),
                                "buffer read")
        return bytes(out)

    def free(self, address: int) -> None:
        self.request(proto.BUF_FREE, struct.pack("<I", address), "buffer free")

    # ------------------------------------------------------------ the port

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_COMMAND_NAMES = {proto.HELLO: "hello", proto.PUSH_BEGIN: "push", proto.PUSH_DATA: "push", proto.PUSH_END: "push",
                  proto.LOAD: "load", proto.UNLOAD: "unload", proto.CALL: "call", proto.BUF_ALLOC: "buffer alloc",
                  proto.BUF_WRITE: "buffer write", proto.BUF_READ: "buffer read", proto.BUF_FREE: "buffer free"}


def _image_header(data: bytes, source: str) -> dict:
    """What a push needs of an image (chip, strategy, name), and no more: not image.read's full
    check, because the loader on the device verifies every image it is sent, and a corrupt or
    tampered image must reach it to be refused there (tests/test_live.py, test_signing.py)."""
    if len(data) < image_format.HEADER_SIZE:
        raise DynappsError(f"truncated: {len(data)} bytes is less than an image header", source)
    fields = image_format.HEADER.unpack_from(data)
    if fields[0] != image_format.MAGIC:
        raise DynappsError(f"not a dynapps image (magic {fields[0]:#010x})", source)
    return {"chip_id": fields[3], "strategy": fields[4],
            "name": fields[20].rstrip(b"\0").decode(errors="replace")}


# ---------------------------------------------------------------- typed calls from the manifests

class _AppsNamespace:
    """`dev.apps.<name>`: one _RemoteApp per manifest of the project."""

    def __init__(self, device: Device, project: Path | None):
        self._device = device
        self._project = project
        self._apps: dict | None = None

    def _load(self) -> dict:
        if self._apps is None:
            from . import manifest  # the project's manifests, read once, when first used

            root = Path(self._project or ".").resolve()
            self._apps = {m.name: _RemoteApp(self._device, m) for m in manifest.load_all(root)}
        return self._apps

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        apps = self._load()
        if name not in apps:
            raise DynappsError(f"no app '{name}' in the project (apps: {', '.join(sorted(apps)) or 'none'})")
        return apps[name]

    def __dir__(self):
        return sorted(self._load())


class _RemoteApp:
    def __init__(self, device: Device, app):
        self._device = device
        self.name = app.name
        self._exports = {e.name: RemoteFunction(device, app.name, e.signature) for e in app.exports}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._exports[name]
        except KeyError:
            raise DynappsError(f"{self.name} has no export '{name}' (exports: {', '.join(self._exports)})") from None

    def __dir__(self):
        return list(self._exports)


class RemoteFunction:
    """One export, called with Python values checked against its C signature."""

    def __init__(self, device: Device, app: str, signature):
        self._device = device
        self.app = app
        self.signature = signature
        self.__doc__ = str(signature)

    def _checked(self, vtype, what: str):
        if vtype is None:
            raise DynappsError(f"{self.app}.{self.signature.name}: {what} is of a type remote calls can't pass "
                               f"({self.signature}); integers, floats, doubles, enums and pointers work")
        return vtype

    def __call__(self, *args):
        what = f"{self.app}.{self.signature.name}"
        self._params = [(p, self._checked(proto.value_type(p.type), f"argument {p.name}"))
                        for p in self.signature.params]
        self._returns = self._checked(proto.value_type(self.signature.returns), "the returned value")
        if len(args) != len(self._params):
            raise DynappsError(f"{what} takes {len(self._params)} argument(s) ({self.signature}), got {len(args)}")
        registers = proto.Registers(self._device.info.fpu_abi, [], [])
        buffers = []
        try:
            for (param, vtype), value in zip(self._params, args, strict=True):
                if vtype.kind == "pointer":
                    value = self._pointer_argument(param, value, buffers, f"{what} argument {param.name}")
                registers.add(vtype, value, f"{what} argument {param.name}")
            kind = proto.return_kind(self._returns, registers.fpu)
            low, high = self._device.call_registers(self.app, self.signature.name, registers.ints, registers.floats,
                                                    kind)
            for buffer in buffers:
                buffer.copy_back(self._device)
            return proto.decode_return(self._returns, low, high)
        finally:
            for buffer in buffers:
                self._device.free(buffer.address)

    def _pointer_argument(self, param, value, buffers: list, what: str) -> int:
        """The address to pass for a pointer argument: an int as it is, None as NULL, anything
        array-like copied into a device buffer (read back afterwards if the pointer is not const)."""
        if value is None:
            return 0
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        element = proto.element_type(param.type)
        data = _array_bytes(value, element, what)
        if not data:
            raise DynappsError(f"{what}: an empty array (pass None for NULL)")
        address = self._device.alloc(len(data))
        buffers.append(_ArgumentBuffer(address, value, element, len(data), not param.type.target.const))
        self._device.write(address, data)
        return address


def _array_bytes(value, element: proto.ValueType, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode() + b"\0"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.ndarray):
        want = numpy.dtype("<" + element.struct_code)
        if value.dtype.kind != want.kind or value.dtype.itemsize != want.itemsize:
            raise DynappsError(f"{what}: a {value.dtype} array for {element.c_name} elements: pass a {want} array")
        return numpy.ascontiguousarray(value, dtype=want).tobytes()
    if isinstance(value, (list, tuple)):
        try:
            return struct.pack(f"<{len(value)}{element.struct_code}", *value)
        except struct.error as error:
            raise DynappsError(f"{what}: {error} (elements are {element.c_name})") from None
    raise DynappsError(f"{what}: expected an address, None, bytes, a list or an array, got {type(value).__name__}")


@dataclass
class _ArgumentBuffer:
    address: int
    value: object
    element: proto.ValueType
    size: int
    writable: bool

    def copy_back(self, device: Device) -> None:
        """What the export wrote through a non-const pointer, into the caller's own object."""
        if not self.writable or isinstance(self.value, (bytes, str, tuple, memoryview)):
            return
        data = device.read(self.address, self.size)
        numpy = _numpy()
        if numpy is not None and isinstance(self.value, numpy.ndarray):  # any layout: copyto writes through
            numpy.copyto(self.value, numpy.frombuffer(data, dtype="<" + self.element.struct_code).reshape(self.value.shape))
        elif isinstance(self.value, bytearray):
            self.value[:] = data
        elif isinstance(self.value, list):
            self.value[:] = struct.unpack(f"<{len(self.value)}{self.element.struct_code}", data)


def connect(port: str, *, project=".", baud: int = DEFAULT_BAUD, timeout_s: float = DEFAULT_TIMEOUT_S,
            on_log=_log_to_stderr) -> Device:
    """Open `port` (a serial device, or the emulator's pty) and start a session with its agent.
    `on_log(line)` gets every line of the firmware's own output on that port (None: keep them in
    Device.log only)."""
    import serial  # pyserial: esptool's dependency, in requirements.txt

    try:
        handle = serial.Serial(port, baud, timeout=0.05, write_timeout=timeout_s)
    except (serial.SerialException, OSError) as error:
        raise DynappsError(f"{port}: can't open the port ({error})") from None
    try:
        return Device(handle, port, Path(project) if project is not None else None, timeout_s, on_log)
    except BaseException:
        handle.close()
        raise


# ---------------------------------------------------------------- scons push / scons live

@dataclass(frozen=True)
class PushOptions:
    """`scons push`: where the agent is and what to push (a typed contract, like FlashOptions)."""

    port: str
    image: str
    project: str
    baud: int = DEFAULT_BAUD


def push_app(options: PushOptions, stream=None) -> LoadedApp:
    """Push one built image and reload it, with a progress line; returns what the agent loaded."""
    from . import console

    stream = stream or sys.stdout
    started = time.monotonic()

    def progress(sent: int, total: int) -> None:
        stream.write(f"\rPUSH {Path(options.image).name} {sent}/{total} bytes {100 * sent // total}%")
        stream.flush()

    with connect(options.port, project=options.project, baud=options.baud, on_log=None) as device:
        loaded = device.push(options.image, progress)
        stream.write("\n")
        console.say(f"{loaded.name} {'.'.join(map(str, loaded.version))} running ({loaded.strategy}, "
                    f"{loaded.ram_bytes} bytes of RAM) on {options.port} after {time.monotonic() - started:.2f} s")
        return loaded


def monitor(port: str, baud: int = DEFAULT_BAUD, stream=None) -> None:
    """Print the firmware's own output on `port` line by line, until Ctrl-C: what is not an agent
    frame (the agent's frames, if another host talks to it meanwhile, are left out)."""
    import serial

    stream = stream or sys.stdout
    reader = proto.FrameReader(lambda line: (stream.write(line + "\n"), stream.flush()))
    try:
        with serial.Serial(port, baud, timeout=0.2) as handle:
            while True:
                reader.feed(handle.read(max(1, handle.in_waiting)))
    except (serial.SerialException, OSError) as error:
        raise DynappsError(f"{port}: {error}") from None
    except KeyboardInterrupt:
        pass


LIVE_SETUP = "build/emulator/live/live.json"  # written by `scons live`, read by `dynapps live`


@dataclass(frozen=True)
class LiveSetup:
    """What `dynapps live` boots: the chip, the agent firmware ELF and the flash image."""

    chip: str
    firmware: str
    flash: str

    def write(self, path: Path) -> None:
        import json

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> LiveSetup:
        import json

        return cls(**json.loads(path.read_text()))


def serve_live(setup: LiveSetup) -> None:
    """Boot the agent firmware in the emulator, UART on a new pty, until Ctrl-C."""
    from . import console
    from .emulator.bridge import LiveEmulator

    live = LiveEmulator(setup.chip, Path(setup.firmware), Path(setup.flash).read_bytes())
    try:
        live.start()
        console.say(f"LIVE agent on {live.port} (PORT={live.port}); Ctrl-C stops it")
        while live.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        result = live.stop()  # the machine's thread ends before the interpreter does
    if result is not None and result.faults:
        raise DynappsError(f"the live emulator stopped: {result.faults[0]}")
