"""Whether weights can take a scene: bands, dtype and ground sample distance, with hints that fit the scene
at hand (a 1-band uint16 panchromatic scene is not told to pick 3 bands)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from satsr.errors import DataError, SatsrError
from satsr.gsd import check_gsd, describe_gsd, gsd_of, weights_lr_gsd
from satsr.radiometry import PERCENTILES, SceneStretch, scene_percentiles
from satsr.raster import open_raster, select_bands
from satsr.sources import Source
from satsr.weights import DEFAULT_WEIGHTS, PAN_WEIGHTS, LoadedWeights

PREVIEW_SIDE = 512  # px of the decimated read that suggests a stretch for a dtype conversion
# a 1-band scene and RGB weights: the shipped panchromatic model takes it, uint8 or 11-16 bit alike
PAN_HINT = (f"pass --weights {PAN_WEIGHTS}, the shipped panchromatic model (1 band; uint8, or 11-16-bit "
            "values in uint16, upscaled in the scene's own units)")  # fmt: skip


def check_scene(
    ds: DatasetReader, weights: LoadedWeights, bands: tuple[int, ...] | None, ignore_gsd: bool
) -> tuple[list[int], dict[str, Any], list[str]]:
    """The bands to feed the model, the resolution tags of the output and warnings, after refusing a scene
    the weights cannot take (wrong band count or dtype; a pixel size other than the weights' unless
    `ignore_gsd`)."""
    chosen = select_bands(ds, list(bands) if bands else None)
    bands_wrong = _band_problem(ds, chosen, weights, bands)
    if bands_wrong and PAN_HINT in bands_wrong:  # the pan weights take its dtype too: one hint, not two
        raise DataError(f"{ds.name}: {bands_wrong}")
    dtype_wrong = _dtype_problem(ds, chosen, weights)
    if bands_wrong or dtype_wrong:
        raise DataError(f"{ds.name}: " + "; ".join(p for p in (bands_wrong, dtype_wrong) if p))
    trained = weights_lr_gsd(weights.metadata)
    scene = gsd_of(ds.crs, ds.transform, ds.width, ds.height)
    note = check_gsd(str(ds.name), scene, trained, ignore_gsd, weights.scale)
    tags: dict[str, Any] = {"SATSR_WEIGHTS_LR_GSD_M": describe_gsd(trained).removesuffix(" m")}
    if scene is not None:
        tags |= {"SATSR_INPUT_GSD_M": f"{scene:.4g}", "SATSR_OUTPUT_GSD_M": f"{scene / weights.scale:.4g}"}
    return chosen, tags, [note] if note else []


def default_weights_for(scenes: list[Source], bands: tuple[int, ...] | None) -> str:
    """The shipped weights `satsr upscale` uses without --weights: the panchromatic model when every
    readable scene feeds one band (a 1-band scene, or --bands N), else the RGB default."""
    if bands is not None:
        return PAN_WEIGHTS if len(bands) == 1 else DEFAULT_WEIGHTS
    counts = set()
    for src in scenes:
        try:
            with open_raster(src, georeferenced=False) as ds:
                counts.add(len(select_bands(ds, None)))
        except (SatsrError, RasterioError, OSError):
            continue  # its own run reports why
    return PAN_WEIGHTS if counts == {1} else DEFAULT_WEIGHTS


def _kind(weights: LoadedWeights) -> str:
    bands, dtype = weights.generator.spec.bands, weights.normalisation.dtype
    name = {1: "panchromatic (1-band)", 3: "RGB"}.get(bands, f"{bands}-band")
    return f"{name} {dtype}"


def _band_problem(
    ds: DatasetReader, chosen: list[int], weights: LoadedWeights, given: tuple[int, ...] | None
) -> str | None:
    expected, n = weights.generator.spec.bands, len(chosen)
    if n == expected:
        return None
    name = weights.path.name
    picked = f"{n} {'is' if n == 1 else 'are'} selected {chosen}" if given else \
        f"it has {n} data band{'s' * (n != 1)} {chosen}"  # fmt: skip
    dtype = ds.dtypes[chosen[0] - 1]
    if expected == 3 and n == 1:  # a panchromatic scene (or band) and RGB weights
        return f"the weights {name} are {_kind(weights)} but {picked} of {dtype}; {PAN_HINT}"
    if expected == 1:
        other = "; --weights gan for RGB" if n >= 3 else ""
        return f"the weights {name} are {_kind(weights)} but {picked}; choose one with --bands N{other}"
    if ds.count < expected:  # no --bands can help
        return (f"the weights {name} are {_kind(weights)} but {picked} of {dtype}; no "
                f"shipped model takes {n}-band imagery: train weights on such scenes (satsr prepare, satsr "
                f"train) and pass --weights RUN_DIR")  # fmt: skip
    example = ",".join(str(b) for b in range(1, expected + 1))
    return f"the weights {name} take {expected} bands but {picked}; choose {expected} with --bands {example}"


def _dtype_problem(ds: DatasetReader, chosen: list[int], weights: LoadedWeights) -> str | None:
    dtypes = sorted({ds.dtypes[b - 1] for b in chosen})
    trained = weights.normalisation.dtype
    if dtypes == [trained] or SceneStretch.from_metadata(weights.metadata) is not None:
        return None  # weights with a scene stretch take any dtype (satsr.radiometry)
    # no silent rescale: an 11-bit scene in uint16 is not a 16-bit one; only the user knows its range
    what = f"pixels are {'/'.join(dtypes)} but the weights {weights.path.name} take {trained}"
    if trained != "uint8":
        return f"{what}; convert the scene to {trained} or pass --weights trained on {'/'.join(dtypes)}"
    low, high = _stretch(ds, chosen)
    return (f"{what}; stretch it to 8 bits first, e.g. gdal_translate -ot Byte -scale {low:g} {high:g} 0 255 "
            f"IN.tif OUT_8bit.tif ({low:g}-{high:g}: this scene's 0.5-99.5 % range), or pass --weights "
            f"trained on {'/'.join(dtypes)} scenes")  # fmt: skip


def _stretch(ds: DatasetReader, bands: list[int]) -> tuple[float, float]:
    """0.5 and 99.5 % percentiles of valid pixels (all bands) from a decimated read (overviews if any)."""
    low, high = scene_percentiles(ds, bands, PERCENTILES, PREVIEW_SIDE)
    return float(np.floor(low.min())), float(np.ceil(high.max()))


def overlap_warning(overlap: int | None, weights: LoadedWeights) -> str | None:
    """A line for the user when --overlap is below the generator's receptive radius (visible seams)."""
    radius = weights.generator.receptive_radius
    if overlap is None or overlap >= radius:
        return None
    return (f"--overlap {overlap} is below the receptive radius of {weights.path.name} "
            f"({radius} LR px): tile borders will show seams; leave --overlap out for {radius}")  # fmt: skip
