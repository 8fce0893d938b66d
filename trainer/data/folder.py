"""A plain folder of normal scans, e.g. the first good parts of a new recipe."""

from __future__ import annotations

from pathlib import Path

from edge.io.files import SUFFIXES
from trainer.data.dataset import TEST, TRAIN, CloudDataset, SampleSource, check_split, class_folder, list_files
from trainer.data.errors import DatasetError
from trainer.data.sample import GOOD, NORMAL_WORDS


def load_folder(folder: str | Path, class_name: str | None = None) -> CloudDataset:
    """Every cloud file directly in `folder` (any type `edge.io.read_cloud` reads), in natural
    name order, as unlabelled normal samples; `class_name` defaults to the folder's name."""
    folder = Path(folder)
    clouds = list_files(folder, SUFFIXES, "scan")
    name = class_name if class_name is not None else folder.name
    return CloudDataset(SampleSource(p, name, GOOD, TRAIN) for p in clouds)


def load_folder_layout(root: str | Path, class_name: str, split: str) -> CloudDataset:
    """One class of a plain labelled layout (`eval --format folder`): `<class>/train/*` normal scans and
    `<class>/test/<kind>/*`, where a `good` (or `ok`, `normal`, ...) folder holds normal scans and any other
    folder name is the defect kind. Any cloud file type; object labels only (no per-point ground truth)."""
    check_split(split)
    folder = class_folder(root, class_name)
    if split == TRAIN:
        return CloudDataset(SampleSource(p, class_name, GOOD, TRAIN) for p in list_files(folder / TRAIN, SUFFIXES, TRAIN))
    test = folder / TEST
    kinds = sorted(p for p in test.iterdir() if p.is_dir()) if test.is_dir() else []
    if not kinds:
        raise DatasetError(test, "expected one folder per kind under test/ (good/ for normal scans, e.g. hole/)")
    sources = []
    for kind_folder in kinds:
        kind = GOOD if kind_folder.name.lower() in NORMAL_WORDS else kind_folder.name
        sources += [SampleSource(p, class_name, kind, TEST) for p in list_files(kind_folder, SUFFIXES, "test kind")]
    return CloudDataset(sources)

