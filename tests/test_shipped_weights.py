"""The shipped weights: they load without pickle, say how they were made, and upscale a real scene sanely."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from typer.testing import CliRunner

from satsr.cli import app
from satsr.normalise import Normalisation
from satsr.weights import SHIPPED, load_weights

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "paris_rgb_30cm.tif"
PAN_EXAMPLE = ROOT / "examples" / "vegas_pan_uint16_30cm.tif"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_describe_their_making(name: str) -> None:
    loaded = load_weights(name)
    meta = loaded.metadata
    bands = 1 if name == "pan" else 3  # pan: Rec. 601 luminance of the same data, 11-16-bit scenes stretched
    assert loaded.normalisation == Normalisation.for_dtype("uint8", bands)
    assert meta["architecture"]["bands"] == bands and meta["architecture"]["scale"] == 4
    assert (name == "pan") == ("scene_stretch" in meta) == (meta.get("luminance") == "rec601")
    assert re.match(r"satsr (-\S+ )*train ", meta["training"]["command"])  # global flags such as -q allowed
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


def test_pan_weights_upscale_a_real_uint16_crop(tmp_path) -> None:
    """A WorldView-3 panchromatic crop (11-bit values in uint16), no --weights: the pan model is chosen, the
    output stays uint16 in the input's units."""
    crop = tmp_path / "vegas_pan.tif"
    crop.write_bytes(PAN_EXAMPLE.read_bytes())
    with rasterio.open(crop) as src:
        window = Window(100, 100, 48, 48)
        lr = src.read(window=window).astype(np.float64)
        profile = src.profile | {"width": 48, "height": 48, "transform": src.window_transform(window)}
    with rasterio.open(crop, "w", **profile) as dst:
        dst.write(lr.astype(np.uint16))
    result = CliRunner().invoke(app, ["upscale", str(crop)])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "vegas_pan_x4.tif") as out:
        sr = out.read().astype(np.float64)
        assert out.dtypes == ("uint16",) and out.tags()["SATSR_WEIGHTS"] == SHIPPED["pan"]
    back = sr.reshape(1, 48, 4, 48, 4).mean(axis=(2, 4))
    assert 10 * np.log10(2047**2 / np.mean((back - lr) ** 2)) > 35  # LR-consistent in 11-bit DN


def _run(*cmd: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kwargs)


def test_a_wheel_carries_the_shipped_weights(tmp_path) -> None:
    """Built without the checkout's help and installed into a fresh venv, satsr upscales with its weights.

    Built from a clean copy of what a clone holds: setuptools copies a module into build/ only when the
    source is newer, so a checkout's leftover build/ (e.g. after a merge) would put stale modules in the
    wheel."""
    clean = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    clean.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, clean / name)
    for name in ("satsr", "weights"):  # satsr/_weights is a relative link to weights/: kept as a link
        shutil.copytree(ROOT / name, clean / name, symlinks=True, ignore=ignore)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path, clean)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "--no-deps", "--no-index", *tmp_path.glob("satsr-*.whl"))
    # torch, rasterio ... from this environment; satsr only from the wheel
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    where = _run(venv / "bin" / "python", "-c", "import satsr; print(satsr.__file__)", cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(venv))
    scene = tmp_path / "paris.tif"
    scene.write_bytes(EXAMPLE.read_bytes())
    _run(venv / "bin" / "satsr", "upscale", scene, cwd=tmp_path, env=env)
    with rasterio.open(tmp_path / "paris_x4.tif") as out:
        assert out.width == 2048 and out.tags()["SATSR_WEIGHTS"] == SHIPPED["gan"]
