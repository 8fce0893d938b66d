"""A Triton kernel that fails (a compile error on a GPU it was never built for) costs one log line, never a frame:
the torch form answers, then and from then on."""

from __future__ import annotations

import logging

import pytest
import torch

from edge.geometry import gpu_kernels
from edge.geometry.knn import _grid_search, knn


@pytest.fixture(autouse=True)
def no_failed_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_kernels, "_FAILED", {})


def broken_kernel() -> torch.Tensor:
    raise RuntimeError("CompilationError: at 28:12: no such instruction on this GPU\n(details)")


def test_a_failing_kernel_answers_with_its_torch_form_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="edge.geometry.gpu_kernels"):
        first = gpu_kernels.run("fps", broken_kernel, lambda: torch.tensor([7]))
    assert first.tolist() == [7]
    assert [r.getMessage() for r in caplog.records] == [
        "Triton kernel fps failed (RuntimeError: CompilationError: at 28:12: no such instruction on this GPU); "
        "its torch form runs instead from now on"
    ]


def test_a_failed_kernel_is_not_used_again_in_the_process() -> None:
    probe = torch.zeros(1, device="cpu")
    gpu_kernels.run("knn", broken_kernel, lambda: torch.zeros(1))
    assert not gpu_kernels.usable(probe, "knn")


def test_the_cuda_neighbour_search_falls_back_to_its_torch_forms_when_the_kernel_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.geometry.gpu_kernels.knn as kernels

    monkeypatch.setattr(gpu_kernels, "AVAILABLE", True)
    monkeypatch.setattr(gpu_kernels, "INTERPRETED", True)  # the kernel path on CPU tensors
    monkeypatch.setattr(kernels, "candidate_knn", lambda *args: broken_kernel())
    monkeypatch.setattr(kernels, "nearest", lambda *args: broken_kernel())
    points = torch.rand(400, 3, generator=torch.Generator().manual_seed(3))
    dist, idx = _grid_search(points, points, 6, None, True, 1 << 20)
    want_d, want_i = knn(points, points, 6, exclude_self=True)
    torch.testing.assert_close(dist, want_d)
    assert torch.equal(idx, want_i)
    assert "knn" in gpu_kernels._FAILED
