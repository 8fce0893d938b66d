"""The compiled CPU kernels (numba) behind the geometry ops: same answers as their reference formulations."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from edge.geometry import compiled
from edge.geometry.fpfh import fpfh
from edge.geometry.knn import knn
from tests.geometry.conftest import torus


def test_the_kernels_are_compiled_here() -> None:
    """CI and the workstation install numba (pyproject): the CPU ops must not silently run their torch fallback."""
    assert compiled.AVAILABLE


def test_neighbourhood_pca_equals_lapack_eigh_to_rounding() -> None:
    points, _ = torus(3000)
    _, neighbors = knn(points, points, 16)
    values, vectors = compiled.neighbourhood_pca(points.numpy(), neighbors.numpy())
    nbr = points.double()[neighbors]
    centered = nbr - nbr.mean(dim=1, keepdim=True)
    expected_values, expected_vectors = torch.linalg.eigh(centered.transpose(1, 2) @ centered / 16)
    np.testing.assert_allclose(values, expected_values.numpy(), rtol=1e-9, atol=1e-12)
    agreement = np.abs((vectors * expected_vectors.numpy()).sum(axis=1))
    assert agreement.min() > 1.0 - 1e-9


def test_neighbourhood_pca_of_flat_and_straight_neighbourhoods_gives_the_missing_axis_first() -> None:
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(16, 3)) * [1.0, 2.0, 0.0]
    straight = rng.normal(size=(16, 3)) * [0.0, 3.0, 0.0]
    values, vectors = compiled.neighbourhood_pca(np.concatenate([flat, straight]), np.arange(32).reshape(2, 16))
    assert values[0, 0] == 0.0 and values[1, 0] == values[1, 1] == 0.0 and values[1, 2] > 0.0
    assert abs(vectors[0, 2, 0]) == 1.0 and abs(vectors[1, 1, 2]) == 1.0
    np.testing.assert_allclose(np.einsum("nij,nik->njk", vectors, vectors), np.broadcast_to(np.eye(3), (2, 3, 3)),
                               atol=1e-15)


def test_kernels_called_from_two_threads_at_once_answer_as_called_alone() -> None:
    """The service's workers inspect frames concurrently: the parallel kernels must be thread-safe."""
    points, normals = torus(4000)
    alone = fpfh(points, normals, radius=2.0, max_nn=40)
    results: list[torch.Tensor] = []

    def work() -> None:
        for _ in range(3):
            results.append(fpfh(points, normals, radius=2.0, max_nn=40))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(torch.equal(r, alone) for r in results)


def test_gathered_squared_distances_round_as_torch_elementwise_ops() -> None:
    gen = torch.Generator().manual_seed(5)
    ref = torch.randn(3000, 3, generator=gen) * 50
    query = torch.randn(1000, 3, generator=gen) * 50
    idx = torch.randint(-1, 3000, (1000, 12), generator=gen)
    for dtype in (torch.float32, torch.float64):
        q, r = query.to(dtype), ref.to(dtype)
        expected = ((r[idx.clamp_min(0)] - q.unsqueeze(1)) ** 2).sum(dim=2)
        got = compiled.gathered_squared_distances(q.numpy(), r.numpy(), idx.numpy())
        assert got.dtype == q.numpy().dtype and np.array_equal(got, expected.numpy())


def test_normals_without_numba_equal_the_compiled_ones_to_rounding(monkeypatch) -> None:
    """The GPU image has no numba: its CPU path (batched eigh, tensor sweeps) must orient every normal alike."""
    from edge.geometry.normals import estimate_normals

    points, _ = torus(3000)
    compiled_normals = estimate_normals(points, 16)
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    torch_normals = estimate_normals(points, 16)
    assert (compiled_normals.double() * torch_normals.double()).sum(dim=1).min() > 1.0 - 1e-6


def test_the_geometry_ops_run_their_torch_code_where_numba_is_not_installed(tmp_path) -> None:
    """The GPU image carries no numba: importing and running every op with a compiled kernel must still work."""
    import subprocess
    import sys

    script = tmp_path / "without_numba.py"
    script.write_text(
        "import sys\n"
        "sys.modules['numba'] = None\n"
        "import torch\n"
        "from edge.geometry import compiled\n"
        "from edge.geometry.agcs import agcs\n"
        "from edge.geometry.fpfh import fpfh\n"
        "from edge.geometry.fps import farthest_point_sampling\n"
        "from edge.geometry.normals import estimate_normals\n"
        "assert not compiled.AVAILABLE\n"
        "points = torch.rand(400, 3)\n"
        "normals = estimate_normals(points, 12)\n"
        "features = fpfh(points, normals, radius=0.3, max_nn=20)\n"
        "centers = agcs(points, features, 32, 0.5)\n"
        "assert farthest_point_sampling(points, 16).unique().numel() == 16 and centers.unique().numel() == 32\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_kernel_compiles_without_caching_where_no_cache_directory_is_writable(monkeypatch) -> None:
    """A hardened service without NUMBA_CACHE_DIR has nowhere to cache: the kernel must still compile and run."""
    import numba

    real_njit = numba.njit

    def njit(*args, **options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'double': no locator available for file 'x.py'")
        return real_njit(*args, **options)

    monkeypatch.setattr(numba, "njit", njit)

    def double(x: float) -> float:
        return 2.0 * x

    assert compiled._jit()(double)(3.0) == 6.0
