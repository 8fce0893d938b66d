"""A plain folder of normal scans, e.g. the first good parts of a new recipe."""

from __future__ import annotations

from pathlib import Path

from edge.io.files import SUFFIXES
from trainer.data.dataset import TRAIN, CloudDataset, SampleSource, list_files
from trainer.data.sample import GOOD


def load_folder(folder: str | Path, class_name: str | None = None) -> CloudDataset:
    """Every cloud file directly in `folder` (any type `edge.io.read_cloud` reads), in natural
    name order, as unlabelled normal samples; `class_name` defaults to the folder's name."""
    folder = Path(folder)
    clouds = list_files(folder, SUFFIXES, "scan")
    name = class_name if class_name is not None else folder.name
    return CloudDataset(SampleSource(p, name, GOOD, TRAIN) for p in clouds)
