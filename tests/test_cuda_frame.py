"""The per-frame CUDA path without host synchronisation, counted with torch's sync debug mode, and with the CPU's
answers (skipped where torch sees no GPU)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from edge import cuda_graphs
from edge.geometry import fps, gpu_kernels
from edge.geometry.alignment import _ICP_GRAPHS, _icp_batch, _identity
from edge.geometry.fps import farthest_point_sampling
from edge.geometry.knn import knn, radius_knn
from edge.geometry.normals import _propagate_by_levels, _propagate_by_sweeps, local_pca
from edge.inspector import BranchScales, Inspector, RecipeModel
from edge.params import InspectorParams
from edge.scoring.calibration import Calibration
from edge.timing import StageTimer
from tests.geometry.conftest import torus

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


@contextmanager
def host_syncs() -> Iterator[list[str]]:
    """The synchronising CUDA calls made inside the block, as torch's sync debug mode reports them."""
    caught: list[str] = []

    def record(message: Warning | str, *args: object, **kwargs: object) -> None:
        if "called a synchronizing CUDA operation" in str(message):
            caught.append(str(message).splitlines()[0])

    torch.cuda.synchronize()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode("default")


@pytest.fixture(scope="module")
def cloud() -> torch.Tensor:
    return torus(20_000)[0]


def test_fps_replays_its_cached_graph_without_a_host_sync_and_picks_as_the_eager_steps(
    cloud: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu_kernels, "usable", lambda tensor, kernel: False)
    points = cloud.to(CUDA)
    farthest_point_sampling(points, 300)
    part = points[:17_000]
    seeds = torch.arange(0, 17_000, 97, device=CUDA)
    with host_syncs() as syncs:
        graphed = farthest_point_sampling(part, 256, seed_indices=seeds)
    assert syncs == []
    with cuda_graphs.eager():
        eager = farthest_point_sampling(part, 256, seed_indices=seeds)
    assert torch.equal(graphed.cpu(), eager.cpu())


def test_fps_kernel_runs_without_a_host_sync_and_picks_as_the_eager_steps(
    cloud: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = cloud.to(CUDA)
    part = points[:17_000]
    seeds = torch.arange(0, 17_000, 97, device=CUDA)
    farthest_point_sampling(points, 300)
    with host_syncs() as syncs:
        kernel = farthest_point_sampling(part, 700, seed_indices=seeds)
        started = farthest_point_sampling(points, 300, start=5)
    assert syncs == []
    monkeypatch.setattr(gpu_kernels, "usable", lambda tensor, kernel: False)
    with cuda_graphs.eager():
        assert torch.equal(kernel.cpu(), farthest_point_sampling(part, 700, seed_indices=seeds).cpu())
        assert torch.equal(started.cpu(), farthest_point_sampling(points, 300, start=5).cpu())


def test_normal_orientation_sweeps_sync_rarely_and_give_the_cpu_signs(cloud: torch.Tensor) -> None:
    _, neighbors = knn(cloud, cloud, 16)
    unoriented = local_pca(cloud, neighbors)[1][:, :, 0].float()
    expected = _propagate_by_levels(cloud, unoriented, neighbors)
    inputs = (cloud.to(CUDA), unoriented.to(CUDA), neighbors.to(CUDA))
    _propagate_by_sweeps(*inputs)
    with host_syncs() as syncs:
        oriented = _propagate_by_sweeps(*inputs)
    assert len(syncs) <= 12, syncs
    assert (oriented.cpu() == expected).all(dim=1).float().mean() > 0.999


def test_icp_with_a_fixed_iteration_count_replays_a_graph_without_a_host_sync(cloud: torch.Tensor) -> None:
    target = cloud[::4].to(CUDA)
    normals = torus(20_000)[1][::4].to(CUDA)
    source = target[1::2] @ torch.linalg.matrix_exp(torch.tensor([[0, -0.05, 0], [0.05, 0, 0], [0, 0, 0.0]])).to(CUDA).T
    start = _identity(source).unsqueeze(0)
    _icp_batch(source, target, normals, start, 2.0, 20, 1e-6, check_every=20)
    with host_syncs() as syncs:
        fixed = _icp_batch(source, target, normals, start, 2.0, 20, 1e-6, check_every=20)
    assert syncs == []
    assert all(graph is not None for _, graph in _ICP_GRAPHS.entries().values()), "an ICP graph capture failed"
    converging = _icp_batch(source, target, normals, start, 2.0, 20, 1e-6, check_every=1)
    assert torch.equal(fixed[0], converging[0]) and int(fixed[3]) == int(converging[3])


def test_a_batch_of_icp_starts_captures_its_graph_and_equals_the_eager_run(cloud: torch.Tensor) -> None:
    target = cloud[::4].to(CUDA)
    normals = torus(20_000)[1][::4].to(CUDA)
    source = target[1::3].contiguous()
    angles = torch.linspace(-0.2, 0.2, 8, dtype=torch.float64)
    starts = torch.stack([_identity(source) for _ in angles])
    starts[:, 0, 0], starts[:, 0, 1], starts[:, 1, 0], starts[:, 1, 1] = (
        angles.cos(), -angles.sin(), angles.sin(), angles.cos())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="ICP .* runs eagerly")
        graphed = _icp_batch(source, target, normals, starts.to(CUDA, torch.float64), 2.0, 16, 1e-6, check_every=4)
    with cuda_graphs.eager():
        eager = _icp_batch(source, target, normals, starts.to(CUDA, torch.float64), 2.0, 16, 1e-6, check_every=4)
    torch.testing.assert_close(graphed[0], eager[0], rtol=0, atol=1e-12)
    assert int(graphed[3]) == int(eager[3])


def test_grid_searches_sync_once_per_level_and_equal_the_kdtree(cloud: torch.Tensor) -> None:
    points = cloud.to(CUDA)
    with host_syncs() as radius_syncs:
        d_radius, _ = radius_knn(points, points, 2.0, 24, exclude_self=True)
    with host_syncs() as knn_syncs:
        d_knn, _ = knn(points, points, 16, exclude_self=True)
    assert len(radius_syncs) <= 1, radius_syncs
    assert len(knn_syncs) <= 2, knn_syncs
    torch.testing.assert_close(d_radius.cpu(), radius_knn(cloud, cloud, 2.0, 24, exclude_self=True)[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(d_knn.cpu(), knn(cloud, cloud, 16, exclude_self=True)[0], rtol=1e-5, atol=1e-6)


def test_stage_timer_times_cuda_stages_without_synchronising_them() -> None:
    timer = StageTimer(CUDA)
    a = torch.randn(2048, 2048, device=CUDA)
    with host_syncs() as syncs:
        with timer.stage("matmul"):
            for _ in range(10):
                a = torch.tanh(a @ a)
    assert syncs == []
    ms = timer.as_dict()
    assert ms["matmul"] > 0 and ms["total"] == ms["matmul"]


def torus_inspector(device: torch.device) -> Inspector:
    """An Inspector of a torus recipe (template branch, FPFH + AGCS features, summed fusion; no networks)."""
    template, normals = torus(12_000)
    params = InspectorParams.model_validate({
        "preprocess": {"voxel_size": 0.8},
        "features": {"groups": 128, "fpfh_radii_voxels": [3.0, 5.0]},
        "reconstruction": {"enabled": False},
        "scoring": {"fusion": "sum"},
    })
    bank = torch.rand(256, 66, generator=torch.Generator().manual_seed(0)) / 10
    model = RecipeModel(params, template, normals, bank, BranchScales(), Calibration(threshold=20.0, normal_median=1.0))
    return Inspector(model, device)


def test_a_cuda_frame_needs_few_host_syncs_and_scores_as_on_the_cpu() -> None:
    frame = torus(40_000, seed=5)[0] + torch.tensor([0.2, -0.1, 0.1])
    gpu = torus_inspector(CUDA)
    gpu.inspect(frame)
    with host_syncs() as syncs:
        verdict = gpu.inspect(frame)
    expected = torus_inspector(torch.device("cpu")).inspect(frame)
    assert len(syncs) <= 40, f"{len(syncs)} host syncs"
    assert verdict.decision == expected.decision
    assert verdict.raw_score == pytest.approx(expected.raw_score, rel=1e-3)


def test_torch_networks_replay_a_captured_graph_with_the_eager_outputs() -> None:
    from edge.models import NETWORK_SPECS, build_network
    from edge.runtime.torch_backend import TorchNetwork

    torch.manual_seed(0)
    module = build_network("up_net", {"gamma": 4, "width": 32, "neighbors": 4}).float().eval().to(CUDA)
    network = TorchNetwork("up_net", NETWORK_SPECS["up_net"], module, {"centers": [64, 3]}, CUDA)
    for seed in range(3):
        centers = torch.randn(1, 64, 3, generator=torch.Generator().manual_seed(seed)).to(CUDA)
        with torch.inference_mode():
            expected = module(centers)
        torch.testing.assert_close(network(centers), expected, rtol=1e-5, atol=1e-6)
    assert len(network._graphs.entries()) == 1


def test_two_worker_threads_on_their_own_streams_replay_their_own_graphs_and_score_as_the_main_thread() -> None:
    frame = torus(40_000, seed=5)[0] + torch.tensor([0.2, -0.1, 0.1])
    inspector = torus_inspector(CUDA)
    expected = inspector.inspect(frame)
    results: dict[str, list] = {"verdicts": [], "graphs": [], "errors": []}

    def work() -> None:
        try:
            with cuda_graphs.own_stream(CUDA):
                results["verdicts"] += [inspector.inspect(frame) for _ in range(3)]
            icp = _ICP_GRAPHS.entries().values()
            assert all(graph is not None for _, graph in icp), "an ICP graph capture failed in a worker"
            results["graphs"].append(len(fps._GRAPHS.entries()) + len(icp))
        except Exception as exc:  # reported below with the thread's other results
            results["errors"].append(repr(exc))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results["errors"] == []
    assert all(count > 0 for count in results["graphs"]) and len(results["graphs"]) == 2
    assert [v.decision for v in results["verdicts"]] == [expected.decision] * 6
    assert all(v.raw_score == pytest.approx(expected.raw_score, rel=1e-5) for v in results["verdicts"])


def test_missing_material_at_the_input_resolution_on_cuda_equals_the_cpu() -> None:
    from edge.geometry.sampling import voxel_downsample
    from edge.scoring.deviation import fine_missing

    ticks = torch.arange(0.0, 21.0, 0.25)
    x, y = torch.meshgrid(ticks, ticks, indexing="ij")
    scan = torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros(x.numel())], dim=1)
    scan = scan[((scan[:, :2] - 10.5) ** 2).sum(dim=1).sqrt() > 2.2]
    scan[:, :2] += 0.05 * torch.rand(scan.shape[0], 2, generator=torch.Generator().manual_seed(0))  # no tied rims
    merged, rows = voxel_downsample(scan, 1.0)
    ticks = torch.arange(0.0, 21.0, 1.0)
    x, y = torch.meshgrid(ticks, ticks, indexing="ij")
    template = torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros(x.numel())], dim=1)
    expected = fine_missing(scan, rows, merged, template, gap_radius=0.75, cell=1.0)
    found = fine_missing(scan.to(CUDA), rows.to(CUDA), merged.to(CUDA), template.to(CUDA), gap_radius=0.75, cell=1.0)
    assert float(expected.max()) > 1.5
    torch.testing.assert_close(found.cpu(), expected, rtol=1e-5, atol=1e-5)
