"""Real3D-AD layout: `<class>/train/*.pcd`, `<class>/test/<j>_<kind>.pcd`, `<class>/gt/<j>_<kind>.txt`."""

from __future__ import annotations

from pathlib import Path

from trainer.data.dataset import CloudDataset, load_layout

GT_FOLDER = "gt"


def load_real3d(root: str | Path, class_name: str, split: str) -> CloudDataset:
    """One class's `train` or `test` split of a Real3D-AD-style dataset.

    Training clouds are normal and unlabelled. A test cloud's kind is the word of its file
    name; an anomalous one's points and labels come from `gt/<stem>.txt` (the Real3D-AD
    convention), which must exist. A normal test cloud without a gt file gets all-zero labels.
    """
    return load_layout(root, class_name, split, gt_folder=GT_FOLDER, good_needs_gt=False, points_from_gt=True)
