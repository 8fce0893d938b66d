"""The redeploy unit's script, run the way systemd runs it, against a recording stand-in for `pcinspect`.

systemd joins the continuation lines and turns ``$$`` into ``$`` before `/bin/sh -euc` sees the script; the
test does the same, moves the unit's fixed paths into a temporary folder, and checks what the script does to
the dropped archives and which commands it runs for each outcome of deploy and reload.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "pcinspect-deploy.service"
INSTALLED = "/opt/pcinspect/.venv/bin/pcinspect"
STAND_IN = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  deploy) [ "$DEPLOY_FAILS" = 0 ] || { echo "pcinspect deploy: error: bundle is not signed" >&2; exit 1; }
          echo "$STATE/bundles/bracket/versions/0003-abc"; echo "pcinspect deploy: 0003-abc is current";;
  control) exit "$RELOAD_FAILS";;
esac
"""


def unit_script(root: Path, pcinspect: Path) -> str:
    """ExecStart's shell script as systemd hands it to /bin/sh, with the unit's paths moved under ``root``."""
    text = UNIT.read_text().replace("\\\n", " ")
    (command,) = re.findall(r"^ExecStart=/bin/sh -euc '(.*)'$", text, re.MULTILINE)
    command = command.replace("$$", "$").replace(INSTALLED, str(pcinspect))
    return command.replace("/var/lib/pcinspect", str(root / "var")).replace("/etc/pcinspect", str(root / "etc"))


def run_unit(tmp_path: Path, *, deploy_fails: bool = False, reload_fails: bool = False,
             signing_key: bool = True) -> tuple[subprocess.CompletedProcess, list[str]]:
    pcinspect = tmp_path / "pcinspect"
    pcinspect.write_text(STAND_IN)
    pcinspect.chmod(0o755)
    (tmp_path / "etc").mkdir(exist_ok=True)
    if signing_key:
        (tmp_path / "etc" / "bundle-signing.pub").write_text("key\n")
    env = {**os.environ, "CALLS": str(tmp_path / "calls"), "STATE": str(tmp_path / "var"),
           "DEPLOY_FAILS": str(int(deploy_fails)), "RELOAD_FAILS": str(int(reload_fails))}
    result = subprocess.run(["/bin/sh", "-euc", unit_script(tmp_path, pcinspect)], env=env, capture_output=True,
                            text=True, timeout=30)
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return result, calls


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "var" / "drop"
    folder.mkdir(parents=True)
    (folder / "bracket.tar").write_bytes(b"archive")
    return folder


def test_deployed_archive_is_reloaded_and_marked_deployed(tmp_path, drop) -> None:
    result, calls = run_unit(tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in drop.iterdir()) == ["bracket.tar.deployed"]
    assert calls[0].startswith(f"deploy {drop / 'bracket.tar'} --root {tmp_path}/var/bundles/{{recipe}}")
    assert calls[1] == f"control reload --config {tmp_path}/etc/station.yaml"


def test_deploy_passes_the_signing_key_when_the_box_has_one(tmp_path, drop) -> None:
    _, calls = run_unit(tmp_path)
    assert calls[0].endswith(f"--public-key {tmp_path}/etc/bundle-signing.pub")


def test_deploy_without_a_signing_key_file_leaves_the_check_to_the_service(tmp_path, drop) -> None:
    _, calls = run_unit(tmp_path, signing_key=False)
    assert "--public-key" not in calls[0]


def test_refused_archive_is_marked_rejected_and_fails_the_unit(tmp_path, drop) -> None:
    result, calls = run_unit(tmp_path, deploy_fails=True)
    assert result.returncode == 1
    assert "bundle is not signed" in result.stderr
    assert sorted(p.name for p in drop.iterdir()) == ["bracket.tar.rejected"]
    assert [c.split()[0] for c in calls] == ["deploy"]


def test_bundle_the_service_refuses_is_rolled_back_on_disk(tmp_path, drop) -> None:
    result, calls = run_unit(tmp_path, reload_fails=True)
    assert result.returncode == 1
    assert calls[-1] == f"rollback --root {tmp_path}/var/bundles/bracket"
    assert sorted(p.name for p in drop.iterdir()) == ["bracket.tar.rejected"]


def test_empty_drop_folder_does_nothing(tmp_path) -> None:
    (tmp_path / "var" / "drop").mkdir(parents=True)
    result, calls = run_unit(tmp_path)
    assert result.returncode == 0 and calls == []


def test_every_shell_dollar_is_escaped_from_systemd() -> None:
    (command,) = re.findall(r"^ExecStart=(.*)$", UNIT.read_text().replace("\\\n", " "), re.MULTILINE)
    assert re.findall(r"(?<!\$)\$(?!\$)", command.replace("$$", "")) == []
