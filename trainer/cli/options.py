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


def train_options(args: argparse.Namespace) -> TrainOptions:
    """Training options from ``--target-points`` and ``--quick``."""
    if args.quick:
        return TrainOptions.quick(target_points=args.target_points)
    return TrainOptions(target_points=args.target_points)
