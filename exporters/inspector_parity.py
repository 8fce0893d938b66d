"""End-to-end parity: the same clouds through two Inspectors of one bundle, differing only in backend or device.

The reference is torch float32 on the CPU, the way training evaluated the recipe. The candidate is the bundle
served by another backend (ONNX Runtime, TensorRT) or on another device (CUDA). For every cloud the two
verdicts must agree and the raw object scores must be within a relative bound: 1e-3 in fp32 (issue 6), 2e-2 in
fp16 (float16 networks move the reconstruction by a few ulps of its spread, see ``exporters.parity``). A cloud
that one side cannot inspect (ERROR) must be an ERROR on the other side too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.inspector import Inspector
from edge.io import read_cloud
from edge.io.files import SUFFIXES

SCORE_TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2}


@dataclass(frozen=True)
class CloudParity:
    """One cloud's verdicts and raw scores on the reference and the candidate."""

    cloud: str
    reference: str
    candidate: str
    reference_score: float | None
    candidate_score: float | None
    relative_error: float | None
    passed: bool


def cloud_files(paths: Iterable[str | Path]) -> list[Path]:
    """The given files, and the readable point-cloud files of the given directories (sorted, recursively)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    if not files:
        raise ValueError(f"no point-cloud files ({' '.join(SUFFIXES)}) in {', '.join(map(str, paths))}")
    return files


def compare_verdicts(cloud: str, reference: Any, candidate: Any, tolerance: float) -> CloudParity:
    """Whether two verdicts on one cloud agree: same decision, raw scores within ``tolerance`` relative."""
    ref, cand = _finite(reference.raw_score), _finite(candidate.raw_score)
    same = reference.decision == candidate.decision
    if ref is None or cand is None:
        error = None
        close = ref is None and cand is None
    else:
        error = abs(cand - ref) / max(abs(ref), 1e-12)
        close = error <= tolerance
    return CloudParity(cloud, reference.decision.value, candidate.decision.value, ref, cand, error, same and close)


def inspector_parity(bundle: str | Path, clouds: Sequence[str | Path], *, backends: Sequence[str] = ("onnxruntime",),
                     device: str = "cpu", precision: str = "fp32") -> dict[str, Any]:
    """Inspect every cloud with torch-fp32-CPU and with ``backends``/``device``/``precision``; the report says
    per cloud whether the verdicts agree, and ``passed`` whether all did."""
    reference = Inspector.from_bundle(bundle, "cpu", backends=("torch",), precision="fp32")
    candidate = Inspector.from_bundle(bundle, device, backends=backends, precision=precision)
    tolerance = SCORE_TOLERANCE[precision]
    rows = []
    for path in cloud_files(clouds):
        points = read_cloud(path).points
        rows.append(compare_verdicts(str(path), reference.inspect(points), candidate.inspect(points), tolerance))
    errors = [r.relative_error for r in rows if r.relative_error is not None]
    return {
        "bundle_id": reference.bundle_id,
        "candidate": {"backends": list(backends), "device": device, "precision": precision,
                      "served_by": candidate.backend_report},
        "tolerance": tolerance,
        "clouds": [asdict(r) for r in rows],
        "max_relative_error": max(errors, default=0.0),
        "verdicts_identical": all(r.reference == r.candidate for r in rows),
        "passed": all(r.passed for r in rows),
    }


def format_inspector_table(report: dict[str, Any]) -> str:
    """Failed clouds one per line, then a summary line."""
    candidate = report["candidate"]
    lines = [f"FAIL  {Path(r['cloud']).name}: {r['reference']} {_fmt(r['reference_score'])} (torch cpu) vs "
             f"{r['candidate']} {_fmt(r['candidate_score'])}" for r in report["clouds"] if not r["passed"]]
    lines.append(
        f"end to end: {len(report['clouds'])} clouds, torch fp32 cpu vs {','.join(candidate['backends'])} "
        f"{candidate['precision']} {candidate['device']}: verdicts {'identical' if report['verdicts_identical'] else 'DIFFER'}, "
        f"max relative score error {report['max_relative_error']:.2e} (bound {report['tolerance']:.0e}) -> "
        f"{'pass' if report['passed'] else 'FAIL'}")
    return "\n".join(lines)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"
