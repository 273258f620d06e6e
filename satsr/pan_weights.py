"""The shipped panchromatic weights, made with satsr's own pieces (commands in weights/reproduce.sh):

    python weights/make_pan_weights.py fold RGB runs/pan_init_psnr.safetensors  # RGB -> 1 band (fold_weights)
    satsr train data/pairs_pan data/aerial_pan ... --init runs/pan_init_psnr.safetensors
    python weights/make_pan_weights.py finish RUN data/pairs_pan data/aerial_pan -o OUT   # (finish_weights)

`finish` adds what `satsr upscale` needs for 11-16-bit scenes: the scene stretch (satsr.radiometry), whose
targets are the training data's own range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from satsr.luminance import LUMA_REC601, LUMINANCE_NAME, fold_to_luminance
from satsr.radiometry import PERCENTILES, STRETCH_KEY, SceneStretch, training_targets

STORED_BY_SAVE = ("architecture", "normalisation", "satsr_version")  # save_weights writes these itself


def fold_weights(source: str, dst: str) -> dict[str, Any]:
    """Write the 1-band fold of RGB weights `source` (a short name, file or run) to `dst`; returns the fold
    check: the largest difference, in uint8 DN, between the folded model on a grey image and the luminance
    of the RGB model on the same image as RGB (float32, a synthetic 64 px textured tile)."""
    from satsr.models import Generator, GeneratorSpec
    from satsr.normalise import Normalisation
    from satsr.weights import load_weights, save_weights

    rgb = load_weights(source)
    if rgb.generator.spec.bands != 3:
        raise ValueError(f"{rgb.path}: folding needs RGB (3-band) weights")
    spec = GeneratorSpec(bands=1, features=rgb.generator.spec.features, blocks=rgb.generator.spec.blocks)
    pan = Generator(spec)
    pan.load_state_dict(fold_to_luminance(rgb.generator.state_dict()))
    pan.eval()
    grey = grey_test_tile()
    luma = torch.tensor(LUMA_REC601).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = (rgb.generator(grey.expand(-1, 3, -1, -1)) * luma).sum(1)
        got = pan(grey)[:, 0]
    error = float((want - got).abs().max()) * 255
    norm = rgb.normalisation
    folded = {"weights": rgb.path.name, "luminance": LUMINANCE_NAME, "max_error_dn": error}
    meta = {k: v for k, v in rgb.metadata.items() if k not in STORED_BY_SAVE} | {"folded_from": folded}
    save_weights(dst, pan, Normalisation(norm.dtype, norm.low[:1], norm.high[:1]), meta)
    return {"max_error_dn": error, "path": dst}


def finish_weights(run: str, datasets: list[str], dst: str) -> dict[str, Any]:
    """Copy a run's model (file or run directory) to `dst` with the scene stretch added: scene percentiles
    PERCENTILES map to where the training scenes' percentiles lay (median over the train scenes)."""
    from satsr.weights import load_weights, save_weights

    loaded = load_weights(run)
    targets = training_targets(datasets, PERCENTILES)
    stretch = SceneStretch(PERCENTILES, targets)
    meta = {k: v for k, v in loaded.metadata.items() if k not in STORED_BY_SAVE}
    meta |= {STRETCH_KEY: stretch.to_dict(), "luminance": LUMINANCE_NAME}
    save_weights(dst, loaded.generator, loaded.normalisation, meta)
    return {"from": str(loaded.path), "path": dst, STRETCH_KEY: stretch.to_dict()}


def grey_test_tile(side: int = 64) -> torch.Tensor:
    """A deterministic grey tile with edges, gradients and noise, in model space (1, 1, side, side)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    img = 0.5 + 0.3 * np.sin(xx / 3) * np.cos(yy / 5) + 0.2 * ((xx // 8 + yy // 8) % 2 - 0.5)
    img += rng.normal(0, 0.03, img.shape)
    return torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))[None, None]
