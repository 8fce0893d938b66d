"""The Triton kernels of the CUDA path give their torch forms' answers (neighbour search: grid candidates and brute
force; farthest point sampling), run here in Triton's interpreter on CPU tensors (a subprocess: the interpreter must
be chosen before Triton is imported)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import pytest

pytestmark = pytest.mark.skipif(find_spec("triton") is None, reason="needs Triton (its interpreter runs on the CPU)")

SETUP = """
import math, torch
from edge.geometry import gpu_kernels
from edge.geometry.gpu_kernels.knn import candidate_knn, nearest
from edge.geometry.knn import CandidateRanges, _matrix_brute_force, _padded_candidate_knn
assert gpu_kernels.INTERPRETED and gpu_kernels.usable(torch.zeros(1), "knn")
g = torch.Generator().manual_seed(7)
points = torch.rand(120, 3, generator=g)
query = torch.rand(6, 3, generator=g)
length = torch.randint(0, 12, (6, 9), generator=g)
length[:, [1, 2, 5, 6, 7]] = 0                  # empty ranges between full ones
length[0] = 0                                   # a query without candidates
length[1, :2] = torch.tensor([1, 2])            # one with fewer than k
start = torch.randint(0, 120 - 14, (6, 9), generator=g)
own = start[:, 4] + length[:, 4].clamp_max(1) - 1  # each query's own point, where its middle range has one
own[own < start[:, 4]] = -1
def check(k, radius, use_own):
    ranges = CandidateRanges(points, start, length, own if use_own else None)
    want_d, want_p = _padded_candidate_knn(ranges, query, k, radius, 1 << 20)
    got_d, got_p = candidate_knn(ranges, query, k, radius)
    assert torch.equal(got_p, want_p), (got_p, want_p)
    assert torch.equal(got_d, want_d), (got_d - want_d).abs().max()
    return int((want_p >= 0).sum())
"""


def run_interpreted(body: str) -> str:
    env = dict(os.environ, TRITON_INTERPRET="1")
    script = SETUP + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_candidate_kernel_finds_the_k_nearest_of_its_ranges_skipping_its_own_point() -> None:
    found = run_interpreted("print(check(5, None, True))")
    assert int(found) > 20


def test_candidate_kernel_skips_candidates_at_or_beyond_the_radius() -> None:
    found = run_interpreted("print(check(12, 0.3, False), check(12, None, False))")
    within, everything = map(int, found.split())
    assert 0 < within < everything


def test_brute_force_kernel_equals_the_distance_matrices_within_the_radius_and_without_the_own_point() -> None:
    found = run_interpreted("""
        ref, own_index = points[:30], torch.arange(6)
        for k, radius, skip in ((3, None, own_index), (8, 0.35, None)):
            want_d, want_i = _matrix_brute_force(ref[:6], ref, k, skip, radius, 1 << 20)
            got_d, got_i = nearest(ref[:6], ref, k, skip, radius)
            assert torch.equal(got_i, want_i), (got_i, want_i)
            torch.testing.assert_close(got_d, want_d, rtol=0, atol=0)
        print(int((want_i < 0).sum()))
    """)
    assert int(found) > 0


def test_fps_kernel_picks_as_the_torch_steps_from_a_start_and_from_seeds() -> None:
    picked = run_interpreted("""
        from edge.geometry.fps import _FpsState, _kernel
        spread = torch.rand(5000, 3, generator=g)  # more points than one tile of the kernel
        cloud = torch.cat([spread, spread[:5]]).unsqueeze(0)  # duplicates: ties broken by the lowest index
        for start, seeds in ((3, None), (0, torch.tensor([[1, 4100]]))):
            state = _FpsState(1, 5005, 12, torch.float32, torch.device("cpu"))
            state.load(cloud, start, seeds)
            for _ in range(12):
                state.advance()
            got = _kernel(cloud, 12, start, seeds)
            assert torch.equal(got, state.out), (got, state.out)
        print(len(set(got[0].tolist())))
    """)
    assert int(picked) == 12
