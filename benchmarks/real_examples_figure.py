"""Real WorldView-3 scenes (no ground truth): LR | lanczos | each model, side by side on the same crops.

    python benchmarks/real_examples_figure.py --figure weights/real_examples.png \
        --model "old gan=old_gan.safetensors" --model "gan=gan"

Each example scene in `examples/` is upscaled whole with `satsr.upscale_file` (so every crop has its full
context), lanczos comes from GDAL's kernel on the same LR, and --crop LR px squares around two points of
each scene are shown. Also prints the sharpness of every column relative to lanczos (high-frequency energy
ratio, the `sharpness` metric's measure with lanczos as reference: there is no aerial truth here).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.api import upscale_file  # noqa: E402
from satsr.baselines import lanczos  # noqa: E402
from satsr.figures import save_figure  # noqa: E402
from satsr.normalise import Normalisation  # noqa: E402

SCENES = ("paris_rgb_30cm.tif", "vegas_rgba_30cm.tif")
POINTS = ((0.3, 0.35), (0.65, 0.6))  # crop centres as fractions of the scene (row, col)
SCALE = 4  # the shipped RGB models map the 30 cm examples to 7.5 cm


def high_frequency(img: np.ndarray) -> float:
    """Mean energy of the image minus its 4x4 box blur: what separates 7.5 cm detail from 30 cm."""
    x = img.astype(np.float64)
    c, h, w = x.shape
    blocks = x[:, : h // 4 * 4, : w // 4 * 4].reshape(c, h // 4, 4, w // 4, 4).mean(axis=(2, 4))
    smooth = np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2)
    return float(((x[:, : h // 4 * 4, : w // 4 * 4] - smooth) ** 2).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="LABEL=WEIGHTS (repeat); default: gan")
    parser.add_argument("--figure", type=Path, default=Path("weights/real_examples.png"))
    parser.add_argument("--crop", type=int, default=48, help="crop side, LR px")
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in (args.model or ["gan=gan"]))
    crops, r = [], args.crop // 2
    print(f"| scene | crop | {' | '.join(f'{m} HF / lanczos HF' for m in models)} |")
    print("|---|---|" + "---|" * len(models))
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCENES:
            src = ROOT / "examples" / name
            with rasterio.open(src) as ds:
                lr = ds.read([1, 2, 3])
            outputs = {}
            for label, weights in models.items():
                dst = Path(tmp) / f"{label}.tif"
                upscale_file(src, dst, weights, overwrite=True)
                with rasterio.open(dst) as ds:
                    outputs[label] = ds.read([1, 2, 3])
            lanczos_hr = lanczos(lr, SCALE)
            for fy, fx in POINTS:
                y, x = int(fy * lr.shape[1]), int(fx * lr.shape[2])
                window = np.s_[:, SCALE * (y - r) : SCALE * (y + r), SCALE * (x - r) : SCALE * (x + r)]
                crop = {"LR": lr[:, y - r : y + r, x - r : x + r], "lanczos": lanczos_hr[window]}
                crop |= {label: out[window] for label, out in outputs.items()}
                crops.append(crop)
                base = high_frequency(crop["lanczos"])
                ratios = " | ".join(f"{high_frequency(crop[m]) / base:.2f}" for m in models)
                print(f"| {name} | ({y}, {x}) | {ratios} |")
    save_figure(args.figure, crops, Normalisation.for_dtype("uint8", 3), overwrite=True,
                columns=("LR", "lanczos", *models))  # fmt: skip
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
