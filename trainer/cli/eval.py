"""`pcinspect eval`: train every class of a benchmark, inspect its test clouds, write the report."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from edge.params import BASELINE_OVERRIDES
from trainer.cli.options import add_override_argument, add_training_arguments, parse_overrides, progress_display, train_options
from trainer.data import list_classes
from trainer.evaluate import ablation
from trainer.evaluate.benchmark import ClassResult, run_class
from trainer.evaluate.report import build_report, write_report, write_worst_misses
from trainer.fit.recipe import TrainOptions

MAIN = "pcinspect"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="benchmark the detector on a labelled dataset")
    parser.add_argument("--data", type=Path, required=True, help="dataset root")
    parser.add_argument("--format", choices=("real3d", "ashapenet", "folder"), default="real3d",
                        help="folder: <class>/train/* and <class>/test/<kind>/* (good/ for normal scans), any "
                        "cloud file type, object labels only")
    parser.add_argument("--classes", default="all", help="'all' or a comma-separated list")
    parser.add_argument("--out", type=Path, required=True, help="report directory")
    parser.add_argument("--baseline", action="store_true",
                        help="also run plain PatchCore on single-scale FPFH (no AGCS, no multi-scale, no template)")
    parser.add_argument("--ablation", nargs="?", const="all", choices=("fusion", "all"),
                        help="report the recipe as 'fused' beside the rows of trainer/evaluate/ablation.py: template, "
                        "feature and reconstruction only, fused without reconstruction, OCSVM and scaled sum "
                        "('fusion': from the recipe's own training) and ('all', the default) trainings of their "
                        "own for AGCS alpha=0, GPS, Group3AD, the identity Down-Net and masked reconstruction")
    add_training_arguments(parser)
    add_override_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console(width=max(150, Console().width))
    classes = list_classes(args.data, args.format) if args.classes == "all" else [c.strip() for c in args.classes.split(",") if c.strip()]
    overrides = parse_overrides(args.overrides)
    options = train_options(args)
    main_row = ablation.FUSED if args.ablation else MAIN
    trainings: dict[str, tuple[dict[str, object], TrainOptions]] = {main_row: (overrides, options)}
    if args.ablation:
        trainings[main_row] = (overrides, replace(options, variants=ablation.FUSIONS))
    if args.ablation == "all":
        for row, training in ablation.TRAININGS.items():
            trainings[row] = ({**overrides, **training.overrides}, training.options(row, options))
    if args.baseline:
        trainings["baseline (PatchCore, single-scale FPFH)"] = ({**overrides, **BASELINE_OVERRIDES}, options)
    results: dict[str, list[ClassResult]] = {}
    for name, (training_overrides, training_options) in trainings.items():
        for class_name in classes:
            with progress_display(console, f"{name}: {class_name}") as say:
                rows = run_class(args.data, args.format, class_name, overrides=training_overrides,
                                 options=training_options, progress=say)
            for variant, result in rows.items():
                own = ablation.TRAININGS.get(name)
                if own is not None and not own.reports(name, variant):
                    continue
                row = name if variant is None else variant
                results.setdefault(row, []).append(result)
                m = result.metrics
                console.print(f"{row:>24.24} {class_name:<12} O-AUROC {m['o_auroc']:.3f}  P-AUROC {m['p_auroc']:.3f}  "
                              f"AU-PRO {m['au_pro']:.3f}  train {result.train_sec:.1f} s  {result.sec_per_cloud:.2f} s/cloud")
    settings = {"data": str(args.data), "format": args.format, "target_points": args.target_points,
                "views": options.views, **overrides}
    report = build_report(results, main_row, settings)
    write_report(report, args.out)
    pictures = write_worst_misses(results[main_row], args.out)
    console.print((args.out / "report.md").read_text())
    console.print(f"wrote {args.out / 'report.json'}, {args.out / 'report.md'} and {len(pictures)} heatmaps")
    return 0
