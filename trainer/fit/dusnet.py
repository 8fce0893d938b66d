"""Training DUS-Net in the paper's order: the Down-Net first, then the Up-Net on the frozen Down-Net's outputs.

Samples come from a list of normalised clouds (``ShapeFrame`` unit sphere). Every step draws ``batch_size``
clouds, keeps a random share (``min_keep`` to 1) of each cloud's points and takes G farthest-point centers from
a random start (the subsample is a random permutation, FPS starts at its first row), so every step sees other
centers and patch densities. The K nearest points of a center form its patch.

1. Down-Net: Noise-Gen corrupts the patches; the loss compares the predicted centers with the clean ones:
   MSE + ``cosine_weight`` * cosine + ``chamfer_weight`` * Chamfer.
2. Up-Net: the frozen Down-Net denoises Noise-Gen patches; the Up-Net's G * gamma points are compared with
   the clean cloud randomly subsampled to G * gamma points: Sinkhorn EMD + ``repulsion_weight`` * repulsion.

``pretrain_dusnet`` starts from random weights (the shipped prior, ``pcinspect pretrain``);
``fine_tune_dusnet`` starts from the prior checkpoint and adapts it to a recipe's few normal scans.
Checkpoints are safetensors files: weights under ``down_net.*`` / ``up_net.*``, constructor configs as JSON in
the metadata (``save_dusnet``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from edge.geometry.fps import farthest_point_sampling
from edge.models.down_net import DownNet
from edge.models.up_net import UpNet
from trainer.models.losses import (
    chamfer_distance,
    cosine_loss,
    emd_sinkhorn,
    mse_loss,
    nearest_indices,
    repulsion_loss,
)
from trainer.models.noise_gen import NoiseGen

Progress = Callable[[str], None]

DEFAULT_PRIOR_PATH = Path(__file__).resolve().parents[1] / "models" / "checkpoints" / "dusnet_prior.safetensors"
CHECKPOINT_FORMAT = "pcinspect-dusnet/1"


@dataclass
class DusNetOptions:
    """Sampling, noise, loss and optimisation settings; the defaults are the recipe fine-tuning ones.

    ``lr`` is the Down-Net's learning rate, ``up_lr`` the Up-Net's (AdamW, cosine decay to a tenth). ``min_keep``:
    each step keeps a random share in [min_keep, 1] of every cloud's points. ``threads``: torch threads while
    training (None leaves torch's setting): 1 by default, because on a shared, loaded CPU two threads
    make the many small sampling ops many times slower; a dedicated workstation may use more.
    """

    groups: int = 256
    group_size: int = 32
    gamma: int = 8
    down_steps: int = 80
    up_steps: int = 40
    lr: float = 3e-4
    up_lr: float = 1e-3
    batch_size: int = 4
    alpha: float = 0.08
    beta: float = 0.15
    noise_ratio: float = 0.25
    min_keep: float = 0.7
    max_points: int = 16384
    cosine_weight: float = 1.0
    chamfer_weight: float = 1.0
    repulsion_weight: float = 0.1
    repulsion_h: float = 0.03
    emd_blur: float = 0.005
    emd_iterations: int = 30
    emd_candidates: int = 8
    seed: int = 0
    threads: int | None = 1

    def noise(self) -> NoiseGen:
        return NoiseGen(alpha=self.alpha, beta=self.beta, ratio=self.noise_ratio)


@dataclass
class Batch:
    """One training batch: the clean clouds (full), the step's centers (B, G, 3) and their patches (B, G, K, 3)."""

    clouds: list[torch.Tensor]
    centers: torch.Tensor
    neighbours: torch.Tensor


class Sampler:
    """Draws training batches from normalised clouds with its own seeded random streams."""

    def __init__(self, clouds: Sequence[torch.Tensor | np.ndarray], options: DusNetOptions) -> None:
        self.clouds = [torch.as_tensor(np.asarray(c, dtype=np.float32)).reshape(-1, 3) for c in clouds]
        smallest = min((c.shape[0] for c in self.clouds), default=0)
        if smallest < max(options.groups * options.gamma, options.group_size):
            raise ValueError(
                f"every training cloud needs at least {options.groups * options.gamma} points "
                f"(groups x gamma), the smallest has {smallest}"
            )
        self.options = options
        self.rng = np.random.default_rng(options.seed)
        self.generator = torch.Generator().manual_seed(options.seed)

    def batch(self) -> Batch:
        o = self.options
        chosen = [self.clouds[i] for i in self.rng.integers(len(self.clouds), size=o.batch_size)]
        keep = self.rng.uniform(o.min_keep, 1.0)
        n = max(o.groups, o.group_size, min(o.max_points, int(keep * min(c.shape[0] for c in chosen))))
        points = torch.stack([c[torch.randperm(c.shape[0], generator=self.generator)[:n]] for c in chosen])
        idx = farthest_point_sampling(points, o.groups)
        centers = points.gather(1, idx.unsqueeze(2).expand(-1, -1, 3))
        near = nearest_indices(centers, points, o.group_size)
        neighbours = points.gather(1, near.reshape(o.batch_size, -1, 1).expand(-1, -1, 3))
        return Batch(chosen, centers, neighbours.reshape(o.batch_size, o.groups, o.group_size, 3))

    def dense_targets(self, clouds: list[torch.Tensor]) -> torch.Tensor:
        """Each clean cloud randomly subsampled to G * gamma points (B, G * gamma, 3)."""
        m = self.options.groups * self.options.gamma
        return torch.stack([c[torch.randperm(c.shape[0], generator=self.generator)[:m]] for c in clouds])


def down_net_loss(pred: torch.Tensor, clean: torch.Tensor, options: DusNetOptions) -> torch.Tensor:
    """MSE + cosine + Chamfer between predicted and clean centers."""
    return (
        mse_loss(pred, clean)
        + options.cosine_weight * cosine_loss(pred, clean)
        + options.chamfer_weight * chamfer_distance(pred, clean)
    )


def up_net_loss(dense: torch.Tensor, target: torch.Tensor, options: DusNetOptions) -> torch.Tensor:
    """Sinkhorn EMD to the clean dense cloud + repulsion among the generated points."""
    emd = emd_sinkhorn(
        dense, target, blur=options.emd_blur, max_iter=options.emd_iterations, candidates=options.emd_candidates
    )
    return emd + options.repulsion_weight * repulsion_loss(dense, h=options.repulsion_h)


def _optimiser(
    net: torch.nn.Module, lr: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with a cosine decay to a tenth of ``lr`` over ``steps``."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)

    def factor(step: int) -> float:
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * min(step, steps) / max(steps, 1)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _report(say: Progress, name: str, step: int, steps: int, losses: list[float], started: float) -> None:
    if step == steps or step % 10 == 0:
        recent = float(np.mean(losses[-10:]))
        say(f"{name} step {step}/{steps} loss {recent:.5f} ({time.perf_counter() - started:.0f} s)")


def fit_down_net(
    down: DownNet, sampler: Sampler, steps: int, lr: float, progress: Progress | None = None
) -> list[float]:
    """Train ``down`` for ``steps`` Noise-Gen batches; returns the loss of every step."""
    options = sampler.options

    def loss(batch: Batch, noisy_centers: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        return down_net_loss(down(patches, noisy_centers), batch.centers, options)

    return _train(down, "down-net", sampler, steps, lr, loss, progress)


def fit_up_net(
    up: UpNet, down: DownNet, sampler: Sampler, steps: int, lr: float, progress: Progress | None = None
) -> list[float]:
    """Train ``up`` on the frozen ``down``'s outputs for ``steps`` batches; returns the loss of every step."""
    options = sampler.options
    down.eval()

    def loss(batch: Batch, noisy_centers: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            denoised = down(patches, noisy_centers)
        return up_net_loss(up(denoised), sampler.dense_targets(batch.clouds), options)

    return _train(up, "up-net", sampler, steps, lr, loss, progress)


def _train(net: torch.nn.Module, name: str, sampler: Sampler, steps: int, lr: float,
           step_loss: Callable[[Batch, torch.Tensor, torch.Tensor], torch.Tensor],
           progress: Progress | None) -> list[float]:
    """The loop both networks train with: per step one Noise-Gen batch (clean batch, noisy centers, noisy
    patches) into ``step_loss``, AdamW with cosine decay, progress every 10 steps; ``net`` ends in eval mode."""
    say = progress or (lambda _msg: None)
    noise = sampler.options.noise()
    opt, sched = _optimiser(net, lr, steps)
    net.train()
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(1, steps + 1):
        batch = sampler.batch()
        noisy_centers, patches = noise(batch.centers, batch.neighbours, sampler.generator)
        loss = step_loss(batch, noisy_centers, patches)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        _report(say, name, step, steps, losses, started)
    net.eval()
    return losses


def train_dusnet(
    down: DownNet,
    up: UpNet,
    clouds: Sequence[torch.Tensor | np.ndarray],
    options: DusNetOptions,
    progress: Progress | None = None,
) -> tuple[DownNet, UpNet]:
    """Down-Net then Up-Net on ``clouds`` (each (P_i, 3), normalised), in place; returns both nets."""
    if down.group_size != options.group_size or up.gamma != options.gamma:
        raise ValueError(
            f"options (group_size {options.group_size}, gamma {options.gamma}) do not match the networks "
            f"(group_size {down.group_size}, gamma {up.gamma})"
        )
    up.check_groups(options.groups)
    torch.manual_seed(options.seed)
    sampler = Sampler(clouds, options)
    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        fit_down_net(down, sampler, options.down_steps, options.lr, progress)
        for p in down.parameters():
            p.requires_grad_(False)
        fit_up_net(up, down, sampler, options.up_steps, options.up_lr, progress)
    finally:
        for p in down.parameters():
            p.requires_grad_(True)
        torch.set_num_threads(previous_threads)
    return down, up


def pretrain_dusnet(
    clouds: Sequence[torch.Tensor | np.ndarray],
    options: DusNetOptions,
    progress: Progress | None = None,
    down_config: dict[str, object] | None = None,
    up_config: dict[str, object] | None = None,
) -> tuple[DownNet, UpNet]:
    """Train both networks from random initialisation (seeded by ``options.seed``): the shape prior."""
    torch.manual_seed(options.seed)
    down = DownNet(**{"group_size": options.group_size, **(down_config or {})})
    up = UpNet(**{"gamma": options.gamma, **(up_config or {})})
    return train_dusnet(down, up, clouds, options, progress)


def fine_tune_dusnet(
    clouds: Sequence[torch.Tensor | np.ndarray],
    options: DusNetOptions | None = None,
    prior: Path | str = DEFAULT_PRIOR_PATH,
    progress: Progress | None = None,
) -> tuple[DownNet, UpNet]:
    """Adapt the prior checkpoint to a recipe's normal ``clouds`` (each (P_i, 3) in the recipe's ShapeFrame)."""
    options = options or DusNetOptions()
    down, up = load_dusnet(prior)
    return train_dusnet(down, up, clouds, options, progress)


def save_dusnet(path: Path | str, down: DownNet, up: UpNet, info: dict[str, object] | None = None) -> Path:
    """Write both networks to one safetensors file; ``info`` (e.g. the training options) goes to the metadata.

    The metadata is one entry, ``dusnet``: a JSON object with ``format``, the constructor configs ``down_net``
    and ``up_net``, and ``info`` (one entry, so the header and the whole file are byte-reproducible).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"down_net.{k}": v.detach().contiguous() for k, v in down.state_dict().items()}
    tensors |= {f"up_net.{k}": v.detach().contiguous() for k, v in up.state_dict().items()}
    header = {"format": CHECKPOINT_FORMAT, "down_net": down.config, "up_net": up.config, "info": info or {}}
    save_file(tensors, str(path), metadata={"dusnet": json.dumps(header, sort_keys=True)})
    return path


def load_dusnet(path: Path | str) -> tuple[DownNet, UpNet]:
    """Both networks of a checkpoint written by ``save_dusnet``, in eval mode."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    header = json.loads(metadata.get("dusnet", "{}"))
    if header.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint (format {header.get('format')!r})")
    tensors = load_file(str(path))
    nets = []
    for name, cls in (("down_net", DownNet), ("up_net", UpNet)):
        net = cls(**header[name])
        state = {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}
        net.load_state_dict(state)
        nets.append(net.eval())
    return nets[0], nets[1]


def options_info(options: DusNetOptions, **extra: object) -> dict[str, object]:
    """The options as a plain dict for checkpoint metadata."""
    return {**asdict(options), **extra}
