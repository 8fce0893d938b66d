"""`pcinspect bench geometry`: a table of every op, and a clear error without CUDA."""

from __future__ import annotations

import argparse

import pytest
import torch

from edge.cli import bench


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pcinspect")
    bench.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", "geometry", *argv])


def test_bench_prints_a_row_per_op_with_open3d_reference(capsys) -> None:
    assert bench.run(parse("--points", "3000", "--repeat", "1", "--threads", "1")) == 0
    out = capsys.readouterr().out
    for op in ("knn", "fps", "normals", "fpfh", "voxel downsample", "outlier removal", "agcs", "grouping"):
        assert op in out
    assert "open3d ms" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_bench_on_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        bench.run(parse("--device", "cuda"))
