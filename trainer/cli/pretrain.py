"""`pcinspect pretrain`: learn the DUS-Net shape prior from procedural parts and the shared source objects."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import fields
from pathlib import Path

from rich.console import Console

from trainer.cli.options import progress_display
from trainer.fit.dusnet import DEFAULT_PRIOR_PATH, DusNetOptions, options_info, pretrain_dusnet, save_dusnet
from trainer.fit.shape_prior import prior_clouds

SHARED_DATA = Path(os.environ.get("PCINSPECT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
DEFAULT_SOURCES = SHARED_DATA / "sources"
PRETRAIN_DEFAULTS = {"down_steps": 500, "up_steps": 500, "lr": 1e-3, "up_lr": 3e-3, "threads": 1}
"""Pretraining differs from recipe fine-tuning (the DusNetOptions defaults) in these options."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pretrain", help="learn the DUS-Net shape prior (never from benchmark clouds)")
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES,
                        help="folder with casting.obj, fandisk.obj, igea.ply, rocker-arm.obj and bunny-scans/")
    parser.add_argument("--out", type=Path, default=DEFAULT_PRIOR_PATH, help="checkpoint to write (.safetensors)")
    parser.add_argument("--parts-per-kind", type=int, default=16, help="procedural parts of every kind")
    parser.add_argument("--source-copies", type=int, default=4, help="randomly rotated copies of every source object")
    parser.add_argument("--points", type=int, default=12000, help="points per training cloud")
    defaults = DusNetOptions(**PRETRAIN_DEFAULTS)
    for f in fields(DusNetOptions):
        if f.name == "threads":
            continue
        value = getattr(defaults, f.name)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(value), default=value, help=f"(default {value})")
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help="torch threads while training; 1 is fastest on a shared CPU (default 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    options = DusNetOptions(**{f.name: getattr(args, f.name) for f in fields(DusNetOptions)})
    start = time.perf_counter()
    with progress_display(console, "pretraining the DUS-Net shape prior") as say:
        clouds = prior_clouds(args.sources, parts_per_kind=args.parts_per_kind, source_copies=args.source_copies,
                              n_points=args.points, seed=options.seed, progress=say)
        down, up = pretrain_dusnet(clouds, options, progress=say)
    seconds = time.perf_counter() - start
    info = options_info(options, clouds=len(clouds), parts_per_kind=args.parts_per_kind,
                        source_copies=args.source_copies, points=args.points)
    path = save_dusnet(args.out, down, up, info)
    console.print(f"shape prior: {len(clouds)} clouds, {seconds:.0f} s -> {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
