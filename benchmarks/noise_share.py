"""How much of a noise-injected generator's detail its noise draws, against the detail it infers from the LR.

    python benchmarks/noise_share.py data/pairs --split val --model runs/x/final.safetensors

On a prepared split, the SR of every tile is computed twice: with the noise of its place (as `satsr
upscale` and `satsr evaluate` draw it) and with the noise of a far-away place (the same LR, another draw).
Printed, as RMS in DN over the valid pixels and all bands: the drawn texture (the difference of the two,
over sqrt 2: one draw's share), the model's whole detail (SR minus bicubic) and, for scale, the HR's
detail (HR minus bicubic). A generator without noise draws 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.baselines import bicubic, run_generator  # noqa: E402
from satsr.manifest import load_manifest, open_scene  # noqa: E402
from satsr.weights import load_weights  # noqa: E402

CHUNK = 16  # tiles per forward pass
ELSEWHERE = 1 << 20  # LR px: an origin shift that lands on unrelated noise


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", default="gan")
    args = parser.parse_args()
    manifest = load_manifest(args.dataset)
    tiles, weights = manifest.split(args.split), load_weights(args.model)
    g, norm = weights.generator, weights.normalisation
    sums = {"drawn": [], "model": [], "hr": []}
    stacks = {scene: open_scene(args.dataset, scene) for scene in {t.scene for t in tiles}}  # memory-mapped
    for start in range(0, len(tiles), CHUNK):
        chunk = tiles[start : start + CHUNK]
        lr, hr = (np.stack([np.asarray(stacks[t.scene][side][t.index]) for t in chunk]) for side in (0, 1))
        here = [t.lr_origin for t in chunk]
        there = [(r + ELSEWHERE, c) for r, c in here]
        sr, other = (run_generator(g, norm, lr, None, o).astype(np.float64) for o in (here, there))
        base = bicubic(lr, norm, manifest.scale).astype(np.float64)
        for k in range(len(chunk)):
            valid = manifest.hr_valid(hr[k])  # pixels prepare zeroed as invalid are left out
            sums["drawn"].append(((sr[k] - other[k]) / np.sqrt(2))[:, valid])
            sums["model"].append((sr[k] - base[k])[:, valid])
            sums["hr"].append((hr[k] - base[k])[:, valid])
    drawn, model, hr = (rms(np.concatenate(sums[k], axis=1)) for k in ("drawn", "model", "hr"))
    print(f"{args.dataset.name} {args.split}, {len(tiles)} tiles, model {args.model}")
    print(
        f"RMS DN: drawn by the noise {drawn:.2f}; the model's detail (SR - bicubic) {model:.2f}; "
        f"the HR's detail (HR - bicubic) {hr:.2f}"
    )


if __name__ == "__main__":
    main()
