"""Dataset formats by name: list a root's classes and load a class's split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trainer.data.ashapenet import load_ashapenet
from trainer.data.dataset import TEST, TRAIN, CloudDataset
from trainer.data.errors import DatasetError
from trainer.data.folder import load_folder_layout
from trainer.data.real3d import load_real3d

LOADERS: dict[str, Callable[[str | Path, str, str], CloudDataset]] = {
    "real3d": load_real3d,
    "ashapenet": load_ashapenet,
    "folder": load_folder_layout,
}
DATASET_FORMATS = tuple(LOADERS)


def _check_format(format: str) -> None:
    if format not in LOADERS:
        raise ValueError(f"unknown dataset format {format!r}; expected one of {DATASET_FORMATS}")


def list_classes(root: str | Path, format: str) -> list[str]:
    """Names of the class folders under `root` (those holding `train/` and `test/`), sorted."""
    _check_format(format)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "dataset root not found")
    classes = sorted(p.name for p in root.iterdir() if (p / TRAIN).is_dir() and (p / TEST).is_dir())
    if not classes:
        raise DatasetError(root, f"no class folders with {TRAIN}/ and {TEST}/ found")
    return classes


def load_split(root: str | Path, format: str, class_name: str, split: str) -> CloudDataset:
    """One class's split of a dataset in the named `format` (see `DATASET_FORMATS`)."""
    _check_format(format)
    return LOADERS[format](root, class_name, split)
