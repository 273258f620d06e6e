"""What gives SR away, a band of detail, grain or the ripple? `realism` on a model's SR, altered each way.

    python benchmarks/realism_bands.py data/pairs --split val --model psnr

`realism` (satsr.realism) is a fresh classifier's accuracy at telling SR crops from HR crops of the same
ground. Here it scores the model's SR as is, then the SR with the HR's content in one band put in place of
its own (bands between Gaussian blurs of the sigmas given, HR px: sigma 0.7 cuts at about 0.23 cycle per
px, 1.5 at 0.11, 3 at 0.05; the LR's Nyquist is 0.125), and, to calibrate the scale, the HR itself blurred
by known sigmas. The band whose swap lowers the accuracy most is the one the model gets least like aerial
photography: the one a GAN phase has to produce. Two more rows test other suspects: the SR with Gaussian
grain added (DN), and the SR without the pattern of the x4 pixel shuffle (each tile's mean detail at each
of the 4 x 4 sub-pixel phases, subtracted). Run it on a val split: it reads HR.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.baselines import run_generator  # noqa: E402
from satsr.evaluate import DEFAULTS, tile_samples  # noqa: E402
from satsr.manifest import load_manifest, open_scene  # noqa: E402
from satsr.realism import CropBank, score_bank, summary  # noqa: E402
from satsr.report import data_range_for  # noqa: E402
from satsr.weights import load_weights  # noqa: E402

CHUNK = 16  # tiles per forward pass


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return x if sigma == 0 else gaussian_filter(x, (0, sigma, sigma))


def swap_band(sr: np.ndarray, hr: np.ndarray, fine: float, coarse: float) -> np.ndarray:
    """`sr` with its band between Gaussian blurs `fine` and `coarse` (HR px) replaced by the HR's."""
    band = lambda x: blur(x, fine) - blur(x, coarse)  # noqa: E731
    return sr - band(sr) + band(hr)


def without_ripple(sr: np.ndarray, hr: np.ndarray, period: int = 4) -> np.ndarray:
    """`sr` less its stationary pattern of `period` px: the mean detail (sr minus its period x period box
    mean) at each sub-pixel phase, tiled over the image."""
    c, h, w = sr.shape
    detail = (sr - uniform_filter(sr, (1, period, period)))[:, : h - h % period, : w - w % period]
    pattern = detail.reshape(c, h // period, period, w // period, period).mean(axis=(1, 3))
    return sr - np.tile(pattern, (1, -(-h // period), -(-w // period)))[:, :h, :w]


Variant = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (sr, hr) -> the image scored, (C, H, W) float


def variants(sigmas: list[float], hr_blurs: list[float], grain: list[float]) -> dict[str, Variant]:
    """The images scored, by name."""
    rng = np.random.default_rng(0)
    out: dict[str, Variant] = {"SR": lambda sr, hr: sr}
    for fine, coarse in itertools.pairwise([0.0, *sigmas]):
        out[f"SR with HR's band sigma {fine:g}-{coarse:g}"] = partial(swap_band, fine=fine, coarse=coarse)
    out[f"SR with HR's band sigma 0-{sigmas[-1]:g}"] = partial(swap_band, fine=0.0, coarse=sigmas[-1])
    for dn in grain:
        out[f"SR with grain, sigma {dn:g} DN"] = lambda sr, hr, dn=dn: sr + rng.normal(0, dn, sr.shape)
    out["SR without the 4 px pattern"] = without_ripple
    for s in hr_blurs:
        out[f"HR blurred, sigma {s:g}"] = lambda sr, hr, s=s: blur(hr, s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", default="psnr")
    parser.add_argument("--sigmas", default="0.7,1.5,3", help="band edges, HR px (Gaussian sigmas)")
    parser.add_argument("--hr-blurs", default="0.5,1,1.5", help="HR blurs for calibration, HR px")
    parser.add_argument("--grain", default="1,2,4", help="Gaussian grain added to the SR, DN")
    args = parser.parse_args()
    manifest = load_manifest(args.dataset)
    tiles, weights = manifest.split(args.split), load_weights(args.model)
    top = data_range_for(manifest.dtype, manifest.norm, None, str(args.dataset))
    made = variants(*([float(v) for v in a.split(",")] for a in (args.sigmas, args.hr_blurs, args.grain)))
    banks = {name: CropBank(top) for name in made}
    stacks = {scene: open_scene(args.dataset, scene) for scene in {t.scene for t in tiles}}  # memory-mapped
    for start in range(0, len(tiles), CHUNK):
        chunk = tiles[start : start + CHUNK]
        lr, hr = (np.stack([np.asarray(stacks[t.scene][side][t.index]) for t in chunk]) for side in (0, 1))
        origins = [t.lr_origin for t in chunk]  # where a noise-injected G's noise is drawn
        sr = run_generator(weights.generator, weights.normalisation, lr, None, origins)  # fp32
        for k, t in enumerate(chunk):
            s, h = sr[k].astype(np.float64), hr[k].astype(np.float64)
            images = {name: np.clip(np.round(f(s, h)), 0, top) for name, f in made.items()}
            origin = (t.scene, *(v * manifest.scale for v in t.lr_origin))
            samples = tile_samples(lr[k], hr[k], images, DEFAULTS.shave, manifest.hr_valid(hr[k]), origin)
            for name, sample in samples.items():
                banks[name].add(sample)
    print(f"{args.dataset.name} {args.split}, {len(tiles)} tiles, model {args.model}")
    print("| scored image | realism [95 %] | paired |\n|---|---|---|")
    for name, bank in banks.items():
        figures = summary(*score_bank(bank))
        print(f"| {name} | {figures['accuracy']:.3f} [{figures['low']:.3f}, {figures['high']:.3f}] | "
              f"{figures['paired_accuracy']:.3f} |", flush=True)  # fmt: skip
    print(f"HR against HR (the test's own noise): {figures['hr_vs_hr_accuracy']:.3f}")


if __name__ == "__main__":
    main()
