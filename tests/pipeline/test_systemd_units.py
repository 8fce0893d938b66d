"""systemd units: `systemd-analyze verify` finds nothing wrong, and the edge unit keeps what the service needs.

The units name binaries of the installed edge box (/opt/pcinspect/.venv/bin/pcinspect) that do not exist on
a development machine; the check runs on copies whose absent Exec binaries point at a stub that does, so any
remaining message is a real unit-file error (unknown key, bad value, missing section). systemd-analyze
reports those as warnings with exit status 0, hence any output fails the check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("pcinspect-edge.service", "pcinspect-deploy.path", "pcinspect-deploy.service", "pcinspect-bridge-opcua.service",
         "pcinspect-bridge-mqtt.service", "pcinspect-dashboard.service")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (no systemd here)")
EXEC_PATH = re.compile(r"^(Exec\w+=[-@:+!]*)(/\S+)", re.MULTILINE)
TRUE = ("1", "yes", "y", "true", "t", "on")


def installable_copies(folder: Path) -> Path:
    """Copy the units into ``folder``, pointing every Exec binary absent from this machine at a stub."""
    stub = folder / "bin" / "stub"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    units = folder / "units"
    units.mkdir()
    for name in UNITS:
        text = (UNITS_DIR / name).read_text()
        (units / name).write_text(EXEC_PATH.sub(lambda m: m[1] + (m[2] if Path(m[2]).exists() else str(stub)), text))
    return units


def verify(unit: Path) -> str:
    """Everything ``systemd-analyze verify`` says about ``unit`` (its dependencies' own errors left out)."""
    result = subprocess.run([ANALYZE, "verify", "--man=no", "--recursive-errors=no", str(unit)], cwd=unit.parent,
                            capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr).strip() + ("" if result.returncode == 0 else f"\n(exit {result.returncode})")


def directives(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (in file order) of a unit file."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def edge_service() -> dict[str, list[str]]:
    return directives(UNITS_DIR / "pcinspect-edge.service")["Service"]


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_finds_nothing_wrong_with_the_unit(tmp_path, name) -> None:
    assert verify(installable_copies(tmp_path) / name) == ""


@needs_analyze
def test_verify_check_reports_an_unknown_key(tmp_path) -> None:
    unit = installable_copies(tmp_path) / "pcinspect-edge.service"
    unit.write_text(unit.read_text().replace("[Service]\n", "[Service]\nRestartEvery=5\n"))
    assert "Unknown key 'RestartEvery'" in verify(unit)


def test_edge_unit_is_type_notify(edge_service) -> None:
    assert edge_service["Type"] == ["notify"]


def test_edge_unit_sets_a_watchdog(edge_service) -> None:
    assert len(edge_service["WatchdogSec"]) == 1 and edge_service["WatchdogSec"][0] not in ("", "0", "infinity")


def test_edge_unit_restarts_on_failure(edge_service) -> None:
    assert edge_service["Restart"] == ["on-failure"]


def test_edge_unit_keeps_gpu_devices_visible(edge_service) -> None:
    assert not any(value.lower() in TRUE for value in edge_service.get("PrivateDevices", []))


def test_edge_unit_allows_jit_compiled_gpu_code(edge_service) -> None:
    assert not any(value.lower() in TRUE for value in edge_service.get("MemoryDenyWriteExecute", []))


def test_edge_unit_gives_the_compiled_cpu_kernels_a_writable_cache(edge_service) -> None:
    """ProtectSystem=strict and ProtectHome leave numba no cache directory of its own: the unit names one that
    systemd creates writable (CacheDirectory), so a restart loads the kernels instead of compiling them."""
    environment = dict(v.split("=", 1) for line in edge_service.get("Environment", []) for v in line.split())
    assert "pcinspect" in " ".join(edge_service.get("CacheDirectory", [])).split()
    assert environment.get("NUMBA_CACHE_DIR", "").startswith("/var/cache/pcinspect/")


def test_edge_unit_gives_the_gpu_kernels_a_writable_cache(edge_service) -> None:
    """Triton caches compiled kernels under the home directory, which ProtectHome hides: without a cache of its own a
    GPU box would compile each kernel again after every restart, at its first use inside a frame."""
    environment = dict(v.split("=", 1) for line in edge_service.get("Environment", []) for v in line.split())
    assert environment.get("TRITON_CACHE_DIR", "").startswith("/var/cache/pcinspect/")
