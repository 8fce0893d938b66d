import torch

from edge.scoring.memory_bank import nearest_distance
from trainer.fit.coreset import greedy_coreset


def test_nearest_distance_matches_brute_force_cdist_in_small_chunks() -> None:
    query, bank = torch.randn(300, 40), torch.randn(500, 40)
    dist, idx = nearest_distance(query, bank, max_bytes=4 * 500 * 7)
    ref = torch.cdist(query.double(), bank.double())
    assert torch.allclose(dist.double(), ref.min(dim=1).values, atol=1e-4)
    assert torch.equal(idx, ref.argmin(dim=1))


def test_query_equal_to_a_bank_entry_has_zero_distance() -> None:
    bank = torch.randn(50, 8) * 100
    dist, idx = nearest_distance(bank[7:8], bank)
    assert dist.item() == 0.0 and idx.item() == 7


def test_coreset_covers_every_cluster_of_the_data() -> None:
    centers = torch.tensor([[0.0, 0], [100, 0], [0, 100], [100, 100]])
    data = (centers.repeat_interleave(250, 0) + torch.randn(1000, 2))[torch.randperm(1000)]
    chosen = greedy_coreset(data, 4, projection_dim=None)
    picked = data[chosen]
    assert torch.cdist(centers, picked).min(dim=1).values.max() < 10


def test_coreset_is_deterministic_under_a_seed_and_has_no_duplicates() -> None:
    data = torch.randn(2000, 200)
    a, b = greedy_coreset(data, 64, seed=3), greedy_coreset(data, 64, seed=3)
    assert torch.equal(a, b) and a.unique().numel() == 64


def test_coreset_larger_than_the_data_keeps_everything() -> None:
    assert torch.equal(greedy_coreset(torch.randn(10, 3), 20), torch.arange(10))
