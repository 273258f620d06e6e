"""Typer CLI: parse options, call one tool function, render with rich. No pixel logic here.

Heavy imports (torch, rasterio) happen inside command bodies so that `satsr --help` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Optional

import typer
from rich.console import Console

from satsr import __version__
from satsr.errors import SatsrError, UsageError

app = typer.Typer(
    name="satsr",
    help="Turn 30 cm satellite imagery into 7.5 cm aerial-like imagery (4x super-resolution, georeferenced).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"satsr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
) -> None:
    """satsr: prepare -> train -> evaluate -> upscale."""


@contextmanager
def rich_progress() -> Iterator:
    """A progress callback `report(task, completed, total)` drawn as rich bars on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.progress import TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bars:
        ids: dict[str, int] = {}

        def report(task: str, completed: int, total: int) -> None:
            if task not in ids:
                ids[task] = bars.add_task(task, total=total)
            bars.update(ids[task], completed=completed, total=total)

        yield report


def _not_implemented(command: str) -> None:
    raise SatsrError(f"satsr {command}: not implemented yet")


@app.command()
def prepare() -> None:
    """Tile paired satellite (LR) and aerial (HR) GeoTIFFs into a training set."""
    _not_implemented("prepare")


@app.command()
def train() -> None:
    """Train a 4x generator: pixel-loss pretraining, then the adversarial phase."""
    _not_implemented("train")


@app.command()
def evaluate() -> None:
    """Score a model or an upscaled raster beside a bicubic baseline."""
    _not_implemented("evaluate")


@app.command()
def upscale(
    scenes: Annotated[list[str], typer.Argument(help="GeoTIFF scenes, directories or glob patterns.")],
    output: Annotated[str | None, typer.Option("-o", "--output", help="Output file or directory.")] = None,
    weights: Annotated[str | None, typer.Option(help="gan (default), psnr, FILE or RUN_DIR.")] = None,
    tile: Annotated[int | None, typer.Option(help="LR pixels per tile side (default 128).")] = None,
    overlap: Annotated[int | None, typer.Option(help="LR context per side (default: receptive field).")] = (
        None
    ),
    batch_size: Annotated[int | None, typer.Option(help="Tiles per model call (default 4).")] = None,
    bands: Annotated[str | None, typer.Option(help="Input bands, e.g. 1,2,3 (default: non-alpha).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    cog: Annotated[bool, typer.Option("--cog", help="Write Cloud-Optimized GeoTIFFs (overviews).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
) -> None:
    """Upscale scenes 4x, streaming, seam-free and georeferenced (SCENE_x4.tif beside each by default).

    Without --weights the shipped 'gan' weights are used.
    """
    from pathlib import Path

    from satsr.scenes import collect_scenes, output_paths

    sources = collect_scenes(scenes)
    pairs = list(zip(sources, output_paths(sources, None if output is None else Path(output)), strict=True))
    band_list = parse_int_list(bands, "--bands")
    given = {"tile": tile, "overlap": overlap, "batch_size": batch_size}
    from satsr.upscale import UpscaleOptions, upscale_many
    from satsr.weights import load_weights

    options = UpscaleOptions(
        **{k: v for k, v in given.items() if v is not None},
        bands=tuple(band_list) if band_list else None, device=device, cog=cog, overwrite=overwrite,
    )  # fmt: skip
    loaded = load_weights(weights)
    with _upscale_progress() as report:
        outcome = upscale_many(pairs, loaded, options, report)
    for r in outcome.results:
        console.print(f"{r.dst}: {r.hr_size[0]}x{r.hr_size[1]} px in {r.seconds:.1f} s "
                      f"({r.output_mp_per_s:.2f} output MP/s)", highlight=False)  # fmt: skip
    for src, reason in outcome.failures:
        console.print(f"[bold red]failed:[/] {src}: {reason}", highlight=False, soft_wrap=True)
    if outcome.failures:
        raise SatsrError(f"{len(outcome.failures)} of {len(pairs)} scenes failed (listed above)")


@contextmanager
def _upscale_progress() -> Iterator:
    """One bar over all scenes: tiles done, output MP/s so far, time left."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("upscale"), BarColumn(), MofNCompleteColumn(), TextColumn("tiles"),
               TextColumn("{task.fields[mps]:.2f} MP/s"), TimeRemainingColumn())  # fmt: skip
    start = time.perf_counter()
    with Progress(*columns, console=console) as bars:
        bar = bars.add_task("upscale", total=None, mps=0.0)

        def report(task: str, completed: int, total: int) -> None:
            if task == "upscale tiles":
                bars.update(bar, completed=completed, total=total)
            elif task == "upscale output pixels":
                bars.update(bar, mps=completed / 1e6 / max(time.perf_counter() - start, 1e-9))

        yield report


def parse_int_list(text: str | None, option: str) -> list[int] | None:
    """'1,2,3' -> [1, 2, 3]; a clear usage error otherwise."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected comma-separated integers such as 1,2,3") from None


def main() -> None:
    """Entry point: every SatsrError becomes one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except SatsrError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: nothing was left under a final output name")
        sys.exit(130)


if __name__ == "__main__":
    main()
