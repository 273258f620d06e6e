"""Alignment evidence for a prepared real-pair dataset: LR vs area-downsampled HR agreement and shifts.

    python benchmarks/alignment_check.py data/pairs [--sample 200] [--seed 0]

For a random sample of kept tiles it prints, per scene, the PSNR between the LR tile and its HR tile
area-downsampled 4x (what a perfectly aligned pair of the same capture gives), beside a baseline measured
in the same run: the same tiles with the HR displaced by one LR pixel (what pixel-index cropping of
slightly offset grids produces). It then prints the LR->HR shift distribution recorded by prepare.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from satsr.degrade import area_downsample
from satsr.manifest import load_manifest, open_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--sample", type=int, default=200, help="tiles sampled over the whole dataset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = load_manifest(args.dataset)
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(manifest.tiles), size=min(args.sample, len(manifest.tiles)), replace=False)
    top = float(np.iinfo(manifest.dtype).max) if np.dtype(manifest.dtype).kind in "ui" else 1.0
    aligned, shifted = defaultdict(list), defaultdict(list)
    stacks = {s.name: open_scene(args.dataset, s.name) for s in manifest.scenes}
    for i in sorted(picks):
        t = manifest.tiles[i]
        lr_stack, hr_stack = stacks[t.scene]
        lr = lr_stack[t.index].astype(np.float64)
        down = area_downsample(np.asarray(hr_stack[t.index], dtype=np.float64), manifest.scale)
        aligned[t.scene].append(peak_signal_noise_ratio(lr, down, data_range=top))
        # baseline: the HR one LR pixel off (cropped so both cover the same pixel count)
        shifted[t.scene].append(peak_signal_noise_ratio(lr[:, :, 1:], down[:, :, :-1], data_range=top))
    print(f"dataset {args.dataset}: {len(picks)} of {len(manifest.tiles)} tiles sampled (seed {args.seed})")
    print(f"{'scene':16s} {'tiles':>5s} {'PSNR median':>11s} {'p10':>6s} {'>=25dB':>7s} "
          f"{'1px-off median':>14s} {'gain dB':>8s}")  # fmt: skip
    for scene in sorted(aligned):
        a, b = np.array(aligned[scene]), np.array(shifted[scene])
        print(f"{scene:16s} {a.size:5d} {np.median(a):11.2f} {np.percentile(a, 10):6.2f} "
              f"{np.mean(a >= 25):7.0%} {np.median(b):14.2f} {np.median(a - b):8.2f}")  # fmt: skip
    shift = manifest.report.get("shift", {})
    if shift.get("count"):
        print(
            f"LR->HR shift over {shift['count']} validated tiles (LR px): median {shift['median']:.2f}, "
            f"p90 {shift['p90']:.2f}, max {shift['max']:.2f}; kept tiles <= {manifest.settings['max_shift']}"
        )
    kept = np.array([t.shift for t in manifest.tiles if t.shift is not None])
    if kept.size:
        print(
            f"kept tiles: shift median {np.median(kept):.2f}, p90 {np.percentile(kept, 90):.2f}, "
            f"max {kept.max():.2f} LR px"
        )


if __name__ == "__main__":
    main()
