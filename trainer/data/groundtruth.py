"""Per-point ground-truth text files: one `x y z label` row per point, any common delimiter."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from trainer.data.errors import DatasetError

_TO_SPACES = str.maketrans({",": " ", ";": " ", "\t": " "})
_EMPTY_FIELD = re.compile(r"[,;][ \t]*[,;]|^[ \t]*[,;]|[,;][ \t]*$", re.MULTILINE)


def read_ground_truth(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) float32 and labels (N,) uint8 of a ground-truth file.

    Fields may be separated by spaces, tabs, commas, semicolons or a mix of them; blank
    lines and a trailing newline are ignored. Every row must hold exactly four numbers and
    every label must be 0 or 1; anything else raises `DatasetError` naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(path, "ground-truth file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"cannot read ground-truth file ({exc})") from None
    if _EMPTY_FIELD.search(text):
        raise DatasetError(path, "ground truth has an empty field between delimiters")
    if not text.strip():
        raise DatasetError(path, "ground truth holds no points")
    try:
        values = np.loadtxt(io.StringIO(text.translate(_TO_SPACES)), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DatasetError(path, f"ground truth is not a table of 4 numbers per row ({exc})") from None
    if values.shape[1] != 4:
        raise DatasetError(path, f"ground-truth rows must have 4 fields (x y z label), found {values.shape[1]}")
    if not np.isfinite(values).all():
        raise DatasetError(path, "ground truth holds non-finite values")
    labels = values[:, 3]
    if not np.isin(labels, (0.0, 1.0)).all():
        bad = np.unique(labels[~np.isin(labels, (0.0, 1.0))])[:5]
        raise DatasetError(path, f"ground-truth labels must be 0 or 1, found {bad.tolist()}")
    return values[:, :3].astype(np.float32), labels.astype(np.uint8)
