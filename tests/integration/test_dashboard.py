"""`pcinspect dashboard` rendered by a real headless Chromium against a live service and stream."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from stationkit import Scanner, Station, start_command, stop_process, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make install adds it as root)")


def chromium(tmp_path: Path, url: str, *action: str) -> str:
    """Load ``url`` headless, let its script poll, then perform ``action``; stdout."""
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=4000",
                             "--window-size=1280,900", *action, url], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def dashboard(station: Station, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A `pcinspect dashboard` process for the station (one per module: it starts in seconds, not milliseconds)."""
    tmp_path = tmp_path_factory.mktemp("dashboard")
    process = start_command(tmp_path, "dashboard", "dashboard", "--config", str(station.config))
    url = f"http://127.0.0.1:{station.ports['dashboard']}/"

    def up() -> bool:
        assert process.poll() is None, (tmp_path / "dashboard.log").read_text()
        try:
            return get(url + "api/state")[0] == 200
        except OSError:
            return False

    wait_for(up, 120, "the dashboard to serve")
    yield url
    assert stop_process(process) == 0


@needs_chromium
def test_the_page_shows_the_streamed_verdicts_and_failed_parts_and_renders_a_screenshot(
        station: Station, scanner: Scanner, dashboard: str, tmp_path: Path) -> None:
    seqs = scanner.stream(["tiny", "bulge", "good"])
    wait_for(lambda: f'"seq": {seqs[-1]}' in get(dashboard + "api/state")[1].decode(), what="the page state")

    dom = chromium(tmp_path, dashboard, "--dump-dom")
    rows = dict(re.findall(r'<tr data-seq="(\d+)" class="verdict">(.*?)</tr>', dom))
    assert {str(s) for s in seqs} <= rows.keys()
    assert [re.search(r'<td class="(PASS|FAIL|ERROR)">', rows[str(s)])[1] for s in seqs] == ["ERROR", "FAIL", "PASS"]
    assert re.search(rf'<li data-seq="{seqs[1]}">', dom)
    assert 'id="state" class="state running"' in dom

    shot = tmp_path / "dashboard.png"
    chromium(tmp_path, dashboard, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_dashboard_is_read_only_and_serves_its_assets_locally(dashboard: str) -> None:
    assert get(dashboard + "api/state", method="POST")[0] == 405
    status, page = get(dashboard)
    assert status == 200 and b"/static/dashboard.js" in page and b"://" not in page
    assert get(dashboard + "static/dashboard.js")[0] == 200
    assert get(dashboard + "static/../app.py")[0] == 404


@needs_chromium
def test_a_failed_part_opens_in_the_region_view_at_its_own_address(
        station: Station, scanner: Scanner, dashboard: str, tmp_path: Path) -> None:
    seq = scanner.stream(["bulge"])[0]
    wait_for(lambda: get(dashboard + f"api/verdict/{seq}")[0] == 200, what="the failed part to be kept")
    regions = json.loads(get(dashboard + f"api/verdict/{seq}")[1])["regions"]

    dom = chromium(tmp_path, f"{dashboard}#seq={seq}", "--dump-dom")
    viewer = re.search(r'<dialog id="viewer"([^>]*)>(.*?)</dialog>', dom, re.S)
    assert "open" in viewer[1] and f"seq {seq}): FAIL" in viewer[2]
    assert viewer[2].count("<tr><td>") == len(regions) > 0
