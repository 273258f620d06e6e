"""Quality of the shipped weights on held-out places, beside bicubic and GDAL's lanczos.

    python benchmarks/shipped_weights.py data/pairs data/aerial --figure weights/comparison.png

For each prepared dataset (its test split holds whole places that training never saw) both shipped models
(`psnr`: pixel loss only, `gan`: the default) are scored with `satsr evaluate`'s dataset mode; bicubic and
lanczos are computed in the same run on the same pixels. Prints a markdown table (the model card's) and
writes one figure: LR | lanczos | pixel-loss | GAN | HR crops of the same tiles for every dataset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.evaluate import EvaluateOptions, evaluate_dataset  # noqa: E402
from satsr.figures import save_figure  # noqa: E402

METRICS = ("psnr", "ssim", "mae", "lr_psnr", "sharpness")
COLUMNS = ("LR", "lanczos", "pixel-loss", "GAN", "HR")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--figure", type=Path, default=Path("weights/comparison.png"))
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    options = EvaluateOptions(metrics=METRICS, split=args.split, figure_tiles=3)
    print("| held-out data | method | PSNR dB | SSIM | MAE | LR-consistency dB | sharpness (HR = 1) |")
    print("|---|---|---|---|---|---|---|")
    crops, norm = [], None
    for dataset in args.datasets:
        reports = {name: evaluate_dataset(name, dataset, options) for name in ("psnr", "gan")}
        rows = {
            "bicubic": reports["psnr"].scores["bicubic"],
            "lanczos": reports["psnr"].scores["lanczos"],
            "pixel-loss (psnr)": reports["psnr"].scores["sr"],
            "GAN (gan, default)": reports["gan"].scores["sr"],
        }
        tiles = reports["psnr"].counts["tiles"]
        for method, scores in rows.items():
            cells = " | ".join(_fmt(scores[m].overall, m) for m in METRICS)
            print(f"| {dataset.name} {args.split} ({tiles} tiles) | {method} | {cells} |")
        for pixel, gan in zip(reports["psnr"].crops, reports["gan"].crops, strict=True):
            crops.append(
                {
                    "LR": pixel["LR"],
                    "lanczos": pixel["lanczos"],
                    "pixel-loss": pixel["sr"],
                    "GAN": gan["sr"],
                    "HR": pixel["HR"],
                }
            )
        norm = reports["psnr"].display_norm
        print(
            f"| {dataset.name}: seconds (psnr, gan) | {reports['psnr'].seconds:.0f}, "
            f"{reports['gan'].seconds:.0f} | | | | | |"
        )
    if norm is not None:
        save_figure(args.figure, crops, norm, overwrite=True, columns=COLUMNS)
        print(f"figure: {args.figure}")


def _fmt(value: float, metric: str) -> str:
    return f"{value:.2f}" if metric in ("psnr", "lr_psnr", "mae") else f"{value:.3f}"


if __name__ == "__main__":
    main()
