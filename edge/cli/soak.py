"""`pcinspect soak --bundle DIR`: stream N frames through a live service while injecting faults; count losses.

Exit 0 when no frame was lost or duplicated and every frame was acked; 1 otherwise. See edge/pipeline/soak.py
for the faults and docs/deploy.md "Soak" for measured figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.errors import UsageError
from edge.pipeline.soak import FAULTS, SoakOptions, report_json, run_soak, soak_environment


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("soak", help="fault-injection run through a live service: frames lost/duplicated")
    parser.add_argument("--bundle", type=Path, required=True, help="bundle the service serves (its golden sample "
                                                                   "is the streamed part)")
    parser.add_argument("--frames", type=int, default=2000, help="frames to stream")
    parser.add_argument("--points", type=int, default=2000, help="points per frame")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"comma-separated subset of {','.join(FAULTS)} (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the station, journal and serve.log here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    faults = tuple(name for name in args.faults.split(",") if name)
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown or args.frames < 20 or args.points < 10:
        raise UsageError(f"--faults: unknown {unknown}" if unknown else "--frames >= 20 and --points >= 10")
    report = run_soak(SoakOptions(args.bundle, args.frames, args.points, faults, args.seed, workdir=args.workdir),
                      progress=lambda line: print(line, flush=True))
    print(report_json(report))
    print(f"environment: {soak_environment()}")
    print(f"sent {report.frames_sent}, journaled {report.journaled}, published {report.published}, "
          f"lost {report.lost}, duplicated {report.duplicated}, crashes {report.crashes}, restarts {report.restarts}, "
          f"RSS {report.rss_start_mb:.0f} -> {report.rss_end_mb:.0f} MB ({report.rss_growth_pct:+.1f} %)")
    return 0 if report.ok else 1
