"""Real3D-AD layout: `<class>/train/*.pcd`, `<class>/test/<j>_<kind>.pcd`, `<class>/gt/<j>_<kind>.txt`."""

from __future__ import annotations

from pathlib import Path

from trainer.data.dataset import TRAIN, CloudDataset, SampleSource, check_split, class_folder, list_files
from trainer.data.errors import DatasetError
from trainer.data.sample import GOOD, parse_kind

GT_FOLDER = "gt"


def load_real3d(root: str | Path, class_name: str, split: str) -> CloudDataset:
    """One class's `train` or `test` split of a Real3D-AD-style dataset.

    Training clouds are normal and unlabelled. A test cloud's kind is the word of its file
    name; an anomalous one's points and labels come from `gt/<stem>.txt` (the Real3D-AD
    convention), which must exist. A normal test cloud without a gt file gets all-zero labels.
    """
    check_split(split)
    folder = class_folder(root, class_name)
    clouds = list_files(folder / split, (".pcd",), split)
    if split == TRAIN:
        return CloudDataset(SampleSource(p, class_name, GOOD, split) for p in clouds)
    sources = []
    for cloud in clouds:
        kind = parse_kind(cloud.stem)
        gt = folder / GT_FOLDER / f"{cloud.stem}.txt"
        if not gt.is_file():
            if kind != GOOD:
                raise DatasetError(cloud, f"anomalous test cloud has no ground truth {gt}")
            gt = None
        sources.append(SampleSource(cloud, class_name, kind, split, gt=gt, points_from_gt=True))
    return CloudDataset(sources)
