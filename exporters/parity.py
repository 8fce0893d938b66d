"""Parity of a bundle's ONNX exports with the torch networks they came from, run through the edge backends.

For every network and exported precision, ONNX Runtime (CPU) and torch (float32 reference) are called through
the same :class:`edge.runtime.Network` interface the Inspector uses, on two input sets:

- ``golden``: the bundle's golden sample turned into network inputs the way the Inspector groups a cloud (FPS
  centers in FPS order, the K nearest points of each relative to it, in cloud units); ``example`` instead when
  the caller passes ``example_inputs`` (e.g. the Inspector's own intermediate tensors); ``sphere`` (points on a
  unit sphere, grouped the same way) when the golden sample cannot be turned into the inputs;
- ``random``: seeded standard-normal inputs with batch 3, which also exercises the dynamic batch axis.

A check passes when ``max |onnx - torch| <= abs + rel * spread``: an absolute floor plus a bound relative to the
output's spread, ``spread = max |torch - mean of torch over axis 1|`` (over the G groups or points of a sample).
Point outputs are in cloud units and may sit a metre from the scanner's origin: measured against their spread,
a part is judged on its size, not on where it lies. ``max_rel`` in the report is ``max_abs / spread``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge.bundle import Bundle, load_bundle
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.grouping import group_points
from edge.models import NETWORK_SPECS
from edge.runtime import onnxruntime_backend, torch_backend
from edge.errors import PcinspectError

PARITY_FILE = "parity.json"
RANDOM_BATCH = 3
MAX_GOLDEN_POINTS = 8192
SPHERE_POINTS = 4096
CLOUD_INPUTS = frozenset({"patches", "centers"})

ExampleInputs = Callable[[Bundle, str], "Sequence[torch.Tensor] | None"]
"""``example_inputs(bundle, network_name)`` -> batched inputs in the spec's order, or None to derive them here."""


@dataclass(frozen=True)
class Tolerance:
    """A check passes when ``max_abs <= abs + rel * spread`` (see the module docstring)."""

    abs: float
    rel: float

    def bound(self, spread: float) -> float:
        return self.abs + self.rel * spread


TOLERANCES: dict[str, Tolerance] = {
    # float32 on both sides: only operation order differs (float32 epsilon 1.2e-7).
    "fp32": Tolerance(abs=1e-4, rel=1e-5),
    # float16 products (unit roundoff 4.9e-4) accumulated through a few layers: about 4 ulps of the output spread.
    "fp16": Tolerance(abs=1e-3, rel=2e-3),
}


class ParityError(PcinspectError, RuntimeError):
    """At least one parity check exceeded its bound; the message is the parity table."""


def sphere_points(n: int = SPHERE_POINTS) -> torch.Tensor:
    """``n`` points evenly spread on the unit sphere (Fibonacci lattice), deterministic."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    polar = torch.arccos(1 - 2 * i / n)
    azimuth = math.pi * (1 + 5**0.5) * i
    return torch.stack([polar.sin() * azimuth.cos(), polar.sin() * azimuth.sin(), polar.cos()], dim=1).float()


def cloud_inputs(points: torch.Tensor, inputs: Sequence[str], shapes: dict[str, list[int]],
                 *, seed: int = 0) -> tuple[torch.Tensor, ...] | str:
    """Batch-1 inputs of a patch/center network from a cloud (N, 3), or the reason they cannot be derived.

    ``centers`` (G, 3) are G farthest-point samples in FPS order; ``patches`` (G, K, 3) the K nearest points of
    each center relative to it. Clouds above MAX_GOLDEN_POINTS are subsampled (seeded) first.
    """
    if not set(inputs) <= CLOUD_INPUTS:
        return f"inputs {sorted(set(inputs) - CLOUD_INPUTS)} cannot be derived from a cloud"
    groups = {shapes[k][0] for k in inputs}
    if len(groups) != 1 or ("centers" in inputs and shapes["centers"] != [*groups, 3]) or (
            "patches" in inputs and (len(shapes["patches"]) != 3 or shapes["patches"][2] != 3)):
        return f"input shapes {shapes} are not (G, K, 3) patches / (G, 3) centers of one G"
    (g,) = groups
    k = shapes["patches"][1] if "patches" in inputs else 1
    points = points[:, :3].float()
    points = points[torch.isfinite(points).all(dim=1)]
    if len(points) < max(g, k):
        return f"the cloud has {len(points)} finite points, fewer than G={g} / K={k}"
    if len(points) > MAX_GOLDEN_POINTS:
        chosen = torch.randperm(len(points), generator=torch.Generator().manual_seed(seed))[:MAX_GOLDEN_POINTS]
        points = points[chosen.sort().values]
    centers = points[farthest_point_sampling(points, g)]
    derived = {"centers": centers}
    if "patches" in inputs:
        derived["patches"] = group_points(points, centers, k)[0]
    return tuple(derived[key].unsqueeze(0).contiguous() for key in inputs)


def random_inputs(shapes: dict[str, list[int]], inputs: Sequence[str], *, seed: int = 0,
                  batch: int = RANDOM_BATCH) -> tuple[torch.Tensor, ...]:
    """Seeded standard-normal inputs (batch, *shape) in the spec's order."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn((batch, *shapes[k]), generator=generator) for k in inputs)


def input_sets(bundle: Bundle, name: str, *, example_inputs: ExampleInputs | None = None,
               seed: int = 0) -> list[tuple[str, tuple[torch.Tensor, ...], str]]:
    """``(label, inputs, note)`` for each check of network ``name``: the realistic set, then the random one."""
    entry = bundle.manifest.networks[name]
    spec = NETWORK_SPECS[entry.arch]
    sets = []
    given = example_inputs(bundle, name) if example_inputs is not None else None
    if given is not None:
        sets.append(("example", tuple(given), "inputs from the caller"))
    else:
        golden = torch.from_numpy(np.asarray(bundle.arrays[bundle.manifest.golden.file.removesuffix(".npy")]))
        derived = cloud_inputs(golden, spec.inputs, entry.inputs, seed=seed) if golden.ndim == 2 else "not an (N, 3) cloud"
        if isinstance(derived, tuple):
            sets.append(("golden", derived, "golden sample grouped by FPS + kNN"))
        else:
            sphere = cloud_inputs(sphere_points(), spec.inputs, entry.inputs, seed=seed)
            if isinstance(sphere, tuple):
                sets.append(("sphere", sphere, f"golden sample unusable: {derived}"))
    sets.append(("random", random_inputs(entry.inputs, spec.inputs, seed=seed), f"seed {seed}, batch {RANDOM_BATCH}"))
    return sets


def spread(reference: torch.Tensor) -> float:
    """``max |reference - its mean over axis 1|`` (axis 1: the groups or points of each sample); ``max |reference|``
    for tensors without such an axis or without spread."""
    ref = reference.double()
    if ref.ndim >= 2 and ref.shape[1] > 1:
        value = float((ref - ref.mean(dim=1, keepdim=True)).abs().max())
        if value > 0:
            return value
    return float(ref.abs().max()) if ref.numel() else 0.0


def compare(output: torch.Tensor, reference: torch.Tensor, tolerance: Tolerance) -> dict[str, Any]:
    """Max absolute and relative error of ``output`` against ``reference`` and whether they are within bound."""
    if output.shape != reference.shape:
        return {"max_abs": math.inf, "max_rel": math.inf, "spread": 0.0, "bound": 0.0, "passed": False,
                "problem": f"shape {tuple(output.shape)} != reference {tuple(reference.shape)}"}
    diff = (output.double() - reference.double()).abs()
    max_abs = float(diff.max()) if diff.numel() else 0.0
    if not math.isfinite(max_abs) or not bool(torch.isfinite(output).all()):
        max_abs = math.inf
    scale = spread(reference)
    bound = tolerance.bound(scale)
    return {"max_abs": max_abs, "max_rel": max_abs / scale if scale > 0 else max_abs, "spread": scale, "bound": bound,
            "passed": max_abs <= bound}


def parity_report(bundle: Bundle | str | Path, *, precisions: Sequence[str] | None = None,
                  example_inputs: ExampleInputs | None = None, seed: int = 0) -> dict[str, Any]:
    """Every check of every ONNX export of ``bundle`` against torch (see the module docstring); nothing raised on
    a failed check: ``report["passed"]`` says whether all passed."""
    import onnxruntime

    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    cpu = torch.device("cpu")
    checks = []
    without_onnx = []
    for name, entry in bundle.manifest.networks.items():
        exported = [p for p in entry.onnx if precisions is None or p in precisions]
        if not exported:
            without_onnx.append(name)
            continue
        reference = torch_backend.load(bundle, name, cpu, "fp32")
        candidates = {p: onnxruntime_backend.load(bundle, name, cpu, p) for p in exported}
        for label, inputs, note in input_sets(bundle, name, example_inputs=example_inputs, seed=seed):
            expected = reference(*inputs)
            for precision, candidate in candidates.items():
                result = compare(candidate(*inputs), expected, TOLERANCES[precision])
                checks.append({"network": name, "precision": precision, "onnx": entry.onnx[precision],
                               "inputs": label, "batch": int(inputs[0].shape[0]), "note": note, **result})
    return {
        "format": 1,
        "bundle_id": bundle.bundle_id,
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "tolerances": {p: asdict(t) for p, t in TOLERANCES.items()},
        "checks": checks,
        "networks_without_onnx": without_onnx,
        "passed": all(c["passed"] for c in checks),
    }


def check_parity(bundle: Bundle | str | Path, **options: Any) -> dict[str, Any]:
    """:func:`parity_report`, raising ParityError with the table when any check exceeds its bound."""
    report = parity_report(bundle, **options)
    if not report["passed"]:
        raise ParityError(f"ONNX parity failed for bundle {report['bundle_id']}:\n{format_table(report)}")
    return report


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned text table, one row per check."""
    header = ("network", "precision", "inputs", "batch", "max_abs", "max_rel", "bound", "result")
    rows = [header] + [
        (c["network"], c["precision"], c["inputs"], str(c["batch"]), f"{c['max_abs']:.3g}", f"{c['max_rel']:.3g}",
         f"{c['bound']:.3g}", "pass" if c["passed"] else "FAIL" + (f" ({c['problem']})" if "problem" in c else ""))
        for c in report["checks"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    if report["networks_without_onnx"]:
        lines.append(f"no ONNX export: {', '.join(report['networks_without_onnx'])}")
    return "\n".join(lines)


def write_report(bundle_dir: str | Path, report: dict[str, Any]) -> Path:
    """Write ``report`` as ``parity.json`` in the bundle directory (the caller lists it in the manifest)."""
    path = Path(bundle_dir) / PARITY_FILE
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return path
