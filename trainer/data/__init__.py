"""Datasets (Real3D-AD, Anomaly-ShapeNet, plain folders) and synthetic parts and defects."""

from trainer.data.ashapenet import load_ashapenet
from trainer.data.catalog import DATASET_FORMATS, list_classes, load_split
from trainer.data.dataset import CloudDataset, SampleSource, load_sample
from trainer.data.defects import DEFECT_KINDS, DefectResult, apply_defect
from trainer.data.errors import DatasetError
from trainer.data.folder import load_folder
from trainer.data.groundtruth import read_ground_truth
from trainer.data.parts import PART_KINDS, Part, make_family, make_part
from trainer.data.real3d import load_real3d
from trainer.data.sample import GOOD, Sample, parse_kind
from trainer.data.synthetic import synthetic_dataset, synthetic_sample

__all__ = [
    "DATASET_FORMATS",
    "DEFECT_KINDS",
    "GOOD",
    "PART_KINDS",
    "CloudDataset",
    "DatasetError",
    "DefectResult",
    "Part",
    "Sample",
    "SampleSource",
    "apply_defect",
    "list_classes",
    "load_ashapenet",
    "load_folder",
    "load_real3d",
    "load_sample",
    "load_split",
    "make_family",
    "make_part",
    "parse_kind",
    "read_ground_truth",
    "synthetic_dataset",
    "synthetic_sample",
]
