"""Whether weights can take a scene: bands, dtype and ground sample distance, with hints that fit the scene
at hand (a 1-band uint16 panchromatic scene is not told to pick 3 bands)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasterio.io import DatasetReader

from satsr.errors import DataError
from satsr.gsd import check_gsd, describe_gsd, gsd_of, weights_lr_gsd
from satsr.raster import select_bands
from satsr.weights import LoadedWeights

PREVIEW_SIDE = 512  # px of the decimated read that suggests a stretch for a dtype conversion


def check_scene(
    ds: DatasetReader, weights: LoadedWeights, bands: tuple[int, ...] | None, ignore_gsd: bool
) -> tuple[list[int], dict[str, Any], list[str]]:
    """The bands to feed the model, the resolution tags of the output and warnings, after refusing a scene
    the weights cannot take (wrong band count or dtype; a pixel size other than the weights' unless
    `ignore_gsd`)."""
    chosen = select_bands(ds, list(bands) if bands else None)
    bands_wrong, dtype_wrong = _band_problem(ds, chosen, weights, bands), _dtype_problem(ds, chosen, weights)
    if bands_wrong and ds.count < weights.generator.spec.bands:  # no --bands or stretch alone can help
        raise DataError(f"{ds.name}: {bands_wrong}{_grey_stopgap(ds, chosen, weights)}")
    if bands_wrong or dtype_wrong:
        raise DataError(f"{ds.name}: " + "; ".join(p for p in (bands_wrong, dtype_wrong) if p))
    trained = weights_lr_gsd(weights.metadata)
    scene = gsd_of(ds.crs, ds.transform, ds.width, ds.height)
    note = check_gsd(str(ds.name), scene, trained, ignore_gsd, weights.scale)
    tags: dict[str, Any] = {"SATSR_WEIGHTS_LR_GSD_M": describe_gsd(trained).removesuffix(" m")}
    if scene is not None:
        tags |= {"SATSR_INPUT_GSD_M": f"{scene:.4g}", "SATSR_OUTPUT_GSD_M": f"{scene / weights.scale:.4g}"}
    return chosen, tags, [note] if note else []


def _kind(weights: LoadedWeights) -> str:
    bands, dtype = weights.generator.spec.bands, weights.normalisation.dtype
    return f"{'RGB' if bands == 3 else f'{bands}-band'} {dtype}"


def _band_problem(
    ds: DatasetReader, chosen: list[int], weights: LoadedWeights, given: tuple[int, ...] | None
) -> str | None:
    expected = weights.generator.spec.bands
    if len(chosen) == expected:
        return None
    name = weights.path.name
    if ds.count < expected:
        kind = "panchromatic (1-band)" if ds.count == 1 else f"{ds.count}-band"
        return (f"has {ds.count} band{'s' * (ds.count != 1)} of {ds.dtypes[0]} but the weights {name} are "
                f"{_kind(weights)}; no shipped model takes {kind} imagery: train weights on such scenes "
                f"(satsr prepare, satsr train) and pass --weights RUN_DIR")  # fmt: skip
    example = ",".join(str(b) for b in range(1, expected + 1))
    picked = f"{len(chosen)} are selected {chosen}" if given else f"it has {len(chosen)} data bands {chosen}"
    return f"the weights {name} take {expected} bands but {picked}; choose {expected} with --bands {example}"


def _grey_stopgap(ds: DatasetReader, chosen: list[int], weights: LoadedWeights) -> str:
    """For a 1-band scene and RGB uint8 weights: how to make a grey RGB uint8 copy the weights take."""
    if ds.count != 1 or weights.generator.spec.bands != 3 or weights.normalisation.dtype != "uint8":
        return ""
    stretch = ""
    if ds.dtypes[0] != "uint8":
        low, high = _stretch(ds, chosen)
        stretch = f" -ot Byte -scale {low:g} {high:g} 0 255"
    return (f"; or, as a stopgap, a grey RGB copy: gdal_translate -b 1 -b 1 -b 1{stretch} IN.tif "
            f"IN_rgb.tif" + (f" ({stretch.split()[-4]}-{stretch.split()[-3]}: this scene's 0.5-99.5 % "
                             "range)" if stretch else ""))  # fmt: skip


def _dtype_problem(ds: DatasetReader, chosen: list[int], weights: LoadedWeights) -> str | None:
    dtypes = sorted({ds.dtypes[b - 1] for b in chosen})
    trained = weights.normalisation.dtype
    if dtypes == [trained]:
        return None
    # no silent rescale: an 11-bit scene in uint16 is not a 16-bit one; only the user knows its range
    what = f"pixels are {'/'.join(dtypes)} but the weights {weights.path.name} take {trained}"
    if trained != "uint8":
        return f"{what}; convert the scene to {trained} or pass --weights trained on {'/'.join(dtypes)}"
    low, high = _stretch(ds, chosen)
    return (f"{what}; stretch it to 8 bits first, e.g. gdal_translate -ot Byte -scale {low:g} {high:g} 0 255 "
            f"IN.tif OUT_8bit.tif ({low:g}-{high:g}: this scene's 0.5-99.5 % range), or pass --weights "
            f"trained on {'/'.join(dtypes)} scenes")  # fmt: skip


def _stretch(ds: DatasetReader, bands: list[int]) -> tuple[float, float]:
    """0.5 and 99.5 % percentiles of valid pixels from a decimated read (overviews when present)."""
    factor = max(1, max(ds.width, ds.height) // PREVIEW_SIDE)
    shape = (len(bands), max(1, ds.height // factor), max(1, ds.width // factor))
    data = ds.read(bands, out_shape=shape, masked=True)
    values = data.compressed() if np.ma.is_masked(data) else np.asarray(data).ravel()
    if values.size == 0:
        return 0.0, 255.0
    low, high = np.percentile(values, [0.5, 99.5])
    return float(np.floor(low)), float(np.ceil(high))


def overlap_warning(overlap: int | None, weights: LoadedWeights) -> str | None:
    """A line for the user when --overlap is below the generator's receptive radius (visible seams)."""
    radius = weights.generator.receptive_radius
    if overlap is None or overlap >= radius:
        return None
    return (f"--overlap {overlap} is below the receptive radius of {weights.path.name} "
            f"({radius} LR px): tile borders will show seams; leave --overlap out for {radius}")  # fmt: skip
