"""The live agent's protocol core (firmware/components/dynapps/agent/dynapps_agent.c) on the host,
under AddressSanitizer and UndefinedBehaviorSanitizer, with the loader core and the host test
port (tests/c/host_port.c, whose real lock checks the port contract): tests/c/agent/
test_agent_frames.c feeds it 200,000 frames, well-formed, corrupted, cut short, replayed and
random, and checks every answer, the port contract and that every byte comes back. Also: the agent
compiles warning-free for rv32 (ilp32 and ilp32f)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from test_loader_host import (CORE_SOURCES, COMPONENT, HOST_DEFINES, HOST_FLAGS, HOST_LIBS, INCLUDES, RV32_COMPILER,
                              RV32_FLAGS, ROOT)

AGENT = COMPONENT / "agent" / "dynapps_agent.c"
HARNESS = [ROOT / "tests/c/host_port.c", ROOT / "tests/c/check.c", ROOT / "tests/c/agent/test_agent_frames.c"]


@pytest.mark.skipif(not shutil.which("gcc"), reason="host gcc not installed")
def test_agent_survives_every_kind_of_frame(tmp_path):
    binary = tmp_path / "test_agent_frames"
    build = subprocess.run(["gcc", *HOST_FLAGS, *HOST_DEFINES, *INCLUDES, f"-I{COMPONENT / 'agent'}",
                            *map(str, [*CORE_SOURCES, AGENT, *HARNESS]), "-o", str(binary), *HOST_LIBS],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = {**os.environ, "ASAN_OPTIONS": "allocator_may_return_null=1"}  # a BUF_ALLOC of 4 GB is NO_MEM
    result = subprocess.run([str(binary), "200000"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS 200000 iterations")


@pytest.mark.skipif(not shutil.which(RV32_COMPILER), reason=f"{RV32_COMPILER} not installed")
@pytest.mark.parametrize("abi", [("rv32imc", "ilp32", "5"), ("rv32imafc", "ilp32f", "18")])
def test_agent_compiles_for_rv32_without_warnings(tmp_path, abi):
    march, mabi, chip = abi
    flags = [f for f in RV32_FLAGS if not f.startswith(("-march", "-mabi", "-DDYNAPPS_CHIP_ID"))]
    result = subprocess.run([RV32_COMPILER, *flags, f"-march={march}", f"-mabi={mabi}", f"-DDYNAPPS_CHIP_ID={chip}",
                             f"-I{COMPONENT / 'include'}", f"-I{COMPONENT / 'agent'}", "-c", str(AGENT),
                             "-o", str(tmp_path / "agent.o")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
