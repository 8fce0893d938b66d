"""The CUDA graph policy shared by the per-frame ops: per-thread caches and an eager switch (no GPU needed)."""

from __future__ import annotations

import threading

import torch

from edge import cuda_graphs

CUDA = torch.device("cuda")


def test_graphs_are_for_cuda_devices_only() -> None:
    assert cuda_graphs.enabled(CUDA)
    assert cuda_graphs.enabled(torch.device("cuda", 1))
    assert not cuda_graphs.enabled(torch.device("cpu"))


def test_eager_turns_graphs_off_in_its_block_nested_and_restores_them() -> None:
    with cuda_graphs.eager():
        assert not cuda_graphs.enabled(CUDA)
        with cuda_graphs.eager(False):
            assert not cuda_graphs.enabled(CUDA)
    with cuda_graphs.eager(False):
        assert cuda_graphs.enabled(CUDA)
    assert cuda_graphs.enabled(CUDA)


def test_eager_in_one_thread_leaves_the_others_on_graphs() -> None:
    seen: list[bool] = []
    with cuda_graphs.eager():
        other = threading.Thread(target=lambda: seen.append(cuda_graphs.enabled(CUDA)))
        other.start()
        other.join()
        assert not cuda_graphs.enabled(CUDA)
    assert seen == [True]


def test_each_thread_makes_and_keeps_its_own_entry_per_key() -> None:
    cache: cuda_graphs.GraphCache[object] = cuda_graphs.GraphCache()
    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    mine = cache.get("shape", make)
    assert cache.get("shape", make) is mine
    theirs: list[object] = []
    other = threading.Thread(target=lambda: theirs.extend([cache.get("shape", make), cache.get("shape", make)]))
    other.start()
    other.join()
    assert theirs[0] is theirs[1] and theirs[0] is not mine
    assert len(made) == 2 and list(cache.entries()) == ["shape"]


def test_own_stream_leaves_cpu_work_as_it_is() -> None:
    with cuda_graphs.own_stream(torch.device("cpu")):
        assert torch.ones(3).sum().item() == 3.0
