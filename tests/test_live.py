"""The live loop end to end (docs/live.md): the real host code (dynapps.remote, through pyserial)
talks to the real agent C code, built into the emulator firmware by `scons live-firmware`, over
the emulator's UART bridged to a pty. Push, call with arrays, edit-push-call again, unload, heap
back where it started; corrupted, truncated and replayed frames refused."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import pytest

from conftest import PROJECT_FILES, REPO, Project
from conftest import _env as conftest_env

pytest.importorskip("unicorn")
pytest.importorskip("serial")
if not shutil.which("riscv64-unknown-elf-gcc"):
    pytest.skip("riscv64-unknown-elf-gcc not installed", allow_module_level=True)

import yaml  # noqa: E402

from dynapps import chips, firmware  # noqa: E402
from dynapps import liveproto as proto  # noqa: E402
from dynapps import remote  # noqa: E402
from dynapps.emulator import devices  # noqa: E402
from dynapps.emulator.bridge import LiveEmulator  # noqa: E402
from dynapps.errors import DynappsError  # noqa: E402

LIVE_APP = """version: 1.0.0
description: pushed and edited by tests/test_live.py
strategy: {strategy}
exports:
  - int32_t {name}_value(int32_t x)
  - void {name}_scale(int16_t *samples, uint32_t count, int16_t factor)
"""
LIVE_SOURCE = """#include <stdint.h>
#include <stdio.h>
int32_t {name}_value(int32_t x) {{ printf("{name} value of %ld\\n", (long)x); return x + {step}; }}
void {name}_scale(int16_t *samples, uint32_t count, int16_t factor)
{{
    for (uint32_t i = 0; i < count; i++) samples[i] = (int16_t)(samples[i] * factor + {step});
}}
"""
EDITED = {"live": "iram", "livex": "xip"}
PSRAM_APP = {"livep": "psram"}  # built and pushed on a chip with PSRAM (esp32p4)


def write_live_app(project: Project, name: str, step: int) -> None:
    project.write(f"apps/{name}/app.yaml", LIVE_APP.format(name=name, strategy={**EDITED, **PSRAM_APP}[name]))
    project.write(f"apps/{name}/{name}.c", LIVE_SOURCE.format(name=name, step=step))


def make_project(root, chip: str) -> Project:
    for relative in PROJECT_FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    shutil.copytree(REPO / "apps", root / "apps")
    project = Project(root)
    text = (REPO / "dynapps.yaml").read_text()
    names = [*EDITED, *(PSRAM_APP if chips.profile(chip).has_psram else ())]
    text = re.sub(r"order: \[([^\]]*)\]", rf"order: [\1, {', '.join(names)}]", text)
    project.write("dynapps.yaml", text.replace("chip: esp32c3", f"chip: {chip}"))
    for name in names:
        write_live_app(project, name, 1)
    project.scons("-j2", "apps", "flash-apps", "live-firmware")
    return project


@pytest.fixture(scope="module", params=["esp32c3", "esp32p4"])
def built(request, tmp_path_factory):
    """The example apps plus `live` (IRAM) and `livex` (XIP), the agent firmware, for ilp32 (esp32c3)
    and ilp32f (esp32p4)."""
    return request.param, make_project(tmp_path_factory.mktemp(f"live-{request.param}"), request.param)


def boot(project: Project, chip: str) -> LiveEmulator:
    root = project.root
    return LiveEmulator(chip, root / "build/emulator/live/firmware.elf",
                        (root / "build/emulator/flash.bin").read_bytes()).start()


@pytest.fixture
def live(built):
    chip, project = built
    emulator = boot(project, chip)
    device = remote.connect(emulator.port, project=project.root, on_log=None)
    yield project, emulator, device
    device.close()
    result = emulator.stop()
    assert result is not None and result.reason == "link_closed", result
    assert not result.faults, result.faults


def image(project: Project, name: str) -> bytes:
    return (project.root / f"build/apps/{name}.dapp").read_bytes()


# ---------------------------------------------------------------- the loop


def test_hello_describes_the_firmware(live, built):
    project, emulator, device = live
    info = device.info
    assert info.protocol == proto.VERSION
    assert info.fpu_abi == (built[0] == "esp32p4")
    assert info.chip_id == {"esp32c3": 5, "esp32p4": 18}[built[0]]
    # the whole export table's id (an image names only the prefix it needs: header offset 56)
    assert info.firmware_id == firmware.table_id(yaml.safe_load((project.root / "firmware/exports.yaml").read_text())["symbols"])
    assert info.heap_free > 100_000 and info.apps == ()


def test_the_agent_firmware_depends_on_the_agent_port_header(built):
    """emu_agent.c includes dynapps_agent_port.h from the agent's folder: SCons must know it, so
    that an edit of the header rebuilds the agent firmware."""
    _chip, project = built
    agent_object = next((project.root / "build/emulator/live/obj").rglob("emu_agent.o"))
    tree = project.scons("-Q", "--tree=prune", str(agent_object.relative_to(project.root))).stdout
    assert "agent/dynapps_agent_port.h" in tree, tree


@pytest.mark.parametrize("app", ["live", "livex"])
def test_push_call_edit_push_call_unload_heap_back(live, app):
    push_call_edit_push_call_unload(live, app)


@pytest.mark.parametrize("built", ["esp32p4"], indirect=True)
def test_psram_push_runs_from_psram(live):
    """A PSRAM image is pushed into a RAM buffer like an IRAM one; the loader places it in PSRAM
    (the agent's hello counts PSRAM taken, and given back at unload)."""
    project, _, device = live
    psram_before = device.hello().psram_free
    assert psram_before > 0
    assert device.push(image(project, "livep")).strategy == "psram"
    assert device.hello().psram_free < psram_before  # the app's copy is in PSRAM
    device.unload("livep")
    push_call_edit_push_call_unload(live, "livep")
    assert device.hello().psram_free == psram_before


def push_call_edit_push_call_unload(live, app):
    project, emulator, device = live
    heap_before = device.hello().heap_free
    loaded = device.push(image(project, app))
    assert (loaded.name, loaded.strategy) == (app, {**EDITED, **PSRAM_APP}[app])
    functions = getattr(device.apps, app)
    assert getattr(functions, f"{app}_value")(41) == 42
    assert f"{app} value of 41" in device.log  # what the app prints comes back as a log line
    numpy = pytest.importorskip("numpy")
    samples = numpy.arange(-8, 8, dtype=numpy.int16)
    getattr(functions, f"{app}_scale")(samples, len(samples), 3)
    assert samples.tolist() == [3 * v + 1 for v in range(-8, 8)]

    write_live_app(project, app, 1000)  # the edit
    project.scons("apps")
    assert device.push(image(project, app)).name == app
    assert getattr(functions, f"{app}_value")(41) == 1041
    values = [5, -7, 9]
    getattr(functions, f"{app}_scale")(values, 3, -2)  # a list in, read back in place (no numpy needed)
    assert values == [990, 1014, 982]
    assert [a.name for a in device.hello().apps] == [app]

    device.unload(app)
    info = device.hello()
    assert info.apps == ()
    assert info.heap_free == heap_before
    write_live_app(project, app, 1)
    project.scons("apps")


def test_arrays_in_and_out(live):
    project, emulator, device = live
    device.push(image(project, "crc"))
    device.push(image(project, "abi"))
    heap = device.hello().heap_free
    source = bytes(range(256)) * 4  # 1 KiB
    copy = bytearray(len(source))
    assert device.apps.crc.crc32_copy_and_compute(copy, source, len(source)) == zlib.crc32(source[:64])  # its staging
    assert copy == source
    assert device.apps.crc.crc32_compute(source, len(source)) == zlib.crc32(source)
    numpy = pytest.importorskip("numpy")
    words = numpy.zeros(100, numpy.int32)
    device.apps.abi.abi_fill(words, 100, 7)
    assert words.tolist() == [7 * i - i * i for i in range(100)]
    strided = numpy.zeros(200, numpy.int32)
    device.apps.abi.abi_fill(strided[::2], 100, 3)  # a view: written back through it, the gaps untouched
    assert strided[::2].tolist() == [3 * i - i * i for i in range(100)] and not strided[1::2].any()
    assert device.apps.abi.abi_sum(words, 100) == sum(7 * i - i * i for i in range(100)) & 0xFFFFFFFF
    with pytest.raises(DynappsError, match=r"abi\.abi_sum argument values: a float64 array for int32_t"):
        device.apps.abi.abi_sum(numpy.zeros(4), 4)
    assert device.hello().heap_free == heap  # every argument buffer was freed


def test_values_follow_the_calling_convention(live):
    project, emulator, device = live
    device.push(image(project, "abi"))
    abi = device.apps.abi
    assert abi.abi_i8(-100, 100) == (-200 + 256)  # int8_t wraps: -200 -> 56
    assert abi.abi_u8(200, 100) == 44
    assert abi.abi_i16(-1000, 5) == -3005
    assert abi.abi_i64(-(1 << 40), 3 * 10**12) == (-(1 << 40) >> 1) - 10**12
    assert abi.abi_u64(1 << 63, 12345) == (1 << 63) // 12345 + ((1 << 63) % 1000003) * 12345 % (1 << 64)
    assert abi.abi_f32(1.5, 2.0) == pytest.approx(1.5 * 2.0 + 1.5 / 3.0)
    assert abi.abi_f64(1.5, 2.25) == 1.5 * 2.25 + 1.5 / 3.0
    assert abi.abi_bool(True, False) in (True, False)
    assert abi.abi_f32_identity(-0.1) == pytest.approx(-0.1)
    assert abi.abi_f64_identity(1e300) == 1e300
    with pytest.raises(DynappsError, match=r"abi_i8 argument a: 300 does not fit int8_t"):
        abi.abi_i8(300, 0)
    with pytest.raises(DynappsError, match="split between a7 and the stack"):
        abi.abi_mixed(1, 2, 3, 4, 5, 6, 7)
    with pytest.raises(DynappsError, match="abi_s1: argument x is of a type remote calls can't pass"):
        abi.abi_s1(0)


def test_load_and_unload_from_the_slot(live):
    project, emulator, device = live
    assert device.load("pid").name == "pid"
    with pytest.raises(DynappsError, match=r"load pid: DYNAPPS_AGENT_ERR_LOADER \(DYNAPPS_ERR_ALREADY_LOADED\)"):
        device.load("pid")
    assert device.reload("pid").name == "pid"
    device.unload("pid")
    with pytest.raises(DynappsError, match=r"unload pid: .*DYNAPPS_ERR_NOT_FOUND"):
        device.unload("pid")
    with pytest.raises(DynappsError, match=r"nosuch\.f: .*DYNAPPS_ERR_NOT_FOUND"):
        device.call_registers("nosuch", "f", [])


# ---------------------------------------------------------------- frames refused


def error_of(device: remote.Device, data: bytes) -> tuple:
    device.send_raw(data)
    frame = device.receive()
    assert frame.is_error, frame
    return frame.error()


def test_corrupted_truncated_and_replayed_frames_are_refused(live):
    project, emulator, device = live
    sequence = device.next_sequence()
    good = proto.encode(proto.BUF_ALLOC, sequence, struct.pack("<I", 64))
    expected = {2: "DYNAPPS_AGENT_ERR_BAD_VERSION", 3: "DYNAPPS_AGENT_ERR_BAD_CRC",  # version, type
                5: "DYNAPPS_AGENT_ERR_BAD_CRC", 8: "DYNAPPS_AGENT_ERR_TRUNCATED",  # sequence, length (longer)
                9: "DYNAPPS_AGENT_ERR_TOO_LONG", 12: "DYNAPPS_AGENT_ERR_BAD_CRC",  # length, payload
                len(good) - 1: "DYNAPPS_AGENT_ERR_BAD_CRC"}  # the CRC itself
    for at, error in expected.items():
        bad = bytearray(good)
        bad[at] ^= 0x10
        assert error_of(device, bytes(bad))[0] == error, at
    started = time.monotonic()
    assert error_of(device, good[:len(good) - 3])[0] == "DYNAPPS_AGENT_ERR_TRUNCATED"  # the host went away
    assert time.monotonic() - started < 3
    device.send_raw(good)  # still the next sequence number: nothing above was run
    answer = device.receive()
    assert answer.type == proto.BUF_ALLOC | proto.ANSWER
    address = struct.unpack("<I", answer.payload)[0]
    assert error_of(device, good) == ("DYNAPPS_AGENT_ERR_BAD_SEQUENCE", None)  # replayed
    old_session = proto.encode(proto.BUF_FREE, device.next_sequence(), struct.pack("<I", address))
    device.hello()
    assert error_of(device, old_session)[0] == "DYNAPPS_AGENT_ERR_BAD_SEQUENCE"  # from the session before


def test_malformed_frames_get_their_own_errors(live):
    project, emulator, device = live
    cases = {
        "DYNAPPS_AGENT_ERR_TOO_LONG": proto.HEADER.pack(proto.MAGIC, proto.VERSION, proto.BUF_ALLOC, 0, 1 << 20),
        "DYNAPPS_AGENT_ERR_BAD_VERSION": proto.HEADER.pack(proto.MAGIC, 9, proto.HELLO, 0, 0),
    }
    for expected, data in cases.items():
        assert error_of(device, data)[0] == expected
    device.hello()
    assert error_of(device, proto.encode(0x42, device.next_sequence()))[0] == "DYNAPPS_AGENT_ERR_UNKNOWN_COMMAND"
    assert error_of(device, proto.encode(proto.LOAD, device.next_sequence(), b"x"))[0] == "DYNAPPS_AGENT_ERR_BAD_PAYLOAD"
    assert error_of(device, proto.encode(proto.PUSH_DATA, device.next_sequence(), bytes(8)))[0] == \
        "DYNAPPS_AGENT_ERR_NO_PUSH"
    assert error_of(device, proto.encode(proto.BUF_READ, device.next_sequence(), struct.pack("<III", 64, 0, 4)))[0] \
        == "DYNAPPS_AGENT_ERR_BAD_BUFFER"
    noise = b"I (123) boot: some log text\n\xa5\x00"
    device.send_raw(noise)  # not a frame: skipped, and the agent keeps serving
    assert device.hello().protocol == proto.VERSION


def test_a_command_before_hello_is_refused(built):
    import serial

    chip, project = built
    with boot(project, chip) as emulator, serial.Serial(emulator.port, timeout=5) as port:
        port.write(proto.encode(proto.BUF_ALLOC, 1, struct.pack("<I", 4)))
        reader = proto.FrameReader(lambda line: None)
        frames = []
        deadline = time.monotonic() + 5
        while not frames and time.monotonic() < deadline:
            frames = reader.feed(port.read(max(1, port.in_waiting)))
        assert frames and frames[0].error() == ("DYNAPPS_AGENT_ERR_NO_SESSION", None)


# ---------------------------------------------------------------- images refused, never run


def corrupt_code(data: bytes) -> bytes:
    bad = bytearray(data)
    bad[proto_header_size() + 8] ^= 0x01  # a code byte: only the image's SHA-256 can tell
    return bytes(bad)


def proto_header_size() -> int:
    from dynapps import image as image_format

    return image_format.HEADER_SIZE


def send_pieces(device: remote.Device, data: bytes, piece: int = 1024) -> None:
    for offset in range(0, len(data), piece):
        device.request(proto.PUSH_DATA, struct.pack("<I", offset) + data[offset:offset + piece])


def test_a_corrupted_iram_push_is_refused_and_the_old_app_keeps_running(live):
    project, emulator, device = live
    device.push(image(project, "live"))
    with pytest.raises(DynappsError, match=r"push live: DYNAPPS_AGENT_ERR_LOADER \(DYNAPPS_ERR_HASH_MISMATCH\)"):
        device.push(corrupt_code(image(project, "live")))
    assert device.apps.live.live_value(1) == 2
    device.unload("live")


def test_a_half_written_xip_slot_is_never_run(live):
    project, emulator, device = live
    good = image(project, "livex")
    heap = device.hello().heap_free
    device.push(good)
    with pytest.raises(DynappsError, match=r"DYNAPPS_ERR_HASH_MISMATCH"):
        device.push(corrupt_code(good))
    assert device.loaded() == {}  # the old copy went before its slot was erased; the new one was refused
    # A push that stops half-way (the host went away): the slot holds half an image.
    device.request(proto.PUSH_BEGIN, struct.pack("<IIB3x", len(good), zlib.crc32(good), 2) + proto.name_field("livex"))
    send_pieces(device, good[:len(good) // 2])
    device.hello()  # a new session aborts the push
    with pytest.raises(DynappsError, match=r"load livex: .*\(DYNAPPS_ERR_(HASH_MISMATCH|TRUNCATED|BAD_HEADER)\)"):
        device.load("livex")
    assert device.push(good).name == "livex"
    assert device.apps.livex.livex_value(1) == 2
    device.unload("livex")
    assert device.hello().heap_free == heap


def test_wrong_firmware_and_bad_push_sequences(live, built):
    project, emulator, device = live
    data = bytearray(image(project, "live"))
    other = {"esp32c3": (13, "esp32c6"), "esp32p4": (5, "esp32c3")}[built[0]]
    struct.pack_into("<H", data, 8, other[0])
    with pytest.raises(DynappsError, match=f"live is built for {other[1]}, the device is {built[0]}"):
        device.push(bytes(data))
    # an export table this firmware does not have: the device's loader refuses it (an image names
    # the prefix of the table it needs, which only the firmware can check), hash made right first
    data = bytearray(image(project, "live"))
    struct.pack_into("<I", data, 56, 0x12345678)
    data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()
    with pytest.raises(DynappsError, match="DYNAPPS_ERR_FIRMWARE_MISMATCH"):
        device.push(bytes(data))
    good = image(project, "live")
    device.request(proto.PUSH_BEGIN, struct.pack("<IIB3x", len(good), zlib.crc32(good), 1) + proto.name_field("live"))
    with pytest.raises(DynappsError, match="DYNAPPS_AGENT_ERR_PUSH_OFFSET"):
        device.request(proto.PUSH_DATA, struct.pack("<I", 4) + good[4:100])
    with pytest.raises(DynappsError, match="DYNAPPS_AGENT_ERR_PUSH_INCOMPLETE"):
        device.request(proto.PUSH_END)
    device.request(proto.PUSH_BEGIN, struct.pack("<IIB3x", len(good), 0, 1) + proto.name_field("live"))
    send_pieces(device, good)
    with pytest.raises(DynappsError, match="DYNAPPS_AGENT_ERR_PUSH_CRC"):
        device.request(proto.PUSH_END)
    assert device.hello().apps == ()


# ---------------------------------------------------------------- scons push, ./dev push


def test_scons_push_builds_pushes_and_reloads_with_a_progress_line(built):
    chip, project = built
    with boot(project, chip) as emulator:
        write_live_app(project, "live", 77)
        write_live_app(project, "livex", 78)  # another app edited: not built by pushing `live`
        result = project.scons("push", "APP=live", f"PORT={emulator.port}")
        assert re.search(r"PUSH live\.dapp (\d+)/\1 bytes 100%", result.stdout), result.stdout
        assert re.findall(r"^(?:CC|LINK|IMAGE|SUMMARY|GEN)\b.*$", result.stdout, re.M) == \
            ["CC apps/live/live.c", "LINK live", "IMAGE live.dapp"], result.stdout
        assert re.search(r"live 1\.0\.0 running \(iram, \d+ bytes of RAM\) on /dev/pts/\d+ after", result.stdout)
        with remote.connect(emulator.port, project=project.root, on_log=None) as device:
            assert device.apps.live.live_value(0) == 77
            device.unload("live")
        write_live_app(project, "live", 1)
        write_live_app(project, "livex", 1)
        project.scons("apps")
    missing = project.scons("push", "APP=live", check=False)
    assert missing.returncode == 2 and "push needs PORT=" in missing.stderr


@contextlib.contextmanager
def dynapps_command(*args: str, cwd=None, stderr=subprocess.STDOUT):
    """`python -m dynapps ARGS` running; at the end Ctrl-C must stop it with status 0 (killed if not)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen([sys.executable, "-m", "dynapps", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=stderr, text=True)
    try:
        yield process
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_dynapps_live_serves_on_a_pty_until_ctrl_c(built):
    chip, project = built
    with dynapps_command("live", cwd=project.root) as process:
        port = None
        for line in process.stdout:
            found = re.search(r"LIVE agent on (/dev/pts/\d+) \(PORT=\1\); Ctrl-C stops it", line)
            if found:
                port = found.group(1)
                break
        assert port, "no LIVE line"
        with remote.connect(port, project=project.root, on_log=None) as device:
            assert device.info.chip_id in (5, 18)


def test_dynapps_monitor_prints_the_firmware_output(built):
    chip, project = built
    root = project.root
    emulator = LiveEmulator(chip, root / "build/emulator/live/firmware.elf", (root / "build/emulator/flash.bin").read_bytes())
    try:
        with dynapps_command("monitor", emulator.port, stderr=subprocess.PIPE) as process:
            deadline = time.monotonic() + 30  # boot once the monitor has the port (pyserial drops what came before)
            while time.monotonic() < deadline and not any(
                    os.path.realpath(f"/proc/{process.pid}/fd/{fd}") == emulator.port
                    for fd in os.listdir(f"/proc/{process.pid}/fd")):
                time.sleep(0.05)
            emulator.start()
            assert select.select([process.stdout], [], [], 30)[0], "no output from dynapps monitor"
            assert process.stdout.readline().startswith("AGENT ready: protocol 1, heap ")
    finally:
        emulator.stop()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    bad = subprocess.run([sys.executable, "-m", "dynapps", "monitor", "/dev/nonexistent-port"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: /dev/nonexistent-port: ")
    assert "Traceback" not in bad.stderr


# ---------------------------------------------------------------- the C and Python sides agree


def test_emulator_header_and_devices_agree_on_flash_and_uart_registers():
    header = (REPO / "firmware" / "emulator" / "include" / "dynapps_emu.h").read_text()
    values = {name: int(value, 0) for name, value in
              re.findall(r"#define DYNAPPS_EMU_(\w+) (0x[0-9A-Fa-f]+|\d+)u?\b", header)}
    for name in ("FLASH_ERASE", "FLASH_WRITE", "FLASH_SECTOR_SIZE", "FLASH_OK", "FLASH_MISALIGNED",
                 "FLASH_BEYOND_FLASH", "FLASH_BAD_SOURCE", "FLASH_BAD_COMMAND"):
        assert values[name] == getattr(devices, name), name
    assert values["UART_STATUS"] == devices.UART_STATUS == 0x1C  # UART_STATUS_REG on every chip
    assert values["UART_FIFO"] == devices.UART_TX_FIFO == 0


def test_agent_protocol_constants_agree():
    header = (REPO / "firmware/components/dynapps/include/dynapps_agent.h").read_text()
    commands = dict(re.findall(r"X\(DYNAPPS_AGENT_(\w+), (0x[0-9A-F]+)\)", header))
    assert {name: int(value, 16) for name, value in commands.items()} == {
        name: getattr(proto, name) for name in commands}
    assert proto.agent_errors()[0] == "DYNAPPS_AGENT_OK" and "DYNAPPS_AGENT_ERR_BAD_SEQUENCE" in proto.agent_errors()
    assert proto.loader_errors()[6] == "DYNAPPS_ERR_BAD_MAGIC"
    assert int(re.search(r"HEADER_SIZE (\d+)u", header).group(1)) == proto.HEADER.size


def test_frame_reader_splits_log_lines_from_frames():
    lines = []
    reader = proto.FrameReader(lines.append)
    frame = proto.encode(proto.HELLO | proto.ANSWER, 7, b"abc")
    data = b"boot line\r\n" + frame + b"after\n" + frame[:5]
    frames = [f for i in range(0, len(data), 3) for f in reader.feed(data[i:i + 3])]
    assert frames == [proto.Frame(proto.HELLO | proto.ANSWER, 7, b"abc")]
    assert lines == ["boot line", "after"]
    assert proto.FrameReader(lines.append).feed(b"last line\n") == [] and lines[-1] == "last line"  # at once
    assert reader.feed(frame[5:]) == frames


def test_connect_to_nothing_is_one_line():
    with pytest.raises(DynappsError, match=r"/dev/nonexistent-port: can't open the port"):
        remote.connect("/dev/nonexistent-port")


def test_no_agent_on_the_port_times_out_with_one_line():
    import pty

    master, slave = pty.openpty()
    try:
        with pytest.raises(DynappsError, match=r"no answer from the agent within 0\.3 s \(is the firmware built "
                                               r"with the agent"):
            remote.connect(os.ttyname(slave), timeout_s=0.3)
    finally:
        os.close(master)
        os.close(slave)



# ---------------------------------------------------------------- dynapps watch


def _wait_for(event, what: str, seconds: float = 60):
    assert event.wait(seconds), f"no {what} within {seconds} s"
    event.clear()


def test_watch_builds_and_pushes_each_edit_and_survives_a_broken_one(built):
    import threading

    from dynapps import watch

    chip, project = built
    root, lines, pushes = project.root, [], []
    pushed = threading.Event()
    with boot(project, chip) as emulator, remote.connect(emulator.port, project=root, on_log=None) as device:
        scons = watch.InteractiveScons(root, [], [sys.executable, "-m", "SCons"], env=conftest_env())
        watcher = watch.Watcher(device, root, ["live", "livex"], scons, say=lines.append)
        stop = threading.Event()
        thread = threading.Thread(target=watch.watch, args=(watcher, stop),
                                  kwargs={"on_push": lambda done: (pushes.extend(done), pushed.set())})
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while not any(line.startswith("watch: live, livex") for line in lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any(line.startswith("watch: live, livex") for line in lines), lines
            write_live_app(project, "live", 40)  # an IRAM app: its image goes straight into RAM
            _wait_for(pushed, "push of live")
            assert [p.app for p in pushes] == ["live"] and device.apps.live.live_value(2) == 42
            write_live_app(project, "livex", 50)  # an XIP app: written into its slot
            _wait_for(pushed, "push of livex")
            assert pushes[-1].app == "livex" and pushes[-1].strategy == "xip" and device.apps.livex.livex_value(2) == 52
            project.write("apps/live/live.c", "this is not C\n")  # built, refused by the compiler: nothing pushed
            deadline = time.monotonic() + 60
            while not any("live.c" in line and "error" in line for line in lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(pushes) == 2 and device.apps.live.live_value(2) == 42, lines
            write_live_app(project, "live", 60)  # fixed: built and pushed again
            _wait_for(pushed, "push of the fixed live")
            assert device.apps.live.live_value(2) == 62
            project.write("apps/live/app.yaml", "exports: [\n")  # the project can't be read: nothing built
            deadline = time.monotonic() + 60
            while not any("apps/live/app.yaml" in line for line in lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any("apps/live/app.yaml" in line for line in lines) and len(pushes) == 3, lines
            errors = sum("apps/live/app.yaml" in line for line in lines)
            project.write("apps/live/live.c", "int broken;\n")  # a source edit while the project can't be read
            while sum("apps/live/app.yaml" in line for line in lines) == errors and time.monotonic() < deadline:
                time.sleep(0.05)
            assert thread.is_alive() and len(pushes) == 3, lines  # the error again, the watcher still there
            write_live_app(project, "live", 80)  # read again, built, pushed
            _wait_for(pushed, "push after the manifest was fixed")
            assert device.apps.live.live_value(2) == 82
        finally:
            stop.set()
            thread.join(timeout=60)
        assert not thread.is_alive() and scons.process is None
    write_live_app(project, "live", 1)
    write_live_app(project, "livex", 1)
    project.scons("apps")


def _line_starting(process, prefix: str, seconds: float = 60) -> str:
    """The first line of the process's output that starts with `prefix`, within `seconds` (read
    from the pipe itself: a buffered reader would hide lines it read ahead from select)."""
    deadline, pending = time.monotonic() + seconds, getattr(process, "pending", b"")
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.decode().startswith(prefix):
                process.pending = pending
                return line.decode()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([process.stdout], [], [], left)[0]:
            return ""
        piece = os.read(process.stdout.fileno(), 65536)
        if not piece:
            return ""
        pending += piece


def test_dynapps_watch_pushes_an_edit_until_ctrl_c(built):
    chip, project = built
    with boot(project, chip) as emulator:
        with dynapps_command("watch", emulator.port, "live", cwd=project.root) as process:
            assert _line_starting(process, "watch: live in "), "no watch line"
            write_live_app(project, "live", 70)
            line = _line_starting(process, "live: pushed")
            assert re.match(r"live: pushed \d+ bytes, running \(iram\) \d+\.\d\d s after the change was seen", line)
        with remote.connect(emulator.port, project=project.root, on_log=None) as device:
            assert device.apps.live.live_value(1) == 71
    write_live_app(project, "live", 1)
    project.scons("apps")
