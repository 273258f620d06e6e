"""Step time of `satsr train` against a bare PyTorch loop of the same models and batch; the loader's share.

    python benchmarks/bench_train.py [DATASET] [--steps 5] [--rounds 2] [--batch-size 16] [--hr-crop 96]

Without DATASET a synthetic prepared dataset (64 px LR tiles, like `satsr prepare`'s default) is built in a
temporary directory. Figures, all in ms per step, median over the timed steps (after 2 warm-up steps), best
of --rounds interleaved rounds so that load from other processes on a shared machine does not bias a ratio:
  satsr      run_training with loader workers, one phase at a time (step_ms from log.csv, every step)
  no-loader  satsr's own step functions (satsr.gan) on one preloaded batch: the step without data loading
  bare       a plain PyTorch loop: Adam, L1, BCE-with-logits, same Generator/Discriminator and batch
  loader     the DataLoader alone (crops, flips, normalisation), ms per batch
Ratios: satsr / bare (overhead of the training machinery) and loader / step (loader is no bottleneck when
it is well below 1 with workers running in parallel to the step).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from satsr import SCALE
from satsr.config import TrainConfig
from satsr.dataset import CropSampler, TileDataset, open_sources
from satsr.degrade import area_downsample
from satsr.discriminator import Discriminator
from satsr.gan import Nets, adam, adversarial_step, pretrain_step
from satsr.manifest import Manifest, SceneRecord, TileRecord, save_manifest, scene_paths
from satsr.models import Generator, GeneratorSpec
from satsr.normalise import Normalisation
from satsr.train import run_training


def synthetic_dataset(root: Path, train: int = 48, val: int = 4, lr_tile: int = 64) -> Path:
    rng = np.random.default_rng(0)
    n, hr_side = train + val, SCALE * lr_tile
    hr = np.stack([gaussian_filter(rng.random((3, hr_side, hr_side)), (0, 2, 2)) for _ in range(n)])
    hr = (255 * (hr - hr.min()) / np.ptp(hr)).astype(np.uint8)
    lr = np.stack([area_downsample(t, SCALE) for t in hr]).round().astype(np.uint8)
    (root / "scenes").mkdir(parents=True)
    lr_path, hr_path = scene_paths(root, "synthetic")
    np.save(lr_path, lr)
    np.save(hr_path, hr)
    scene = SceneRecord("synthetic", "degraded", "none", None, "EPSG:3857", (0.3, 0, 0, 0, -0.3, 0), n)
    window = (0, 0, lr_tile, lr_tile)
    tiles = [
        TileRecord("synthetic", i, "train" if i < train else "val", window, (0, 0, 1, 1)) for i in range(n)
    ]
    norm = Normalisation.for_dtype("uint8", 3).to_dict()
    save_manifest(root, Manifest("bench", SCALE, 3, "uint8", lr_tile, norm, [scene], tiles))
    return root


WARMUP = 2  # untimed steps per phase: oneDNN builds its kernels for new shapes


def satsr_ms(data: Path, run: Path, cfg: TrainConfig, n: int) -> tuple[float, float]:
    """(pretrain, adversarial) median ms/step of the real loop (validation and checkpoints kept out)."""
    k = WARMUP + n
    quiet = {"val_every": 10**9, "checkpoint_every": 10**9, "val_tiles": 1, "sample_tiles": 0}
    cfg = TrainConfig(**{**cfg.to_dict(), "steps": 2 * k, "pretrain_steps": k, "log_every": 1, **quiet})
    run_training([data], run, cfg, overwrite=True)
    with (run / "log.csv").open() as f:
        ms = {int(r["step"]): float(r["step_ms"]) for r in csv.DictReader(f) if r["step_ms"]}
    pre = [ms[s] for s in range(WARMUP + 1, k + 1)]
    adv = [ms[s] for s in range(k + WARMUP + 1, 2 * k + 1)]
    return float(np.median(pre)), float(np.median(adv))


def fixed_batch(data: Path, cfg: TrainConfig) -> tuple[torch.Tensor, ...]:
    ds = TileDataset(open_sources([data]), "train", cfg.hr_crop)
    items = [ds[key] for key in next(iter(CropSampler(len(ds), cfg.batch_size, cfg.seed)))]
    return tuple(torch.stack(parts) for parts in zip(*items, strict=True))


def _timed(step, n: int) -> float:
    for _ in range(WARMUP):
        step()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def no_loader_ms(batch: tuple[torch.Tensor, ...], cfg: TrainConfig, n: int) -> tuple[float, float]:
    torch.manual_seed(0)
    g = Generator(GeneratorSpec(3, cfg.features, cfg.blocks))
    d = Discriminator(3, cfg.d_features)
    nets = Nets(g, d, g, adam(g, cfg.lr_pretrain, cfg), adam(d, cfg.lr_d, cfg))
    from contextlib import nullcontext

    pre = _timed(lambda: pretrain_step(nets, batch, cfg, nullcontext), n)  # type: ignore[arg-type]
    adv = _timed(lambda: adversarial_step(nets, batch, cfg, cfg.adv_weight, nullcontext), n)  # type: ignore[arg-type]
    return pre, adv


def bare_ms(batch: tuple[torch.Tensor, ...], cfg: TrainConfig, n: int) -> tuple[float, float]:
    """The textbook SRGAN loop with the same models: no masks, EMA, clipping, statistics or checks."""
    torch.manual_seed(0)
    lr, hr, *_ = batch
    g, d = Generator(GeneratorSpec(3, cfg.features, cfg.blocks)), Discriminator(3, cfg.d_features)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 2e-4), torch.optim.Adam(d.parameters(), 1e-4)
    bce = F.binary_cross_entropy_with_logits

    def pre() -> None:
        opt_g.zero_grad()
        F.l1_loss(g(lr), hr).backward()
        opt_g.step()

    def adv() -> None:
        sr = g(lr)
        opt_d.zero_grad()
        real, fake = d(hr), d(sr.detach())
        (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))).backward()
        opt_d.step()
        opt_g.zero_grad()
        fake = d(sr)
        (F.l1_loss(sr, hr) + cfg.adv_weight * bce(fake, torch.ones_like(fake))).backward()
        opt_g.step()

    return _timed(pre, n), _timed(adv, n)


def loader_ms(data: Path, cfg: TrainConfig, n: int, workers: int) -> float:
    ds = TileDataset(open_sources([data]), "train", cfg.hr_crop)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=CropSampler(len(ds), cfg.batch_size, 0),
                                         num_workers=workers)  # fmt: skip
    it = iter(loader)
    next(it)  # worker start-up is not per-step cost
    start = time.perf_counter()
    for _ in range(n):
        next(it)
    return 1000 * (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("dataset", nargs="?", type=Path)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per phase and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best is kept")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--hr-crop", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cfg = TrainConfig(batch_size=args.batch_size, hr_crop=args.hr_crop, num_workers=args.workers)
    n = args.steps
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; G f{cfg.features}b{cfg.blocks}, "
          f"D f{cfg.d_features}; batch {cfg.batch_size}, HR crop {cfg.hr_crop}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        data = args.dataset or synthetic_dataset(Path(tmp) / "data")
        batch = fixed_batch(data, cfg)
        rounds = []
        for _ in range(args.rounds):
            rounds.append(
                (bare_ms(batch, cfg, n), no_loader_ms(batch, cfg, n), satsr_ms(data, Path(tmp) / "r", cfg, n))
            )
        bare, own, full = (tuple(min(r[m][i] for r in rounds) for i in range(2)) for m in range(3))
        load0, loadw = loader_ms(data, cfg, 4 * n, 0), loader_ms(data, cfg, 4 * n, args.workers)
    print(f"{'phase':<12}{'bare':>9}{'no-loader':>11}{'satsr':>9}{'satsr/bare':>12}{'no-loader/bare':>16}")
    for i, phase in enumerate(("pretrain", "adversarial")):
        print(f"{phase:<12}{bare[i]:>9.0f}{own[i]:>11.0f}{full[i]:>9.0f}{full[i] / bare[i]:>12.2f}"
              f"{own[i] / bare[i]:>16.2f}")  # fmt: skip
    print(f"loader alone: {load0:.1f} ms/batch in-process ({load0 / full[0]:.3f} of a pretrain step), "
          f"{loadw:.1f} ms/batch with {args.workers} workers")  # fmt: skip
    share = (full[0] - own[0]) / full[0]
    print(f"satsr pretrain step with loading vs without: {full[0]:.0f} vs {own[0]:.0f} ms ({share:+.2f})")


if __name__ == "__main__":
    main()
