"""`pcinspect train`: fit and calibrate a recipe from normal scans and write its bundle."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge.inspector import Inspector
from trainer.cli.options import add_override_argument, add_training_arguments, parse_overrides, progress_display, train_options
from trainer.data import load_folder, load_split
from trainer.fit.recipe import TrainedRecipe, train_recipe
from trainer.fit.save import save_recipe
from edge.errors import UsageError

FORMATS = ("real3d", "ashapenet", "folder")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a recipe from a few normal scans and write a bundle")
    parser.add_argument("--data", type=Path, required=True, help="dataset root, or the folder of scans for --format folder")
    parser.add_argument("--format", choices=FORMATS, default="real3d")
    parser.add_argument("--class", dest="class_name", help="class to train (its train/ split); not for --format folder")
    parser.add_argument("--recipe", help="recipe name stored in the bundle (default: the class or folder name)")
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    add_training_arguments(parser)
    add_override_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    if args.format == "folder":
        dataset = load_folder(args.data)
        recipe = args.recipe or args.data.resolve().name
    else:
        if not args.class_name:
            raise UsageError(f"--class is required with --format {args.format}")
        dataset = load_split(args.data, args.format, args.class_name, "train")
        recipe = args.recipe or args.class_name
    scans = [sample.points for sample in dataset]
    start = time.perf_counter()
    with progress_display(console, f"training {recipe} on {len(scans)} scans") as say:
        trained = train_recipe(scans, options=train_options(args), progress=say,
                               overrides=parse_overrides(args.overrides))
        say("writing bundle")
        root = save_recipe(trained, recipe, args.out)
    seconds = time.perf_counter() - start
    inspector = Inspector.from_bundle(root)
    model = trained.model
    table = Table(title=f"recipe {recipe}: bundle {inspector.bundle_id}", show_header=False)
    rows = {
        "bundle": str(root),
        "training scans": str(len(scans)),
        "voxel size": f"{model.params.preprocess.voxel_size:.4g}",
        "template points": str(model.template.shape[0]),
        "memory bank": f"{model.bank.shape[0]} x {model.bank.shape[1]}",
        "held-back normal scores": ", ".join(f"{s:.3f}" for s in trained.normal_scores),
        "object threshold (raw)": f"{model.calibration.threshold:.4f}",
        "fusion": fusion_summary(trained),
        "training time": f"{seconds:.1f} s",
        "golden sample": "reproduced (bundle verified)",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    console.print(table)
    return 0


def fusion_summary(trained: TrainedRecipe) -> str:
    """The fusion the validation chose, over which branches, and the branches it left out."""
    fusion = trained.model.fusion
    if fusion is None:
        return "scaled sum of every branch"
    method = {"ocsvm": "One-Class SVM", "sum": "scaled sum", "meanstd": "mean/std fusion"}.get(fusion.method, fusion.method)
    text = f"{method} of {', '.join(fusion.branches)}"
    left_out = [line.split(":")[0] for line in trained.fusion_choice.get("branches_left_out", [])]
    return text + (f" ({', '.join(left_out)} left out on validation)" if left_out else "")
