"""The model runner: batches of equally shaped LR tiles through a generator in one precision (TileRunner),
optionally averaged over the 8 flips and rotations of its input (SelfEnsemble), and the SR of an LR raster
computed window by window on demand (ModelWindows). The tile plan is in tiling.py, the context reads and
tile writes in raster.py; upscale.py streams a scene through them.

Every tile is read with a context margin of at least the generator's receptive radius and only its
centre is kept, so a tiled result equals whole-image inference (on the reflection-padded scene) up to
float noise: no seams, no blending needed.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from rasterio.io import DatasetReader
from rasterio.windows import Window
from torch import nn

from satsr.errors import UsageError
from satsr.models import noise_inputs
from satsr.normalise import Normalisation
from satsr.precision import Precision
from satsr.raster import fill_invalid, read_context
from satsr.tiling import TileJob, core_of, upscale_mask, with_margin


class SelfEnsemble(nn.Module):
    """A generator averaged over the 8 flips and rotations of its input ("geometric self-ensemble", Lim et al.
    2017): 8x the compute for a little PSNR on pixel models, since each orientation errs differently; it
    averages a GAN's invented texture away, so it is for `psnr`-like weights."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    @property
    def spec(self) -> Any:
        """The wrapped generator's spec: its inputs (noise) are the ensemble's."""
        return self.generator.spec

    def forward(self, x: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        """`inputs`: per-pixel maps beside x (a noise-injected generator's noise), turned with it."""
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
        total = torch.zeros(())
        for turns, flip in itertools.product(range(4), (False, True)):
            orient = lambda t: torch.rot90(t.flip(-1) if flip else t, turns, (-2, -1))  # noqa: B023, E731
            view = orient(x).contiguous(memory_format=layout or torch.contiguous_format)
            y = self.generator(view, **{k: orient(v) for k, v in inputs.items()})
            y = torch.rot90(y.float(), -turns, (-2, -1))
            total = total + (y.flip(-1) if flip else y)
        return total / 8


class TileRunner:
    """Runs batches of equally shaped LR tiles through a generator in one precision.

    `infer` is the model alone (model-space in, model-space out), so that the upscale pipeline can do the
    normalisation and the cropping on its reading and writing threads while the model runs. `generator` stays
    the bare network (its softness is set there); `self_ensemble` averages `infer` over 8 orientations.
    """

    def __init__(
        self, generator: nn.Module, normalisation: Normalisation, precision: Precision,
        self_ensemble: bool = False,
    ) -> None:  # fmt: skip
        self.generator = precision.prepare(generator).eval()
        self.model = SelfEnsemble(self.generator) if self_ensemble else self.generator
        self.normalisation = normalisation
        self.precision = precision
        self.scale: int = generator.spec.scale  # type: ignore[union-attr]

    def infer(self, x: np.ndarray, jobs: list[TileJob] | None = None) -> np.ndarray:
        """(N, C, h, w) float32 model-space tiles -> (N, C, scale*h, scale*w) float32 model-space output.
        `jobs`: where the tiles lie (their context windows): a noise-injected generator's noise follows it."""
        origins = None if jobs is None else [(j.context.row_off, j.context.col_off) for j in jobs]
        inputs = noise_inputs(self.generator, x, origins)
        return self.precision.run(self.model, torch.from_numpy(x), **inputs).numpy()

    def to_model(self, tiles: list[np.ndarray]) -> np.ndarray:
        """Native-dtype (C, h, w) tiles -> one float32 model-space batch."""
        return np.stack([self.normalisation.forward(t) for t in tiles])

    def from_model(self, jobs: list[TileJob], y: np.ndarray) -> list[np.ndarray]:
        """Model-space batch -> native-dtype HR cores, rounded and clipped."""
        scale = self.scale
        return [self.normalisation.inverse(core_of(hr, job, scale)) for hr, job in zip(y, jobs, strict=True)]


def set_softness(generator: Any, given: float | None) -> bool:
    """Give a conditioned generator a fixed input softness (None: it estimates per input); False for a blind
    generator, which refuses a given value."""
    if getattr(generator, "estimator", None) is None:
        if given is not None:
            raise UsageError("--softness: these weights are not softness-conditioned; drop the option")
        return False
    if given is not None and not 0 <= given <= 16:
        raise UsageError(f"--softness {given}: give the input's blur in HR px, 0 (sharp) to about 3 (soft)")
    generator.softness = given
    return True


SOFTNESS_SAMPLES = 16  # LR windows of a scene whose estimates are pooled (median) into its softness
SOFTNESS_WINDOW = 64  # LR px per side of each


def scene_softness(
    ds: DatasetReader, bands: list[int], runner: TileRunner, given: float | None
) -> float | None:
    """Fix a softness-conditioned generator's input softness for a whole scene (tiles must not disagree):
    `given` (the user's knob), else the median estimate over a grid of fully valid windows. None for a
    blind generator, which refuses the knob."""
    generator: Any = runner.generator  # a conditioned srresnet (checked below)
    if not set_softness(generator, given):
        return None
    if given is None:
        side = min(SOFTNESS_WINDOW, ds.width, ds.height)
        grid = np.linspace(0, 1, int(np.sqrt(SOFTNESS_SAMPLES)))
        tiles = []
        for fy, fx in itertools.product(grid, grid):
            window = Window(round(fx * (ds.width - side)), round(fy * (ds.height - side)), side, side)
            data, valid = read_context(ds, window, bands)
            if valid.all():
                tiles.append(data)
        if tiles:
            x = torch.from_numpy(runner.to_model(tiles))
            with torch.no_grad():
                estimates = generator.estimate_softness(x.to(runner.precision.device))
            generator.softness = float(estimates.median())
        else:  # no fully valid window: estimate per tile, as on tiles
            generator.softness = None
    return generator.softness


class ModelWindows:
    """The upscale of an LR raster, computed window by window on demand: the LR window under an HR window is
    read with `margin` px of context (mirrored beyond the scene), filled, run through `runner` and
    centre-cropped, as `satsr upscale` computes a tile; nothing is written. Model-on-pair evaluation reads
    its SR here (name, width, height and dtypes as a reader has them)."""

    def __init__(self, lr_src: DatasetReader, bands: list[int], runner: TileRunner, margin: int) -> None:
        self.lr_src, self.bands, self.runner, self.margin = lr_src, bands, runner, margin
        self.width, self.height = lr_src.width * runner.scale, lr_src.height * runner.scale
        self.name, self.count, self.dtypes = f"{lr_src.name} (upscaled)", lr_src.count, lr_src.dtypes

    def read_window(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(C, H, W) SR pixels and (H, W) validity of an HR window aligned with LR pixels."""
        s = self.runner.scale
        core = Window(window.col_off // s, window.row_off // s, window.width // s, window.height // s)
        job = TileJob(core, with_margin(core, self.margin))
        data, valid = read_context(self.lr_src, job.context, self.bands)
        core_valid = core_of(valid, job)
        hr_valid = upscale_mask(core_valid, s)
        if not core_valid.any():
            return np.zeros((len(self.bands), *hr_valid.shape), data.dtype), hr_valid
        y = self.runner.infer(self.runner.to_model([fill_invalid(data, valid)]), [job])
        return self.runner.from_model([job], y)[0], hr_valid
