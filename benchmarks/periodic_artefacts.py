"""Periodic artefacts at the pixel-shuffle period: spectral peaks of each model's output against the HR.

    python benchmarks/periodic_artefacts.py data/pairs --split val --model psnr --model gan

A x4 pixel shuffle builds every 4x4 block of output from 16 channels of one LR pixel; when those channels
disagree, the output carries a pattern with a 4 HR px period (the "ripple" of the model card's figures).
For the tiles of a prepared split this prints, per model and for the HR, the mean power spectrum's value at
the frequencies of that period (1/4 and 1/2 cycle per px, both axes and the diagonal) over the median of
the surrounding frequencies: about 1 means no pattern, 10 a peak ten times its neighbourhood.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.baselines import run_generator  # noqa: E402
from satsr.manifest import load_manifest, open_scene  # noqa: E402
from satsr.weights import load_weights  # noqa: E402

PEAKS = {"1/4 x": (0, 4), "1/4 y": (4, 0), "1/4 diag": (4, 4), "1/2 y": (2, 0), "1/2 x": (0, 2)}  # 1/period
CHUNK = 32  # tiles per forward pass: memory stays bounded on a split of any size


def power(images: np.ndarray) -> np.ndarray:
    """(N, C, S, S) images -> the sum over tiles of the Hann-windowed power spectrum of their band mean."""
    size = images.shape[-1]
    grey = images.astype(np.float64).mean(axis=1)
    grey -= grey.mean(axis=(1, 2), keepdims=True)
    return (np.abs(np.fft.fft2(grey * np.outer(np.hanning(size), np.hanning(size)))) ** 2).sum(0)


def peak_ratios(spectrum: np.ndarray) -> list[float]:
    """The spectrum at each of PEAKS over the median of the ring 2-4 bins around it."""
    size, ratios = spectrum.shape[-1], []
    for fy, fx in ((size // d if d else 0 for d in peak) for peak in PEAKS.values()):
        ring = [spectrum[(fy + dy) % size, (fx + dx) % size] for dy in range(-4, 5) for dx in range(-4, 5)
                if max(abs(dy), abs(dx)) >= 2]  # fmt: skip
        ratios.append(float(spectrum[fy, fx] / np.median(ring)))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", action="append", help="weights (repeat); default: psnr and gan")
    args = parser.parse_args()
    tiles = load_manifest(args.dataset).split(args.split)
    models = {name: load_weights(name) for name in args.model or ["psnr", "gan"]}
    spectra: dict[str, np.ndarray] = {}
    stacks = {scene: open_scene(args.dataset, scene) for scene in {t.scene for t in tiles}}  # memory-mapped
    for start in range(0, len(tiles), CHUNK):
        chunk = tiles[start : start + CHUNK]
        lr, hr = (np.stack([np.asarray(stacks[t.scene][side][t.index]) for t in chunk]) for side in (0, 1))
        sr = {name: run_generator(w.generator, w.normalisation, lr) for name, w in models.items()}  # fp32
        for name, images in ({"HR": hr} | sr).items():
            spectra[name] = spectra.get(name, 0) + power(images)
    print(f"| {args.dataset.name} {args.split} ({len(tiles)} tiles) | {' | '.join(PEAKS)} |")
    print("|---|" + "---|" * len(PEAKS))
    for name, spectrum in spectra.items():
        print(f"| {name} | " + " | ".join(f"{r:.1f}" for r in peak_ratios(spectrum)) + " |")


if __name__ == "__main__":
    main()
