"""Command-line pieces shared by `train` and `eval`: parameter overrides and progress display."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from rich.console import Console

from edge.cli.progress import progress
from trainer.fit.recipe import Progress as ProgressCallback
from trainer.fit.recipe import TrainOptions
from edge.errors import UsageError


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an Inspector parameter, e.g. --set features.groups=256 (YAML value; repeatable)",
    )


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["features.groups=256"]`` -> ``{"features.groups": 256}`` (values parsed as YAML scalars/lists)."""
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


@contextmanager
def progress_display(console: Console, title: str) -> Iterator[ProgressCallback]:
    """Progress of a training or evaluation step (a bar on a terminal, timestamped lines otherwise); yields
    the callback that training and evaluation report their steps to."""
    with progress(console, title) as reporter:
        yield reporter.say


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """``--quick``, ``--target-points`` and ``--views``: how `train` and `eval` train a recipe."""
    parser.add_argument("--quick", action="store_true",
                        help="light training for trials (short DUS-Net fine-tune, fewer validation defects, small "
                        "fusion grid); accuracy is measured without it")
    parser.add_argument("--target-points", type=int, default=TrainOptions.target_points,
                        help="processing density: the voxel size is chosen so a scan keeps about this many points")
    parser.add_argument("--views", type=int, default=None, metavar="N",
                        help="simulated single views per training scan (memory bank and single-view model); 0: no "
                        f"single-view model (default {TrainOptions.views}, {TrainOptions.quick().views} with --quick)")


def train_options(args: argparse.Namespace) -> TrainOptions:
    """Training options from ``--target-points``, ``--quick`` and ``--views``."""
    changes: dict[str, object] = {"target_points": args.target_points}
    if args.views is not None:
        if args.views < 0:
            raise UsageError(f"--views must be 0 or more, got {args.views}")
        changes["views"] = args.views
    return TrainOptions.quick(**changes) if args.quick else TrainOptions(**changes)
