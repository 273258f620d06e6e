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
def upscale() -> None:
    """Upscale scenes 4x, streaming, seam-free and georeferenced."""
    _not_implemented("upscale")


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
