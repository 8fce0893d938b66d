"""Anomaly-ShapeNet layout: `<class>/train/<class>_template<i>.pcd`, `<class>/test/<class>_<kind><j>.pcd`,
`<class>/GT/<stem>.txt` (also for the normal `positive` clouds)."""

from __future__ import annotations

from pathlib import Path

from trainer.data.dataset import CloudDataset, load_layout

GT_FOLDER = "GT"


def load_ashapenet(root: str | Path, class_name: str, split: str) -> CloudDataset:
    """One class's `train` or `test` split of an Anomaly-ShapeNet-style dataset.

    Points come from the test cloud, labels from `GT/<stem>.txt` row by row; every test
    cloud needs its GT file and the two must hold the same number of points.
    """
    return load_layout(root, class_name, split, gt_folder=GT_FOLDER, good_needs_gt=True, points_from_gt=False)
