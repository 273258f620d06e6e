"""Training step time with a re-parameterised trunk (`reparam = true`) against the plain one, same run.

    python benchmarks/bench_reparam.py [--features 64] [--blocks 16] [--steps 5] [--rounds 2]

Figures: median ms per pretraining step (satsr.gan.pretrain_step on one fixed batch of 16 crops of 96 px HR,
after 2 warm-up steps; best of interleaved rounds) for
  plain      the srresnet as exported
  online     reparam = true as satsr trains it: the four branches composed into one kernel every step
  branches   the same branches run one by one (what online composition avoids)
The exported weights of all three are one plain srresnet, so upscaling costs the same.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from satsr.config import TrainConfig
from satsr.gan import build_nets, pretrain_step, run_spec
from satsr.models import flush_denormals
from satsr.precision import resolve_precision
from satsr.reparam import RepConv

WARMUP = 2


class Branches(RepConv):
    """A RepConv that runs its branches separately (the textbook multi-branch block)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.identity.to(x.dtype).view(1, -1, 1, 1) * x
        return self.conv(x) + self.pointwise(x) + identity + self.squeeze(self.expand(x))


def step_ms(cfg: TrainConfig, form: str, steps: int, precision_name: str) -> float:
    torch.manual_seed(0)
    precision = resolve_precision(precision_name, "cpu")
    nets = build_nets(cfg, run_spec(cfg, 3, 4), precision, 1)
    if form == "branches":
        for rep in (m for m in nets.g.modules() if isinstance(m, RepConv)):
            rep.__class__ = Branches
    side = cfg.hr_crop // 4
    lr = precision.tensor(torch.rand(cfg.batch_size, 3, side, side))
    hr = torch.rand(cfg.batch_size, 3, cfg.hr_crop, cfg.hr_crop)
    valid = torch.ones(cfg.batch_size, cfg.hr_crop, cfg.hr_crop, dtype=torch.bool)
    batch = (lr, hr, valid, torch.full((cfg.batch_size,), float("nan")))
    times = []
    for i in range(WARMUP + steps):
        start = time.perf_counter()
        pretrain_step(nets, batch, cfg, precision.autocast)
        if i >= WARMUP:
            times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", default="auto", help="auto (bf16 where native), fp32 or bf16")
    args = parser.parse_args()
    flush_denormals()
    base = {"features": args.features, "blocks": args.blocks, "upsampler": "shuffle-direct"}
    forms = {"plain": TrainConfig(**base), "online": TrainConfig(**base, reparam=True),
             "branches": TrainConfig(**base, reparam=True)}  # fmt: skip
    rounds = [
        {form: step_ms(cfg, form, args.steps, args.precision) for form, cfg in forms.items()}
        for _ in range(args.rounds)
    ]  # interleaved, so load from other processes hits all forms
    best = {form: min(r[form] for r in rounds) for form in forms}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.precision}; "
          f"G {args.features}x{args.blocks} shuffle-direct; batch 16 of 96 px HR")  # fmt: skip
    for form, ms in best.items():
        print(f"{form:<10}{ms:>8.0f} ms/step{ms / best['plain']:>8.2f}x plain")


if __name__ == "__main__":
    main()
