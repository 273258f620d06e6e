"""The shipped weights: they load without pickle, say how they were made, and upscale a real scene sanely."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from typer.testing import CliRunner

from satsr.cli import app
from satsr.normalise import Normalisation
from satsr.weights import SHIPPED, load_weights, shipped_weights_dir

EXAMPLE = shipped_weights_dir().parent / "examples" / "paris_rgb_30cm.tif"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_describe_their_making(name: str) -> None:
    loaded = load_weights(name)
    meta = loaded.metadata
    assert loaded.normalisation == Normalisation.for_dtype("uint8", 3)
    assert meta["architecture"]["bands"] == 3 and meta["architecture"]["scale"] == 4
    assert meta["training"]["command"].startswith("satsr train")
    assert {s["kind"] for d in meta["datasets"] for s in d["scenes"]} == {"pair", "degraded"}
    assert meta["val"]["val_psnr"] > meta["val"]["val_psnr_bicubic"]


def test_default_weights_upscale_a_real_crop(tmp_path) -> None:
    crop = tmp_path / "paris_crop.tif"
    with rasterio.open(EXAMPLE) as src:
        window = Window(200, 200, 48, 48)
        profile = src.profile | {"width": 48, "height": 48, "transform": src.window_transform(window)}
        lr = src.read(window=window)
        with rasterio.open(crop, "w", **profile) as dst:
            dst.write(lr)
    result = CliRunner().invoke(app, ["upscale", str(crop)])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "paris_crop_x4.tif") as out, rasterio.open(crop) as src:
        sr = out.read()
        assert out.crs == src.crs and out.bounds == pytest.approx(src.bounds)
        assert out.res == pytest.approx((src.res[0] / 4, src.res[1] / 4))
    # LR-consistency: the SR averaged back onto the LR grid stays close to the input (no hallucinated scene).
    back = sr.reshape(3, 48, 4, 48, 4).astype(np.float64).mean(axis=(2, 4))
    mse = np.mean((back - lr.astype(np.float64)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30
