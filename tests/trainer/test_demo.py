from pathlib import Path

from edge.cli import main


def test_demo_runs_end_to_end_on_real_scans(shared_data: Path, capsys) -> None:
    assert main(["demo", "--frontend", "--data", str(shared_data / "dev-bench"), "--groups", "64"]) == 0
    out = capsys.readouterr().out
    assert "real scans" in out and "fandisk/" in out and "bunny_scan/" in out


def test_demo_falls_back_to_procedural_parts_without_data(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--frontend", "--data", str(tmp_path / "absent"), "--groups", "64"]) == 0
    out = capsys.readouterr().out
    assert "procedural parts" in out and "flange/hole" in out
