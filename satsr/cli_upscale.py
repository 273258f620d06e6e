"""`satsr upscale`: parse options, call the upscale tool, render with rich (registered by cli.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from satsr import views
from satsr.errors import SatsrError


def upscale(
    scenes: Annotated[
        list[str], typer.Argument(help="GeoTIFF scenes, directories, glob patterns, URLs or GDAL /vsi paths.")
    ],
    output: Annotated[str | None, typer.Option("-o", "--output", help="Output .tif or directory.")] = None,
    weights: Annotated[
        str | None, typer.Option(help="gan (default), psnr, pan (1-band default), FILE or RUN_DIR.")
    ] = None,
    tile: Annotated[int | None, typer.Option(help="LR pixels per tile side (default 256).")] = None,
    overlap: Annotated[int | None, typer.Option(help="LR context per side (default: receptive field).")] = (
        None
    ),
    batch_size: Annotated[int | None, typer.Option(help="Tiles per call (default 1 CPU, 8 CUDA).")] = None,
    bands: Annotated[str | None, typer.Option(help="Input bands, e.g. 1,2,3 (default: non-alpha).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps (torch names).")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 where native), fp32 or bf16.")] = "auto",
    cog: Annotated[bool, typer.Option("--cog", help="Write Cloud-Optimized GeoTIFFs.")] = False,
    overviews: Annotated[bool, typer.Option("--overviews", help="Add overviews to plain GeoTIFFs.")] = False,
    co: Annotated[
        list[str] | None, typer.Option("--co", help="GDAL creation option, as rio.", metavar="KEY=VAL")
    ] = None,
    ignore_gsd: Annotated[
        bool, typer.Option("--ignore-gsd", help="Accept a pixel size unlike the weights'.")
    ] = False,
    softness: Annotated[
        float | None, typer.Option(help="Conditioned weights: input blur, HR px (default: estimated).")
    ] = None,
    self_ensemble: Annotated[
        bool, typer.Option("--self-ensemble", help="psnr weights: average 8 flips/rotations (8x slower).")
    ] = False,
    shard: Annotated[
        str | None, typer.Option(help="Every N-th scene from the K-th [RANK/WORLD_SIZE].", metavar="K/N")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
) -> None:
    """Upscale scenes 4x, streaming, seam-free and georeferenced (SCENE_x4.tif beside each by default).

    Without --weights the shipped 'gan' weights are used ('pan' when every scene has one band). Inputs are
    anything GDAL opens: local files, http(s):// and s3:// URLs, /vsicurl/ and other /vsi paths, VRTs.
    """
    from pathlib import Path

    from satsr.cli_options import parse_int_list
    from satsr.scenes import collect_scenes, output_paths, shard_of
    from satsr.sources import local_paths

    sources = collect_scenes(scenes)
    pairs = list(zip(sources, output_paths(sources, None if output is None else Path(output)), strict=True))
    pairs, shard_note = shard_of(pairs, shard)
    band_list = parse_int_list(bands, "--bands")
    given = {"tile": tile, "overlap": overlap, "batch_size": batch_size}
    from satsr.scene_check import overlap_warning
    from satsr.upscale import UpscaleOptions, upscale_many
    from satsr.upscale_output import parse_creation_options
    from satsr.weights import load_weights

    options = UpscaleOptions(
        **{k: v for k, v in given.items() if v is not None},
        bands=tuple(band_list) if band_list else None, device=device, precision=precision, cog=cog,
        overviews=overviews, creation_options=parse_creation_options(co), ignore_gsd=ignore_gsd,
        softness=softness, self_ensemble=self_ensemble, overwrite=overwrite,
    )  # fmt: skip
    options.resolved_precision()  # an unavailable device is a usage error now, not a failure per scene
    from satsr.runtime import quiet_libtiff

    quiet_libtiff()
    if weights is None:
        from satsr.scene_check import default_weights_for
        from satsr.weights import PAN_WEIGHTS

        weights = default_weights_for(sources, options.bands)
        if weights == PAN_WEIGHTS:
            line = f"1-band scenes: the shipped panchromatic weights '{PAN_WEIGHTS}'"
            views.console.print(line, highlight=False)
    loaded = load_weights(weights)
    from satsr.outputs import refuse_inputs

    refuse_inputs([dst for _, dst in pairs], [*local_paths(sources), loaded.path], "output")
    if shard_note:
        views.console.print(shard_note, highlight=False)
    seams = overlap_warning(options.overlap, loaded)
    if seams:
        views.warn(seams)
    with views.upscale_progress() as report:
        outcome = upscale_many(pairs, loaded, options, report)
    _render(outcome, len(pairs))


def _render(outcome: object, count: int) -> None:
    from satsr.upscale import BatchReport

    assert isinstance(outcome, BatchReport)
    for r in outcome.results:
        for note in r.notes:
            views.warn(note)
        line = (f"{r.dst}: {r.hr_size[0]}x{r.hr_size[1]} px in {r.seconds:.1f} s "
                f"({r.output_mp_per_s:.2f} output MP/s, {r.precision})")  # fmt: skip
        views.console.print(line, highlight=False)
    if count == 1 and outcome.failures:
        raise SatsrError(outcome.failures[0][1])  # one scene: its own error is the one line
    for src, reason in outcome.failures:
        where = "" if reason.startswith(str(src)) else f"{src}: "  # most messages name the file already
        views.alerts.print(f"[bold red]failed:[/] {where}{reason}", highlight=False, soft_wrap=True)
    if outcome.failures:
        raise SatsrError(f"{len(outcome.failures)} of {count} scenes failed (listed above)")
