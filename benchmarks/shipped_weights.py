"""Quality of the shipped weights on held-out places, beside bicubic and GDAL's lanczos.

    python benchmarks/shipped_weights.py data/pairs data/aerial data/sjer_bi --figure weights/comparison.png
    python benchmarks/shipped_weights.py data/pairs --model "old psnr=old/satsr_x4_psnr.safetensors" \
        --model "psnr=psnr" --realism

For each prepared dataset (its test split holds whole places that training never saw) every model (default:
the shipped `psnr`, pixel loss only, and `gan`, the default) is scored with `satsr evaluate`'s dataset
mode; bicubic and lanczos are computed in the same run on the same pixels. Prints a markdown table (the
model card's) and writes one figure: LR | lanczos | each model | HR crops of the same tiles per dataset.
`--realism` adds the realism metric (a classifier trained to tell each method's output from HR).
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
HEADERS = ("PSNR dB", "SSIM", "MAE", "LR-consistency dB", "sharpness (HR = 1)", "realism (0.5 = like HR)")
DEFAULT_MODELS = ("pixel-loss (psnr)=psnr", "GAN (gan, default)=gan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--model", action="append", help="LABEL=WEIGHTS (repeat); default: psnr and gan")
    parser.add_argument("--figure", type=Path, default=Path("weights/comparison.png"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--realism", action="store_true", help="also the realism classifier (minutes)")
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in (args.model or DEFAULT_MODELS))
    metrics = METRICS + (("realism",) if args.realism else ())
    options = EvaluateOptions(metrics=metrics, split=args.split, figure_tiles=3)
    print(f"| held-out data | method | {' | '.join(HEADERS[: len(metrics)])} |")
    print("|---|---|" + "---|" * len(metrics))
    crops, norm = [], None
    for dataset in args.datasets:
        reports = {label: evaluate_dataset(weights, dataset, options) for label, weights in models.items()}
        first = next(iter(reports.values()))
        rows = {"bicubic": first.scores["bicubic"], "lanczos": first.scores["lanczos"]}
        rows |= {label: report.scores["sr"] for label, report in reports.items()}
        tiles = first.counts["tiles"]
        for method, scores in rows.items():
            cells = " | ".join(_fmt(scores[m].overall, m) for m in metrics)
            print(f"| {dataset.name} {args.split} ({tiles} tiles) | {method} | {cells} |")
        for i, base in enumerate(first.crops):
            crops.append(
                {"LR": base["LR"], "lanczos": base["lanczos"]}
                | {label: r.crops[i]["sr"] for label, r in reports.items()}
                | {"HR": base["HR"]}
            )
        norm = first.display_norm
        seconds = ", ".join(f"{label} {r.seconds:.0f}" for label, r in reports.items())
        print(f"| {dataset.name}: seconds | {seconds} |" + " |" * len(metrics))
    if norm is not None:
        save_figure(args.figure, crops, norm, overwrite=True, columns=("LR", "lanczos", *models, "HR"))
        print(f"figure: {args.figure}")


def _fmt(value: float, metric: str) -> str:
    return f"{value:.2f}" if metric in ("psnr", "lr_psnr", "mae") else f"{value:.3f}"


if __name__ == "__main__":
    main()
