"""`pcinspect demo`: the streaming demo trains, serves and answers every part through real sockets."""

import re
from pathlib import Path

import torch

from edge.cli import main

torch.set_num_threads(1)


def test_streaming_demo_answers_every_part_and_draws_failed_ones(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--parts", "8", "--defect-rate", "1.0", "--points", "6000", "--target-points", "3000",
                 "--train-scans", "3", "--threads", "1", "--timeout", "20", "--out", str(out),
                 "--set", "deviation.fine_missing=true"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "answered 8/8 frames" in text
    assert re.search(r"accuracy \d\.\d{3} \(\d+/8\): TP \d+  FP \d+  TN \d+  FN \d+  ERROR 0", text)
    assert re.search(r"service \(ts_out - ts_in\) p50 \d+ p99 \d+", text)
    rows = re.findall(r"^(F\d{4}) .* (PASS|FAIL)", text, flags=re.MULTILINE)
    assert sorted(frame for frame, _ in rows) == [f"F{i:04d}" for i in range(8)]
    failed = {frame for frame, verdict in rows if verdict == "FAIL"}
    assert failed, "a part with a defect should fail"
    assert {p.name.split("-")[0] for p in (out / "heatmaps").glob("*.png")} == failed
    assert (out / "bundle" / "bundle.yaml").is_file() and (out / "station.yaml").is_file()
    assert "fine_missing: true" in (out / "bundle" / "bundle.yaml").read_text()


def test_streaming_demo_rejects_a_malformed_parameter_override(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--set", "deviation.fine_missing", "--out", str(tmp_path)]) == 1
    assert "--set expects KEY=VALUE" in capsys.readouterr().err


def test_streaming_demo_rejects_a_bad_defect_rate(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--defect-rate", "1.5", "--out", str(tmp_path)]) == 1
    assert "--defect-rate" in capsys.readouterr().err
