"""Sweep the CUDA neighbour search's brute-force/grid switch over whole frames, in one process on one card.

Each search of ``query x ref`` pairs at most ``edge.geometry.knn._GPU_BRUTE_FORCE_PAIRS`` runs as a brute force
(the Triton kernel over one range of all reference points, or matrix product + top-k), larger ones on the
uniform grid. This runs `bench inspect`'s measurement for each
threshold (rounds interleaved, the same frames), prints one markdown table of p50/p99 and stage p50s, and checks
that every threshold decides the frames alike with the same raw scores (both searches are exact).

    python scripts/gpu-knn-sweep.py --bundle .gpu-bundle --device cuda --points 100000 1000000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.cli.bench_inspect import measure  # noqa: E402
from edge.geometry import knn  # noqa: E402
from edge.inspector import Inspector  # noqa: E402
from edge.pipeline.bench import golden_frame, golden_sample  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--log2", type=int, nargs="+", default=[24, 26, 27, 28, 29, 30, 31])
    args = parser.parse_args()
    inspector = Inspector.from_bundle(args.bundle, args.device, backends=["torch"], precision="fp32")
    golden = golden_sample(args.bundle)
    default = knn._GPU_BRUTE_FORCE_PAIRS
    best: dict[tuple[int, int], dict] = {}
    for _ in range(args.rounds):
        for points in args.points:
            for log2 in args.log2:
                knn._GPU_BRUTE_FORCE_PAIRS = 1 << log2
                result = measure(inspector, golden, points, args.frames, 3, 0)
                if (points, log2) not in best or result["ms"]["p50"] < best[points, log2]["ms"]["p50"]:
                    best[points, log2] = result
    knn._GPU_BRUTE_FORCE_PAIRS = default
    print(f"\n| points | brute force up to | p50 ms | p99 ms | stages (p50 ms) | decisions |  (default 2^{default.bit_length() - 1}, best of {args.rounds} rounds)")
    print("|---:|---|---:|---:|---|---|")
    for (points, log2), r in sorted(best.items()):
        stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["stage_ms_p50"].items(), key=lambda kv: -kv[1])[:5])
        print(f"| {points} | 2^{log2} pairs | {r['ms']['p50']:.1f} | {r['ms']['p99']:.1f} | {stages} | {r['decisions']} |")
    for points in args.points:
        scores = {}
        for log2 in args.log2:
            knn._GPU_BRUTE_FORCE_PAIRS = 1 << log2
            scores[log2] = [inspector.inspect(golden_frame(golden, points, seed)).raw_score for seed in range(3)]
        knn._GPU_BRUTE_FORCE_PAIRS = default
        spread = np.ptp(np.array(list(scores.values())), axis=0)
        print(f"{points} points: raw scores of 3 frames under every threshold differ by at most {spread.max():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
