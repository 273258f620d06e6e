"""satsr among GDAL tools: remote and virtual inputs, ground sample distance, output options, CLI manners,
sharded runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS

from satsr.errors import DataError, UsageError
from satsr.gsd import check_gsd, ground_pixel_size, gsd_of, weights_lr_gsd
from satsr.scenes import output_paths, shard_of
from satsr.sources import as_source, is_virtual, source_stem
from satsr.upscale import UpscaleOptions, upscale_file
from tests.rangeserver import serve
from tests.support import smooth_image
from tests.test_upscale import read, tiny_weights


def satsr(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "satsr", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd, env=env)  # fmt: skip


def test_urls_and_vsi_paths_are_not_mangled() -> None:
    url = "http://127.0.0.1:8765/data/paris_cog.tif?token=1"
    assert is_virtual(url) and as_source(url) == url and source_stem(url) == "paris_cog"
    assert source_stem("/vsicurl/https://h/a/b.tif") == "b"
    assert source_stem("/vsizip//data/a.zip/inner/c.tiff") == "c"
    assert source_stem("s3://bucket/k/scene.tif") == "scene"
    assert as_source("local/file.tif") == Path("local/file.tif") and not is_virtual("local/x.tif")
    assert output_paths([url], None) == [Path("paris_cog_x4.tif")]  # in the current folder
    assert output_paths([url], Path("out")) == [Path("out/paris_cog_x4.tif")]


def test_upscale_over_http_with_ranges_equals_local(tmp_path, make_raster, rng) -> None:
    """A COG served with Range requests on 127.0.0.1: URL and /vsicurl/ give the local file's pixels."""
    weights = tiny_weights(tmp_path)
    plain = make_raster("plain.tif", smooth_image(rng, 3, 40, 40))
    scene = tmp_path / "scene.tif"
    rasterio.shutil.copy(plain, scene, driver="COG", BLOCKSIZE=16, OVERVIEWS="NONE")  # a small tiled COG
    local = upscale_file(scene, tmp_path / "local.tif", weights, UpscaleOptions(tile=16))
    work = tmp_path / "work"
    work.mkdir()
    with serve(tmp_path) as base:
        got = satsr("upscale", f"{base}/scene.tif", "--weights", str(weights.path), "--tile", "16", cwd=work)
        assert got.returncode == 0, got.stderr
        vsi = satsr("upscale", f"/vsicurl/{base}/scene.tif", "-o", str(work / "v"), "--weights",
                    str(weights.path), "--tile", "16")  # fmt: skip
        assert vsi.returncode == 0, vsi.stderr
        missing = satsr("upscale", f"{base}/nothing.tif", cwd=work)
    expected = read(local.dst)[0]
    assert np.array_equal(read(work / "scene_x4.tif")[0], expected)
    assert np.array_equal(read(work / "v" / "scene_x4.tif")[0], expected)
    assert missing.returncode == 1 and "http:/1" not in missing.stderr
    assert f"{base}/nothing.tif" in missing.stderr and "404" in missing.stderr


def test_vrt_with_a_missing_source_names_it(tmp_path, make_raster, rng) -> None:
    scene = make_raster("scene.tif", smooth_image(rng, 3, 16, 16))
    vrt = tmp_path / "mosaic.vrt"
    with rasterio.open(scene) as ds:
        rasterio.shutil.copy(ds, vrt, driver="VRT")
    vrt.write_text(vrt.read_text().replace("scene.tif", "gone.tif"))
    got = satsr("upscale", str(vrt), "-o", str(tmp_path / "out.tif"), "--weights",
                str(tiny_weights(tmp_path).path))  # fmt: skip
    assert got.returncode == 1 and "gone.tif" in got.stderr and "missing" in got.stderr, got.stderr
    assert len(got.stderr.strip().splitlines()[-1]) > 20


def test_ground_pixel_size_in_metres() -> None:
    utm = ground_pixel_size(CRS.from_epsg(32633), Affine(0.3, 0, 500_000, 0, -0.3, 4_000_000), 10, 10)
    assert utm == pytest.approx((0.3, 0.3), rel=2e-3)  # UTM's scale factor is 0.9996 near the meridian
    feet = ground_pixel_size(CRS.from_epsg(2263), Affine(1, 0, 1e6, 0, -1, 2e5), 10, 10)  # NY, US ft
    assert feet == pytest.approx((0.3048, 0.3048), rel=2e-3)
    equator = ground_pixel_size(CRS.from_epsg(4326), Affine(1 / 3600, 0, 0, 0, -1 / 3600, 0.0), 0, 0)
    assert equator == pytest.approx((30.92, 30.72), rel=2e-3)  # one arc-second
    north = ground_pixel_size(CRS.from_epsg(4326), Affine(1 / 3600, 0, 0, 0, -1 / 3600, 60.0), 0, 0)
    assert north[0] == pytest.approx(equator[0] / 2, rel=5e-3)
    y60 = 8_399_738  # Web Mercator northing of latitude 60: its 0.6 "m" pixels are 0.3 m on the ground
    mercator = ground_pixel_size(CRS.from_epsg(3857), Affine(0.6, 0, 0, 0, -0.6, y60), 0, 0)
    assert mercator == pytest.approx((0.3, 0.3), rel=5e-3)


def test_gsd_mismatch_refused_unless_ignored(tmp_path, make_raster, rng) -> None:
    weights = tiny_weights(tmp_path)
    coarse = make_raster("wv2.tif", smooth_image(rng, 3, 16, 16), res=0.5)
    with pytest.raises(DataError, match=r"0\.5 m on the ground .* 0\.3 m.*--ignore-gsd"):
        upscale_file(coarse, tmp_path / "a.tif", weights, UpscaleOptions(tile=16))
    result = upscale_file(coarse, tmp_path / "b.tif", weights, UpscaleOptions(tile=16, ignore_gsd=True))
    assert "0.125 m" in result.notes[0]
    with rasterio.open(result.dst) as ds:
        tags = ds.tags()
    got = [float(tags[k]) for k in ("SATSR_INPUT_GSD_M", "SATSR_OUTPUT_GSD_M", "SATSR_WEIGHTS_LR_GSD_M")]
    assert got == pytest.approx([0.5 / 0.9996, 0.125 / 0.9996, 0.3], rel=1e-3)  # UTM: k0 0.9996 here
    geographic = Affine(2.7e-6, 0, 2.35, 0, -2.7e-6, 0.5)  # ~0.30 m near the equator, in degrees
    fine = make_raster("geo.tif", smooth_image(rng, 3, 16, 16), crs="EPSG:4326", transform=geographic)
    assert upscale_file(fine, tmp_path / "c.tif", weights, UpscaleOptions(tile=16)).notes == ()


def test_pan_uint16_hint_is_right(tmp_path, make_raster, rng) -> None:
    pan = make_raster("pan.tif", smooth_image(rng, 1, 16, 16, dtype=np.uint16))
    with pytest.raises(DataError) as info:
        upscale_file(pan, tmp_path / "o.tif", tiny_weights(tmp_path), UpscaleOptions(tile=16))
    text = str(info.value)
    assert "--bands 1,2,3" not in text and "has 1 data band [1] of uint16" in text and "RGB uint8" in text
    assert "--weights pan" in text and "panchromatic" in text and "gdal_translate" not in text
    rgb16 = make_raster("rgb16.tif", smooth_image(rng, 3, 16, 16, dtype=np.uint16))
    with pytest.raises(DataError, match=r"to 8 bits first, e\.g\. gdal_translate -ot Byte -scale \d"):
        upscale_file(rgb16, tmp_path / "o.tif", tiny_weights(tmp_path), UpscaleOptions(tile=16))


def test_output_options(tmp_path, make_raster, rng) -> None:
    weights = tiny_weights(tmp_path)
    scene = make_raster("s.tif", smooth_image(rng, 3, 80, 80))
    with rasterio.open(scene, "r+") as ds:
        ds.update_tags(1, STATISTICS_MEAN="12", STATISTICS_MAXIMUM="200", KEEP="yes")
    options = UpscaleOptions(tile=32, overviews=True, creation_options=(("COMPRESS", "ZSTD"),))
    out = upscale_file(scene, tmp_path / "o.tif", weights, options).dst
    with rasterio.open(out) as ds:
        assert ds.compression.name.lower() == "zstd" and ds.overviews(1) == [2]
        assert ds.tags(1) == {"KEEP": "yes"}
    assert oct(weights.path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(UsageError, match="GeoTIFF"):
        output_paths([scene], tmp_path / "out.png")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_cli_manners(tmp_path, make_raster, rng) -> None:
    scene = make_raster("s.tif", smooth_image(rng, 3, 24, 24))
    w = str(tiny_weights(tmp_path).path)
    assert satsr("upscale", "-h").returncode == 0
    png = satsr("upscale", str(scene), "-o", str(tmp_path / "out.png"), "--weights", w)
    assert png.returncode == 2 and not (tmp_path / "out.png").exists()
    if not __import__("torch").cuda.is_available():
        cuda = satsr("upscale", str(scene), "--device", "cuda:1", "--weights", w)
        assert cuda.returncode == 2 and "no CUDA device" in cuda.stderr
    seams = satsr("-q", "upscale", str(scene), "--overlap", "1", "--tile", "8", "--weights", w)
    assert seams.returncode == 0 and "below the receptive radius" in seams.stderr
    assert "px in" not in seams.stderr  # -q: no result lines
    assert satsr("upscale", str(scene), "--shard", "3/2", "--weights", w).returncode == 2


def test_evaluate_json_to_stdout(tmp_path, make_raster, rng) -> None:
    hr = make_raster("hr.tif", smooth_image(rng, 3, 32, 32), res=0.075)
    got = satsr("evaluate", "--sr", str(hr), "--hr", str(hr), "--metrics", "mse", "--json", "-", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["scores"]["sr"]["mse"]["overall"] == 0
    assert not (tmp_path / "-").exists() and "hr.tif (raster)" in got.stderr


def test_shards_split_scenes() -> None:
    pairs = list(range(5))
    assert shard_of(pairs, "1/2")[0] == [0, 2, 4] and shard_of(pairs, "2/2")[0] == [1, 3]
    with pytest.raises(UsageError):
        shard_of(pairs, "0/2")


def test_two_processes_over_four_scenes(tmp_path, make_raster, rng) -> None:
    """torchrun-style: RANK/WORLD_SIZE split the scenes; every output written once, atomically."""
    for i in range(4):
        make_raster(f"s{i}.tif", smooth_image(rng, 3, 16, 16))
    w = str(tiny_weights(tmp_path).path)
    env = {**os.environ, "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "satsr", "upscale", str(tmp_path), "-o",
                               str(tmp_path / "out"), "--weights", w], env={**env, "RANK": str(r)},
                              stderr=subprocess.PIPE, text=True) for r in range(2)]  # fmt: skip
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"s{i}_x4.tif" for i in range(4)]
    assert all("shard" in e and "2 of 4 scenes" in e for e in errors)


def test_python_api_array_equals_file(tmp_path, make_raster, rng) -> None:
    import satsr

    weights = tiny_weights(tmp_path)
    lr = smooth_image(rng, 3, 36, 28)
    scene = make_raster("a.tif", lr)
    by_file = satsr.upscale_file(scene, tmp_path / "a_x4.tif", weights, tile=16)
    with rasterio.open(scene) as ds:
        hr, transform = satsr.upscale_array(lr, ds.transform, ds.crs, weights, tile=16)
    expected, meta = read(by_file.dst)
    assert np.array_equal(hr, expected) and transform == meta["transform"]
    report = satsr.score(sr=by_file.dst, hr=by_file.dst, metrics=("mse",))
    assert report.scores["sr"]["mse"].overall == 0
    with pytest.raises(AttributeError):
        satsr.no_such_function  # noqa: B018


ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data"


@pytest.mark.slow
def test_real_scenes_pixel_size_and_hints() -> None:
    """The shared satellite scenes: 30 cm in degrees and Web Mercator pass; 50 cm is refused by weights
    trained on 30 cm only and taken by the shipped gan (trained on 0.26-1 m LR); the uint16 panchromatic
    scene is told to use the shipped pan weights, which take it."""
    from satsr.scene_check import check_scene
    from satsr.weights import load_weights

    scenes = {n: REAL / "satellite" / n for n in ("wv3_paris_rgb_30cm.tif", "wv3_vegas_pan_uint16_30cm.tif",
                                                  "wv2_atlanta_pan_uint16_50cm.tif")}  # fmt: skip
    scenes["kathmandu"] = REAL / "pairs" / "kathmandu_satellite_30cm.tif"
    if not all(p.exists() for p in scenes.values()):
        pytest.skip("the shared real scenes are not here")
    gan = load_weights("gan")
    for name in ("wv3_paris_rgb_30cm.tif", "kathmandu"):
        with rasterio.open(scenes[name]) as ds:
            assert check_scene(ds, gan, None, False)[2] == []
    with rasterio.open(scenes["kathmandu"]) as ds:  # EPSG:3857: 0.2986 "m" pixels, 0.264 m on the ground
        ground = float(check_scene(ds, gan, None, False)[1]["SATSR_INPUT_GSD_M"])
    assert ground == pytest.approx(0.264, abs=2e-3)
    with rasterio.open(scenes["wv3_vegas_pan_uint16_30cm.tif"]) as ds, pytest.raises(DataError) as info:
        check_scene(ds, gan, None, False)
    assert "panchromatic" in str(info.value) and "--weights pan" in str(info.value)
    with rasterio.open(scenes["wv3_vegas_pan_uint16_30cm.tif"]) as ds:
        assert check_scene(ds, load_weights("pan"), None, False)[2] == []
    with rasterio.open(scenes["wv2_atlanta_pan_uint16_50cm.tif"]) as ds:
        atlanta = gsd_of(ds.crs, ds.transform, ds.width, ds.height)
    assert atlanta == pytest.approx(0.5, abs=1e-3)
    thirty_cm_only = load_weights(ROOT / "weights" / "previous" / "satsr_x4_gan_0.1.safetensors")
    with pytest.raises(DataError, match=r"0\.5 m on the ground .*--ignore-gsd"):
        check_gsd("atlanta", atlanta, weights_lr_gsd(thirty_cm_only.metadata), False)
    assert check_gsd("atlanta", atlanta, weights_lr_gsd(gan.metadata), False) is None  # trained on 0.26-1 m


def test_torchrun_processes_take_their_own_gpu(monkeypatch) -> None:
    import torch

    from satsr.precision import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "5")
    assert resolve_device("auto") == resolve_device("cuda") == "cuda:1"
    assert resolve_device("cuda:3") == "cuda:3" and resolve_device("cpu") == "cpu"
    with pytest.raises(UsageError, match="4 CUDA devices"):
        resolve_device("cuda:4")
