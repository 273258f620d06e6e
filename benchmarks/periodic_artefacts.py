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
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.manifest import load_manifest, open_scene  # noqa: E402
from satsr.weights import load_weights  # noqa: E402

PEAKS = {"1/4 x": (0, 4), "1/4 y": (4, 0), "1/4 diag": (4, 4), "1/2 y": (2, 0), "1/2 x": (0, 2)}  # 1/period


def peak_ratios(images: np.ndarray) -> list[float]:
    """(N, C, S, S) images -> the mean Hann-windowed power spectrum's value at each of PEAKS over the
    median of the ring 2-4 bins around it."""
    size = images.shape[-1]
    window = np.outer(np.hanning(size), np.hanning(size))
    grey = images.mean(axis=1)
    power = (np.abs(np.fft.fft2((grey - grey.mean(axis=(1, 2), keepdims=True)) * window)) ** 2).mean(0)
    ratios = []
    for fy, fx in ((size // d if d else 0 for d in peak) for peak in PEAKS.values()):
        ring = [power[(fy + dy) % size, (fx + dx) % size] for dy in range(-4, 5) for dx in range(-4, 5)
                if max(abs(dy), abs(dx)) >= 2]  # fmt: skip
        ratios.append(float(power[fy, fx] / np.median(ring)))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", action="append", help="weights (repeat); default: psnr and gan")
    args = parser.parse_args()
    manifest = load_manifest(args.dataset)
    lr, hr = [], []
    for tile in manifest.split(args.split):
        lr_stack, hr_stack = open_scene(args.dataset, tile.scene)
        lr.append(np.asarray(lr_stack[tile.index])), hr.append(np.asarray(hr_stack[tile.index]))
    print(f"| {args.dataset.name} {args.split} ({len(lr)} tiles) | {' | '.join(PEAKS)} |")
    print("|---|" + "---|" * len(PEAKS))
    rows = {"HR": np.stack(hr).astype(np.float64)}
    for name in args.model or ["psnr", "gan"]:
        weights = load_weights(name)
        norm = weights.normalisation  # works on (C, ...): the tile axis goes second
        x = torch.from_numpy(norm.forward(np.stack(lr).swapaxes(0, 1)).swapaxes(0, 1).copy())
        with torch.no_grad():
            sr = weights.generator.eval()(x).numpy()
        rows[name] = norm.inverse(sr.swapaxes(0, 1)).swapaxes(0, 1).astype(np.float64)
    for name, images in rows.items():
        print(f"| {name} | " + " | ".join(f"{r:.1f}" for r in peak_ratios(images)) + " |")


if __name__ == "__main__":
    main()
