"""Ground-truth text files: delimiter detection, blank lines, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.data.errors import DatasetError
from trainer.data.groundtruth import read_ground_truth

EXPECTED_POINTS = np.float32([[1.5, -2.0, 3.25], [4.0, 5.0, 6.0], [-7.0, 8.0, 9.5]])
EXPECTED_LABELS = np.uint8([0, 1, 0])


@pytest.mark.parametrize(
    "text",
    [
        "1.5 -2 3.25 0\n4 5 6 1\n-7 8 9.5 0\n",
        "1.5,-2,3.25,0\n4,5,6,1\n-7,8,9.5,0",
        "1.5\t-2\t3.25\t0\n4\t5\t6\t1\n-7\t8\t9.5\t0\n",
        "1.5, -2  3.25\t0\n4 ,5,6 1\n-7;8;9.5;0\n",
        "\n1.5 -2 3.25 0\r\n\n4 5 6 1\n  -7 8 9.5 0  \n\n\n",
    ],
    ids=["spaces", "commas", "tabs", "mixed", "blank-lines-crlf"],
)
def test_read_ground_truth_detects_the_delimiter(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    points, labels = read_ground_truth(path)
    np.testing.assert_array_equal(points, EXPECTED_POINTS)
    np.testing.assert_array_equal(labels, EXPECTED_LABELS)
    assert points.dtype == np.float32 and labels.dtype == np.uint8


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no points"),
        ("\n\n", "no points"),
        ("1 2 3\n", "4 fields"),
        ("1 2 3 0\n1 2 3 0 5\n", "4 numbers per row"),
        ("1 2 3 0.5\n", "0 or 1"),
        ("1 2 x 0\n", "4 numbers per row"),
        ("1,,3,0\n", "empty field"),
        ("1 nan 3 0\n", "non-finite"),
    ],
)
def test_read_ground_truth_rejects_malformed_files_naming_them(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=problem) as error:
        read_ground_truth(path)
    assert str(path) in str(error.value)


def test_read_ground_truth_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        read_ground_truth(tmp_path / "missing.txt")
