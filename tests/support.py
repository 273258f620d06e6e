"""Helpers shared by the tests and the benchmarks: the CLI in a subprocess, tiny weights, a tiny prepared
dataset. Importable without pytest (`from tests.support import ...` from the repository root)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np

TINY_SPEC = {"features": 8, "blocks": 1}  # the tiny srresnet every test trains or runs
# TrainConfig fields every tiny training run shares: tiny nets, a log row every step, frequent checkpoints
TINY_TRAIN = {**TINY_SPEC, "d_features": 8, "log_every": 1, "val_every": 2, "checkpoint_every": 2,
              "num_workers": 0}  # fmt: skip


def run_cli(*args: str | Path, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`python -m satsr ARGS` in a subprocess (exit code, stdout and stderr as the user sees them)."""
    cmd = [sys.executable, "-m", "satsr", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def tiny_generator(
    bands: int = 3, scale: int = 4, detail: float = 0.0, bias: float = 0.0, seed: int | None = 0,
    **spec: Any,
) -> Any:  # fmt: skip
    """An srresnet generator (features=8, blocks=1 unless given); `detail` > 0 draws its last conv (the
    tail, or shuffle-direct's one upsampling conv) with that std (and its bias with `bias`), so that it is
    more than bicubic."""
    import torch

    from satsr.models import Generator, GeneratorSpec

    if seed is not None:
        torch.manual_seed(seed)
    g = Generator(GeneratorSpec(bands=bands, scale=scale, **{**TINY_SPEC, **spec}))
    last = g.upsample[0] if g.spec.upsampler == "shuffle-direct" else g.tail
    if detail:
        torch.nn.init.normal_(last.weight, std=detail)
    if bias:
        torch.nn.init.normal_(last.bias, std=bias)
    return g


def tiny_span(bands: int = 3, detail: float = 0.0, seed: int = 0, **spec: Any) -> Any:
    """A span generator (features=8, blocks=2 unless given); `detail` > 0: its last conv drawn, this std."""
    import torch

    from satsr.span import SpanGenerator, SpanSpec

    torch.manual_seed(seed)
    g = SpanGenerator(SpanSpec(bands=bands, **{"features": 8, "blocks": 2, **spec}))
    if detail:
        torch.nn.init.normal_(g.upsample[0].weight, std=detail)
    return g


def save_tiny_weights(
    path: Path, generator: Any = None, dtype: str = "uint8", metadata: dict[str, Any] | None = None,
    high: float = 4095.0,
) -> Path:  # fmt: skip
    """Weights of `generator` (default: a fresh tiny one) with the dtype's normalisation (uint8: 0..255,
    else 0..`high`)."""
    from satsr.normalise import Normalisation
    from satsr.weights import save_weights

    g = generator if generator is not None else tiny_generator()
    bands = g.spec.bands
    norm = Normalisation.for_dtype(dtype, bands) if dtype == "uint8" else Normalisation(
        dtype, (0.0,) * bands, (high,) * bands)  # fmt: skip
    return save_weights(path, g, norm, metadata if metadata is not None else {"name": "test"})


def smooth_image(rng: np.random.Generator, bands: int, height: int, width: int, dtype=np.uint8) -> np.ndarray:
    """Smooth random imagery (blurred noise, stretched to the dtype): stands in for real scenes in tests."""
    from scipy.ndimage import gaussian_filter

    noise = rng.random((bands, height, width))
    img = np.stack([gaussian_filter(b, 3) for b in noise])
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    top = 255 if dtype == np.uint8 else 4095
    return (img * top).astype(dtype)


def write_prepared(
    root: Path, *, tiles: dict[str, int] | None = None, lr_tile: int = 8, bands: int = 3,
    dtype: str = "uint8", normalisation: Any = None, seed: int = 0, scale: int = 4, images: Any = None,
    degraded: bool = False, splits: list[str] | None = None, scene_name: str = "scene",
    rng: np.random.Generator | None = None,
) -> Path:  # fmt: skip
    """A tiny prepared dataset (manifest + stacked .npy tiles) at `root`: one scene whose tiles lie in a row.

    Tiles per split ({"train": 6, "val": 2, "test": 1}), or the split of each tile in order (`splits`);
    HR tiles are smooth random imagery drawn from `rng` (default: seeded with `seed`), or
    `images(rng, count, hr_side)`; LR tiles their scale x scale block means (rounded for integer dtypes),
    so a model can learn the mapping. `degraded`: an aerial-only dataset (its LR marked as synthesised
    from the HR)."""
    from satsr.degrade import Degradation
    from satsr.manifest import Manifest, SceneRecord, TileRecord, save_manifest, scene_paths
    from satsr.normalise import Normalisation

    (root / "scenes").mkdir(parents=True)
    counts = tiles or {"train": 6, "val": 2, "test": 1}
    splits = splits or [s for s, n in counts.items() for _ in range(n)]
    gen = rng if rng is not None else np.random.default_rng(seed)
    hr_side = scale * lr_tile
    if images is not None:
        hr = images(gen, len(splits), hr_side)
    else:
        hr = np.stack([smooth_image(gen, bands, hr_side, hr_side, np.dtype(dtype).type) for _ in splits])
    lr = hr.reshape(len(splits), bands, lr_tile, scale, lr_tile, scale).mean(axis=(3, 5))
    lr = np.rint(lr).astype(dtype) if np.issubdtype(np.dtype(dtype), np.integer) else lr.astype(dtype)
    lr_path, hr_path = scene_paths(root, scene_name)
    np.save(lr_path, lr)
    np.save(hr_path, hr)
    transform = (0.3, 0.0, 500_000.0, 0.0, -0.3, 4_000_000.0)
    kind, lr_source = ("degraded", None) if degraded else ("pair", "lr.tif")
    scene = SceneRecord(scene_name, kind, "hr.tif", lr_source, "EPSG:32633", transform, len(splits))
    records = [
        TileRecord(scene_name, i, split, (i * lr_tile, 0, lr_tile, lr_tile), (0.0, 0.0, 1.0, 1.0))
        for i, split in enumerate(splits)
    ]
    norm = normalisation or Normalisation.for_dtype(dtype, bands)
    degradation = Degradation(noise_sigma=0.0, scale=scale).to_dict() if degraded else None
    manifest = Manifest("0.1.0", scale, bands, dtype, lr_tile, norm.to_dict(), [scene], records,
                        degradation, settings={"source": "test factory"})  # fmt: skip
    save_manifest(root, manifest)
    return root


class InlineExecutor(Executor):
    """Runs every submitted call at once in the caller's thread: the upscale pipeline's stages become serial
    (patched in for satsr.upscale.ThreadPoolExecutor)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future
