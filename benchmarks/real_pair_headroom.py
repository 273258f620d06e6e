"""How much a real-pair scene leaves to gain over lanczos: the LR's kernel, and simple variants of the model.

    python benchmarks/real_pair_headroom.py data/pairs [--weights psnr] [--tiles 128]

Per scene of a prepared real-pair dataset (first `--tiles` kept tiles of any split), two measurements:
1. Which downsampling of the HR best explains the LR (PSNR of each against the LR): how blurred the
   pyramid LR is, and how far even the best-fitting kernel stays from it (noise, compression, change).
2. HR PSNR (4 px shaved, valid pixels) of lanczos, bicubic and the model beside simple variants, all in
   the same run: the model's residual over bicubic scaled by 0.5 and 1.5 (is the model too bold or too
   timid here?), and lanczos with an unsharp mask (does plain sharpening help?). Where no variant beats
   lanczos by more than a few hundredths of a dB, the detail in the HR is not predictable from the LR.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from satsr import SCALE
from satsr.baselines import bicubic, lanczos, run_generator
from satsr.degrade import area_downsample
from satsr.manifest import load_manifest, open_scene
from satsr.metrics import psnr_from_mse
from satsr.weights import load_weights

SHAVE = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--weights", default="psnr")
    parser.add_argument("--tiles", type=int, default=128)
    args = parser.parse_args()
    loaded = load_weights(args.weights)
    for scene in load_manifest(args.dataset).scenes:
        lr_all, hr_all = open_scene(args.dataset, scene.name)
        lr, hr = np.asarray(lr_all[: args.tiles]), np.asarray(hr_all[: args.tiles])
        lr_f = lr.astype(np.float32)
        fits = sorted(((_psnr(d, lr_f), k) for k, d in _downsamplings(hr).items()), reverse=True)
        print(f"{scene.name} ({len(lr)} tiles): LR vs HR downsampled by  "
              + ", ".join(f"{k} {p:.1f} dB" for p, k in fits))  # fmt: skip
        sr = run_generator(loaded.generator, loaded.normalisation, lr).astype(np.float32)
        base = bicubic(lr, loaded.normalisation, loaded.scale).astype(np.float32)
        lz = np.stack([lanczos(t, loaded.scale) for t in lr]).astype(np.float32)
        variants = {
            "lanczos": lz, "bicubic": base, "model": sr,
            "model residual x0.5": base + 0.5 * (sr - base), "model residual x1.5": base + 1.5 * (sr - base),
            "lanczos + unsharp 0.3": lz + 0.3 * (lz - gaussian_filter(lz, (0, 0, 2, 2))),
        }  # fmt: skip
        print("  HR PSNR: " + ", ".join(
            f"{k} {_psnr(np.clip(v, 0, 255).round(), hr, SHAVE):.2f}" for k, v in variants.items()
        ))  # fmt: skip


def _downsamplings(hr: np.ndarray) -> dict[str, np.ndarray]:
    """(N, C, H, W) HR -> candidate (N, C, H/4, W/4) LRs, float32."""
    x = hr.astype(np.float32)
    out = {
        "area": _area(x),
        "bicubic (antialiased)": F.interpolate(
            torch.from_numpy(x), scale_factor=1 / SCALE, mode="bicubic", antialias=True
        ).numpy(),
        "decimation": x[..., 1::SCALE, 1::SCALE],
    }
    for sigma in (1.0, 2.0):
        out[f"gaussian {sigma} + area"] = _area(gaussian_filter(x, (0, 0, sigma, sigma)))
    return out


def _area(x: np.ndarray) -> np.ndarray:
    """satsr's area downsampling (that of --degrade) over a stack of tiles."""
    n, c, h, w = x.shape
    return area_downsample(x.reshape(n * c, h, w), SCALE).reshape(n, c, h // SCALE, w // SCALE)


def _psnr(a: np.ndarray, b: np.ndarray, shave: int = 2) -> float:
    """Over pixels valid in b (not all-zero: the pairs' nodata), shaved at tile edges, data range 255."""
    a, b = a[..., shave:-shave, shave:-shave], b[..., shave:-shave, shave:-shave].astype(np.float64)
    valid = np.broadcast_to(b.any(axis=1, keepdims=True), b.shape)
    return psnr_from_mse(float(np.mean((a - b)[valid] ** 2)), 255.0)


if __name__ == "__main__":
    main()
