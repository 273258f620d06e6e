"""The package, its CLI conventions and the shared building blocks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from satsr.discriminator import Discriminator
from satsr.errors import DataError, OutputExistsError, WeightsError
from satsr.models import Generator, GeneratorSpec
from satsr.normalise import Normalisation
from satsr.outputs import atomic_output
from satsr.raster import open_raster, read_window
from satsr.tiling import covering_tiles, full_tiles, scale_window
from satsr.weights import load_weights, resolve_weights, save_weights
from tests.support import run_cli


def test_help_does_not_import_torch() -> None:
    heavy = "('torch', 'rasterio', 'numpy')"
    code = f"import sys; from satsr.cli import app; assert not any(m in sys.modules for m in {heavy})"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = run_cli("--help")
    assert result.returncode == 0 and "upscale" in result.stdout


def test_version_and_usage_error() -> None:
    assert run_cli("--version").stdout.startswith("satsr ")
    assert run_cli("no-such-command").returncode == 2


def test_generator_upscales_4x_any_band_count() -> None:
    g = Generator(GeneratorSpec(bands=1, features=8, blocks=1))
    assert g(torch.rand(2, 1, 10, 13)).shape == (2, 1, 40, 52)


def test_fresh_generator_is_bicubic() -> None:
    g = Generator(GeneratorSpec(features=8, blocks=1))
    x = torch.rand(1, 3, 8, 8)
    bicubic = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(g(x), bicubic)


@pytest.mark.parametrize("bands", [1, 3])
def test_inference_folding_gives_the_training_graph_output(bands: int) -> None:
    """Eval mode runs the tail before the last pixel shuffle: the same function, up to float rounding."""
    torch.manual_seed(0)
    g = Generator(GeneratorSpec(bands=bands, features=8, blocks=1))
    for p in (g.tail.weight, g.tail.bias, *(m.weight for m in g.modules() if isinstance(m, torch.nn.PReLU))):
        torch.nn.init.uniform_(p, -0.5, 0.5)
    x = torch.rand(2, bands, 11, 17)
    with torch.no_grad():
        trained, folded = g.train()(x), g.eval()(x)
    assert (trained - torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic")).abs().max() > 0.1
    assert torch.allclose(trained, folded, atol=1e-5)


@pytest.mark.parametrize("size", [32, 48, 96])
def test_discriminator_takes_any_crop(size: int) -> None:
    d = Discriminator(bands=3, features=8)
    assert d(torch.rand(2, 3, size, size)).shape == (2,)


def test_normalisation_round_trip_uint16() -> None:
    x = np.array([[[0, 100, 4095]]], dtype=np.uint16)
    norm = Normalisation.from_samples("uint16", x.reshape(1, -1), (0, 100))
    y = norm.forward(x)
    assert y.min() == 0 and y.max() == pytest.approx(1)
    assert np.array_equal(norm.inverse(y), x)
    assert norm.inverse(np.full_like(y, 99.0)).max() == 65535  # clipped to the dtype range


def test_weights_round_trip(tmp_path) -> None:
    g = Generator(GeneratorSpec(features=8, blocks=1))
    torch.nn.init.normal_(g.tail.weight)
    path = save_weights(tmp_path / "w.safetensors", g, Normalisation.for_dtype("uint8", 3), {"note": "t"})
    loaded = load_weights(path)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(loaded.generator(x), g.eval()(x))
    assert loaded.metadata["note"] == "t" and loaded.normalisation.high == (255.0,) * 3


def test_run_directory_resolves_to_what_the_run_made(tmp_path) -> None:
    g, norm = Generator(GeneratorSpec(features=8, blocks=1)), Normalisation.for_dtype("uint8", 3)
    for name, phase in (("psnr", "pretrain"), ("best", "pretrain"), ("final", "pretrain")):
        save_weights(tmp_path / f"{name}.safetensors", g, norm, {"phase": phase})
    assert resolve_weights(tmp_path) == tmp_path / "psnr.safetensors"  # pixel-loss run: its best
    save_weights(tmp_path / "final.safetensors", g, norm, {"phase": "adversarial"})
    assert resolve_weights(tmp_path) == tmp_path / "final.safetensors"  # GAN run: the GAN, as shipped
    (tmp_path / "final.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match=r"final\.safetensors: not a satsr weights file"):
        resolve_weights(tmp_path)


def test_nan_weights_are_never_written(tmp_path) -> None:
    g = Generator(GeneratorSpec(features=8, blocks=1))
    torch.nn.init.constant_(g.tail.bias, float("nan"))
    with pytest.raises(WeightsError):
        save_weights(tmp_path / "w.safetensors", g, Normalisation.for_dtype("uint8", 3), {})
    assert not list(tmp_path.iterdir())


def test_read_window_honours_mask_and_outside(make_raster, rng) -> None:
    data = rng.integers(0, 255, (3, 8, 8), dtype=np.uint8)
    mask = np.ones((8, 8), bool)
    mask[0, 0] = False
    path = make_raster("m.tif", data, mask=mask)
    from rasterio.windows import Window

    with open_raster(path) as src:
        pixels, valid = read_window(src, Window(-1, -1, 4, 4), [1, 2, 3])
    assert pixels.shape == (3, 4, 4)
    assert not valid[0].any() and not valid[:, 0].any()  # outside the raster
    assert not valid[1, 1] and valid[2, 2]  # the masked pixel, then a valid one


def test_a_band_at_nodata_beside_valid_ones_is_data_in_plain_and_warped_reads(make_raster, rng) -> None:
    from rasterio.windows import Window

    from satsr.align import coarsened
    from satsr.gsd import gsd_of

    data = rng.integers(0, 250, (3, 8, 8), dtype=np.uint8)
    data[0, 2, 3] = 255  # saturated in red only: a bright roof under nodata 255
    data[:, 5, 5] = 255  # every band at nodata: a hole
    path = make_raster("nd255.tif", data, nodata=255)
    with open_raster(path) as src:
        _, valid = read_window(src, Window(0, 0, 8, 8), [1, 2, 3])
        with coarsened(src, gsd_of(src.crs, src.transform, 8, 8)) as warped:  # the warper, on its own grid
            _, warped_valid = read_window(warped, Window(0, 0, 8, 8), [1, 2, 3])
    assert valid[2, 3] and not valid[5, 5] and valid.sum() == 63
    assert np.array_equal(valid, warped_valid)


def test_open_raster_errors(tmp_path, make_raster, rng) -> None:
    (tmp_path / "x.tif").write_text("not a raster")
    with pytest.raises(DataError, match=r"x\.tif: not a readable raster"):
        open_raster(tmp_path / "x.tif").__enter__()
    path = make_raster("nocrs.tif", rng.integers(0, 255, (1, 4, 4), dtype=np.uint8), crs=None)
    with pytest.raises(DataError, match="has no CRS"):
        open_raster(path).__enter__()


def test_atomic_output_leaves_nothing_on_failure(tmp_path) -> None:
    final = tmp_path / "out.tif"
    with pytest.raises(RuntimeError), atomic_output(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(final) as tmp:
        tmp.write_text("done")
    assert final.read_text() == "done"
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_output(final):
        pass


def test_tiling_maths() -> None:
    assert len(list(full_tiles(10, 10, 4, 4))) == 4
    cover = list(covering_tiles(10, 7, 4))
    assert sum(w.width * w.height for w in cover) == 70
    assert scale_window(cover[-1], 4).width == cover[-1].width * 4


def test_info_shows_what_weights_expect(tmp_path) -> None:
    g = Generator(GeneratorSpec(bands=1, features=8, blocks=1))
    norm = Normalisation("uint16", (100.0,), (2047.0,))
    path = save_weights(tmp_path / "w.safetensors", g, norm, {"training": {"command": "satsr train d -o r"}})
    result = run_cli("info", str(path))
    assert result.returncode == 0
    assert "uint16" in result.stdout and "2047.0" in result.stdout and "satsr train d -o r" in result.stdout
    missing = run_cli("info", str(tmp_path / "nope.safetensors"))
    assert missing.returncode == 1 and "no such weights file" in missing.stderr
