"""A lazily loaded sequence of `Sample`s, described by where each one's files lie."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from edge.io import read_cloud
from edge.io.files import SUFFIXES
from trainer.data.errors import DatasetError
from trainer.data.groundtruth import read_ground_truth
from trainer.data.sample import GOOD, Sample, parse_kind

TRAIN = "train"
TEST = "test"
SPLITS = (TRAIN, TEST)


@dataclass(frozen=True)
class SampleSource:
    """Where one sample's files lie and how to read them.

    ``gt`` is the ground-truth text file (None for training clouds and for normal test
    clouds that have none); with ``points_from_gt`` the points come from ``gt`` (the
    Real3D-AD convention), otherwise from ``cloud`` with labels from ``gt`` row by row.
    """

    cloud: Path
    class_name: str
    kind: str
    split: str
    gt: Path | None = None
    points_from_gt: bool = False


def load_sample(source: SampleSource) -> Sample:
    """Read one sample; non-finite points are dropped together with their labels."""
    label = 0 if source.kind == GOOD else 1
    if source.gt is not None and source.points_from_gt:
        points, labels = read_ground_truth(source.gt)
        normals = None
    else:
        cloud = read_cloud(source.cloud)
        points, normals = cloud.points, cloud.normals
        if source.gt is not None:
            _, labels = read_ground_truth(source.gt)
            if len(labels) != len(points):
                raise DatasetError(
                    source.gt,
                    f"ground truth has {len(labels)} points but {source.cloud} has {len(points)}",
                )
        else:
            labels = None if source.split == TRAIN else np.zeros(len(points), np.uint8)
        keep = np.isfinite(points).all(axis=1)
        if not keep.all():
            points = points[keep]
            normals = None if normals is None else normals[keep]
            labels = None if labels is None else labels[keep]
    if len(points) == 0:
        raise DatasetError(source.gt or source.cloud, "cloud holds no finite points")
    if label == 0 and labels is not None and labels.any():
        raise DatasetError(source.gt or source.cloud, f"normal sample has {int(labels.sum())} anomalous points")
    return Sample(
        points=points,
        labels=labels,
        label=label,
        kind=source.kind,
        path=source.cloud,
        class_name=source.class_name,
        normals=normals,
    )


class CloudDataset(Sequence[Sample]):
    """Samples read from disk on access, so that a large split need not fit in memory."""

    def __init__(self, sources: Iterable[SampleSource]) -> None:
        self.sources: tuple[SampleSource, ...] = tuple(sources)

    def __len__(self) -> int:
        return len(self.sources)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> CloudDataset: ...

    def __getitem__(self, index: int | slice) -> Sample | CloudDataset:
        if isinstance(index, slice):
            return CloudDataset(self.sources[index])
        return load_sample(self.sources[index])

    def __iter__(self) -> Iterator[Sample]:
        for source in self.sources:
            yield load_sample(source)

    @property
    def kinds(self) -> list[str]:
        """The defect kind of every sample, without reading any file."""
        return [source.kind for source in self.sources]

    @property
    def paths(self) -> list[Path]:
        """The cloud file of every sample, without reading any file."""
        return [source.cloud for source in self.sources]


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort key that orders `2_x` before `10_x`: digit runs compare as numbers."""
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in parts)


def list_files(folder: Path, suffixes: Iterable[str], what: str) -> list[Path]:
    """Files in `folder` with one of `suffixes` (case-insensitive), naturally sorted.

    Raises `DatasetError` when the folder is missing or holds no such file.
    """
    if not folder.is_dir():
        raise DatasetError(folder, f"{what} folder not found")
    wanted = {s.lower() for s in suffixes}
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in wanted), key=natural_key)
    if not files:
        raise DatasetError(folder, f"{what} folder holds no {'/'.join(sorted(wanted))} files")
    return files


def class_folder(root: str | Path, class_name: str) -> Path:
    """`root/class_name`, which must exist."""
    folder = Path(root) / class_name
    if not folder.is_dir():
        valid = sorted(p.name for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
        hint = f"; valid classes: {', '.join(valid)}" if valid else f"; {root} holds no class folders"
        raise DatasetError(folder, f"class folder {class_name!r} not found{hint}")
    return folder


def check_split(split: str) -> None:
    """Raise ValueError unless `split` is `train` or `test`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def load_layout(
    root: str | Path,
    class_name: str,
    split: str,
    *,
    gt_folder: str,
    good_needs_gt: bool,
    points_from_gt: bool,
) -> CloudDataset:
    """The split of a `<class>/{train,test,<gt_folder>}` benchmark layout (Real3D-AD, Anomaly-ShapeNet).

    Training clouds are normal and unlabelled. A test cloud's kind is the word of its file name and its
    labels come from `<gt_folder>/<stem>.txt`, which anomalous clouds (and, with ``good_needs_gt``, normal
    ones) must have; ``points_from_gt`` takes the points from that file too (the Real3D-AD convention).
    """
    check_split(split)
    folder = class_folder(root, class_name)
    clouds = list_files(folder / split, SUFFIXES, split)
    if split == TRAIN:
        return CloudDataset(SampleSource(p, class_name, GOOD, split) for p in clouds)
    sources = []
    for cloud in clouds:
        kind = parse_kind(cloud.stem)
        gt: Path | None = folder / gt_folder / f"{cloud.stem}.txt"
        if not gt.is_file():
            if kind != GOOD or good_needs_gt:
                what = "test cloud" if good_needs_gt else "anomalous test cloud"
                raise DatasetError(cloud, f"{what} has no ground truth {gt}")
            gt = None
        sources.append(SampleSource(cloud, class_name, kind, split, gt=gt, points_from_gt=points_from_gt))
    return CloudDataset(sources)
