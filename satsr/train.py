"""`satsr train`: pixel-loss pretraining of G, then adversarial training; resumable, validated, exported.

RUN_DIR holds config.toml (resolved config), log.csv, curves.png, samples/step_*.png, checkpoint.pt and
psnr.safetensors (best pretraining EMA), best.safetensors (best val PSNR overall), final.safetensors (EMA
at the end). Under torchrun every process trains on its own shard of each global batch (effective batch =
processes x batch_size); rank 0 alone validates, logs and writes files.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from satsr.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from satsr.config import TrainConfig, to_toml
from satsr.dataset import CropSampler, Source, TileDataset, open_sources
from satsr.errors import TrainingError
from satsr.gan import (
    Nets,
    adversarial_step,
    build_nets,
    initial_generator,
    pretrain_step,
    run_spec,
    unwrap,
    update_ema,
)
from satsr.gsd import dataset_lr_gsd
from satsr.models import flush_denormals
from satsr.monitor import VALIDATE_TASK, CsvLog, pick, plot_curves, sample_grid, validate
from satsr.outputs import atomic_output, refuse_inputs, remove
from satsr.precision import Precision, resolve_device, resolve_precision
from satsr.progress import Progress, silent
from satsr.reparam import fold
from satsr.rundir import BEST, CHECKPOINT, CONFIG, CURVES, FINAL, LOG, PSNR, prepare_run_dir, sample_png
from satsr.weights import resolve_weights, save_weights

MetricsCallback = Callable[[dict[str, Any]], None]
# fixed on resume
ARCH_FIELDS = ("generator", "features", "blocks", "upsampler", "conditioned", "noise", "reparam",
               "d_features", "d_head", "d_highpass")  # fmt: skip


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # steps completed
    best_psnr: float  # best val PSNR of the EMA generator (dB)
    final_val: dict[str, Any] = field(default_factory=dict)  # last validation metrics


@dataclass
class Run:
    """Mutable state of a run besides the networks (what a checkpoint restores)."""

    cfg: TrainConfig
    run_dir: Path
    sources: list[Source]
    precision: Precision  # fp32 or bf16 autocast, on the run's device
    rank: int = 0
    world: int = 1
    step: int = 0
    best_psnr: float = float("-inf")
    best_pretrain_psnr: float = float("-inf")
    last_val: dict[str, Any] = field(default_factory=dict)
    command: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return self.precision.device


def run_training(
    datasets: Sequence[str | Path], run_dir: str | Path, cfg: TrainConfig, *, resume: bool = False,
    overwrite: bool = False, progress: Progress = silent, on_metrics: MetricsCallback | None = None,
    command: str | None = None,
) -> TrainResult:  # fmt: skip
    """Train (or resume) a run; returns the final step and scores. Raises TrainingError on divergence."""
    flush_denormals()
    with _distributed(cfg) as (rank, world, device):
        sources = open_sources(datasets)
        # Checked before anything is written: a run that cannot start leaves no directory behind.
        init_path = resolve_weights(cfg.init_weights) if cfg.init_weights and not resume else None
        refuse_inputs([Path(run_dir)], [s.root for s in sources] + [init_path], "run directory")
        init = initial_generator(cfg, sources[0]) if init_path is not None else None
        precision = resolve_precision(cfg.precision, device)
        run = Run(cfg, Path(run_dir), sources, precision, rank, world, command=command)
        splits = _splits(run)
        state = load_checkpoint(run.run_dir) if resume else None  # a bad checkpoint changes nothing
        fresh = not run.run_dir.exists()
        try:
            prepare_run_dir(run.run_dir, resume=resume, overwrite=overwrite, main=run.main, world=world)
            torch.manual_seed(cfg.seed)
            manifest = sources[0].manifest
            nets = build_nets(cfg, run_spec(cfg, manifest.bands, manifest.scale), precision, world, init)
            if state is not None:
                _restore(run, nets, state)
            if run.main:
                with atomic_output(run.run_dir / CONFIG, overwrite=True) as tmp:
                    tmp.write_text(to_toml(cfg))
            _loop(run, nets, splits, progress, on_metrics or (lambda row: None))
        except BaseException:
            if fresh and run.main and not (run.run_dir / CHECKPOINT).exists():
                remove(run.run_dir)  # nothing to resume: a failed new run leaves no folder behind
            raise
        return TrainResult(run.run_dir, run.step, run.best_psnr, run.last_val)


def _splits(run: Run) -> tuple[TileDataset, TileDataset]:
    """The train and val splits, refused before the run directory exists when training cannot use them."""
    redegrade = run.cfg.random_degradation()
    train = TileDataset(run.sources, "train", run.cfg.hr_crop, redegrade)
    val = TileDataset(run.sources, "val", redegrade=redegrade)
    for name, split in (("train", train), ("val", val)):
        if len(split) == 0:
            root = run.sources[0].root
            raise TrainingError(f"{root}: the {name} split is empty; prepare the data again with a {name} "
                                "split (more scenes, or a smaller --block)")  # fmt: skip
    return train, val


@contextlib.contextmanager
def _distributed(cfg: TrainConfig) -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, device); under torchrun joins the process group (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda: no CUDA GPU is visible; use --device cpu or auto")
    device = torch.device(resolve_device(cfg.device))  # upscale's choice: under torchrun, cuda:LOCAL_RANK
    cuda = device.type == "cuda"
    if cuda and device.index is None:
        device = torch.device("cuda", 0)
    if cuda:
        torch.cuda.set_device(device)
    started = world > 1 and not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield (dist.get_rank() if world > 1 else 0), world, device
    finally:
        if started:
            dist.destroy_process_group()


def _state(run: Run, nets: Nets) -> dict[str, Any]:
    return {
        "step": run.step, "config": run.cfg.to_dict(), "best_psnr": run.best_psnr,
        "best_pretrain_psnr": run.best_pretrain_psnr, "last_val": run.last_val,
        "g": unwrap(nets.g).state_dict(), "d": unwrap(nets.d).state_dict(), "ema": nets.ema.state_dict(),
        "opt_g": nets.opt_g.state_dict(), "opt_d": nets.opt_d.state_dict(),
    }  # fmt: skip


def _restore(run: Run, nets: Nets, state: dict[str, Any]) -> None:
    old = {**TrainConfig().to_dict(), **state["config"]}  # a field newer than the checkpoint: its default
    changed = [
        f"{k} {old.get(k)} -> {getattr(run.cfg, k)}" for k in ARCH_FIELDS if old.get(k) != getattr(run.cfg, k)
    ]
    if changed:
        raise TrainingError(f"{run.run_dir}: cannot resume with another architecture ({', '.join(changed)})")
    try:
        unwrap(nets.g).load_state_dict(state["g"])
        unwrap(nets.d).load_state_dict(state["d"])
        nets.ema.load_state_dict(state["ema"])
        nets.opt_g.load_state_dict(state["opt_g"])
        nets.opt_d.load_state_dict(state["opt_d"])
        run.step, run.last_val = int(state["step"]), dict(state["last_val"])
        run.best_psnr, run.best_pretrain_psnr = float(state["best_psnr"]), float(state["best_pretrain_psnr"])
        set_rng_state(state["rng"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"{run.run_dir / CHECKPOINT}: inconsistent checkpoint ({cause}); start afresh "
                            "(--overwrite)") from None  # fmt: skip
    if run.main:
        CsvLog(run.run_dir / LOG).truncate_after(run.step)


def _loader(run: Run, train: TileDataset) -> Iterator[list[torch.Tensor]]:
    cfg = run.cfg
    sampler = CropSampler(len(train), cfg.batch_size, cfg.seed, run.step, run.rank, run.world)
    workers, cuda = cfg.num_workers, run.device.type == "cuda"
    prefetch = 4 if workers else None
    # Own generator: creating a loader iterator draws a base seed, which must not shift the global RNG
    # (a resumed run creates its loader at another point of the RNG stream than a straight run).
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(
        train,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=cuda,
        prefetch_factor=prefetch,
        generator=generator,
    )
    return iter(loader)


def _to_device(run: Run, batch: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    lr, hr, valid, softness = batch
    device = run.device
    lr, hr = run.precision.tensor(lr), run.precision.tensor(hr)
    return lr, hr, valid.to(device, non_blocking=True), softness.to(device, non_blocking=True)


def _checked(run: Run, metrics: dict[str, Any]) -> dict[str, float]:
    """Losses averaged over processes; a non-finite one stops the run before anything is written."""
    names = [k for k, v in metrics.items() if isinstance(v, torch.Tensor)]
    values = torch.stack([metrics[k].float() for k in names])
    if run.world > 1:
        dist.all_reduce(values)
        values /= run.world
    out = {**metrics, **dict(zip(names, values.tolist(), strict=True))}
    bad = [k for k in names if not torch.isfinite(torch.tensor(out[k]))]
    if bad:
        raise TrainingError(
            f"training diverged at step {run.step + 1}: non-finite {', '.join(bad)}; nothing was saved after "
            f"{run.run_dir / CHECKPOINT}; lower lr_g/lr_d or grad_clip (--config) and rerun"
            + (" with --resume" if (run.run_dir / CHECKPOINT).exists() else "")
        )
    return out


def _loop(
    run: Run, nets: Nets, splits: tuple[TileDataset, TileDataset], progress: Progress,
    on_metrics: MetricsCallback,
) -> None:  # fmt: skip
    cfg = run.cfg
    train, val = splits
    val_ids = pick(len(val), cfg.val_tiles)
    batches = _loader(run, train)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    start_time, step_time = time.perf_counter(), 0.0
    if run.step == 0 and cfg.pretrain_steps == 0:
        _validate(run, nets, val, val_ids, on_metrics, progress)  # psnr.safetensors = the starting model
    task = f"train ({run.precision.describe()})"
    progress(task, run.step, cfg.steps)
    while run.step < cfg.steps:
        t0 = time.perf_counter()
        batch = _to_device(run, next(batches))
        metrics: dict[str, Any]
        if run.step < cfg.pretrain_steps:
            nets.opt_g.param_groups[0]["lr"] = cfg.pretrain_lr(run.step)
            metrics = pretrain_step(nets, batch, cfg, run.precision.autocast)
        else:
            nets.opt_g.param_groups[0]["lr"] = cfg.lr_g
            metrics = adversarial_step(nets, batch, cfg, cfg.adv_weight_at(run.step), run.precision.autocast)
        metrics = _checked(run, metrics)
        update_ema(nets.ema, unwrap(nets.g), cfg.ema_decay, run.step)
        run.step += 1
        step_time += time.perf_counter() - t0
        for k, v in metrics.items():  # per-key counts: a log interval may straddle the phase switch
            sums[k], counts[k] = sums.get(k, 0.0) + v, counts.get(k, 0) + 1
        counts["_steps"] = counts.get("_steps", 0) + 1
        if run.main and (run.step % cfg.log_every == 0 or run.step == cfg.steps):
            row: dict[str, Any] = {k: v / counts[k] for k, v in sums.items()} | {
                "step_ms": 1000 * step_time / counts["_steps"]
            }
            row |= {
                "step": run.step,
                "phase": cfg.phase(run.step),
                "elapsed_s": time.perf_counter() - start_time,
            }
            row["adv_weight"] = cfg.adv_weight_at(run.step - 1) if run.step > cfg.pretrain_steps else 0.0
            CsvLog(run.run_dir / LOG).append(row)
            on_metrics(row)
            sums, counts, step_time = {}, {}, 0.0
        if run.step % cfg.val_every == 0 or run.step in (cfg.pretrain_steps, cfg.steps):
            _validate(run, nets, val, val_ids, on_metrics, progress)
        if run.main and (run.step % cfg.checkpoint_every == 0 or run.step == cfg.steps):
            save_checkpoint(run.run_dir, _state(run, nets))
        progress(task, run.step, cfg.steps)
    del batches  # stops the loader's worker processes
    if run.main:
        _export(run, nets.ema, FINAL)
        if (run.run_dir / LOG).exists():
            plot_curves(run.run_dir / LOG, run.run_dir / CURVES)


def _validate(
    run: Run, nets: Nets, val: TileDataset, ids: list[int], on_metrics: MetricsCallback, progress: Progress
) -> None:
    """Rank 0 scores the EMA generator, draws the sample grid and refreshes psnr/best weights."""
    if not run.main:
        return
    cfg = run.cfg
    scores = validate(nets.ema, val, ids, run.precision, progress)
    progress(VALIDATE_TASK, len(ids), len(ids))
    run.last_val = scores
    phase = cfg.phase(run.step)
    row = {"step": run.step, "phase": phase, **scores}
    CsvLog(run.run_dir / LOG).append(row)
    on_metrics(row)
    if cfg.sample_tiles:
        png = run.run_dir / sample_png(run.step)
        sample_grid(nets.ema, val, pick(len(val), cfg.sample_tiles), run.precision, png)
    psnr = scores["val_psnr"]
    if phase == "pretrain" and psnr > run.best_pretrain_psnr:
        run.best_pretrain_psnr = psnr
        _export(run, nets.ema, PSNR)
    if psnr > run.best_psnr:
        run.best_psnr = psnr
        _export(run, nets.ema, BEST)


def _export(run: Run, ema: torch.nn.Module, name: str) -> None:
    meta = {
        "training": {"config": run.cfg.to_dict(), "command": run.command, "processes": run.world,
                     "effective_batch": run.world * run.cfg.batch_size, "precision": run.precision.name},
        "datasets": [_provenance(s) for s in run.sources],
        "val": run.last_val, "phase": run.cfg.phase(run.step), "step": run.step, "export": name,
        "lr_gsd_m": dataset_lr_gsd([(s.crs, s.lr_transform) for d in run.sources for s in d.manifest.scenes]),
    }  # fmt: skip
    model = fold(copy.deepcopy(ema)).float().to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    save_weights(run.run_dir / name, model, run.sources[0].manifest.norm, meta)


def _provenance(source: Source) -> dict[str, Any]:
    m = source.manifest
    return {
        "path": _shown_path(source.root), "settings": m.settings, "degradation": m.degradation,
        "scenes": [{"name": s.name, "kind": s.kind, "hr_source": s.hr_source, "lr_source": s.lr_source}
                   for s in m.scenes],
        "tiles": {split: len(m.split(split)) for split in ("train", "val", "test")}, "lr_tile": m.lr_tile,
    }  # fmt: skip


def _shown_path(root: Path) -> str:
    """A dataset as weights record it: relative to the working folder when inside it, else by its name
    (an absolute path would publish a developer's folders with every shipped model)."""
    resolved = root.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return resolved.name
