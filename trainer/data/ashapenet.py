"""Anomaly-ShapeNet layout: `<class>/train/<class>_template<i>.pcd`, `<class>/test/<class>_<kind><j>.pcd`,
`<class>/GT/<stem>.txt` (also for the normal `positive` clouds)."""

from __future__ import annotations

from pathlib import Path

from trainer.data.dataset import TRAIN, CloudDataset, SampleSource, check_split, class_folder, list_files
from trainer.data.errors import DatasetError
from trainer.data.sample import GOOD, parse_kind

GT_FOLDER = "GT"


def load_ashapenet(root: str | Path, class_name: str, split: str) -> CloudDataset:
    """One class's `train` or `test` split of an Anomaly-ShapeNet-style dataset.

    Points come from the test cloud, labels from `GT/<stem>.txt` row by row; every test
    cloud needs its GT file and the two must hold the same number of points.
    """
    check_split(split)
    folder = class_folder(root, class_name)
    clouds = list_files(folder / split, (".pcd",), split)
    if split == TRAIN:
        return CloudDataset(SampleSource(p, class_name, GOOD, split) for p in clouds)
    sources = []
    for cloud in clouds:
        gt = folder / GT_FOLDER / f"{cloud.stem}.txt"
        if not gt.is_file():
            raise DatasetError(cloud, f"test cloud has no ground truth {gt}")
        sources.append(SampleSource(cloud, class_name, parse_kind(cloud.stem), split, gt=gt))
    return CloudDataset(sources)
