"""Typer CLI: parse options, call one tool function, render with rich. No pixel logic here.

Heavy imports (torch, rasterio) happen inside command bodies so that `satsr --help` stays instant.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape

from satsr import __version__, views
from satsr.cli_options import parse_floats, parse_int_list
from satsr.cli_upscale import upscale
from satsr.errors import Interrupted, SatsrError, UsageError
from satsr.runtime import handle_signals, quiet_libtiff

if TYPE_CHECKING:
    from satsr.progress import Progress
    from satsr.report import EvaluateOptions, EvaluationReport

app = typer.Typer(
    name="satsr",
    help="Turn 30 cm satellite imagery into 7.5 cm aerial-like imagery (4x super-resolution, georeferenced).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # help text is plain: "[all]" and "[16]" are defaults, not markup
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"satsr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More detail (-vv: GDAL).")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress or result lines.")] = False,
) -> None:
    """satsr: prepare -> train -> evaluate -> upscale."""
    views.set_verbosity(-1 if quiet else verbose)


@app.command()
def prepare(
    rasters: Annotated[list[str], typer.Argument(help="SAT AERIAL pairs (--degrade: aerial rasters/dirs).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Dataset directory to create.")],
    degrade: Annotated[bool, typer.Option("--degrade", help="Aerial only: synthesise the LR.")] = False,
    tile: Annotated[int, typer.Option(help="LR tile size in px (HR tile = scale x).")] = 64,
    scale: Annotated[int, typer.Option(help="HR px per LR px: 2, 4 or 8 (the model's factor).")] = 4,
    stride: Annotated[int | None, typer.Option(help="LR px between tiles (default: tile).")] = None,
    valid_fraction: Annotated[float, typer.Option(help="Min fraction of valid pixels per tile.")] = 1.0,
    min_std: Annotated[float, typer.Option(help="Drop tiles with HR std below this (DN); 0: off.")] = 1.0,
    max_shift: Annotated[float, typer.Option(help="Drop pair tiles shifted more than this (LR px).")] = 0.5,
    val: Annotated[float, typer.Option(help="Fraction of tiles in validation blocks.")] = 0.1,
    test: Annotated[float | None, typer.Option(help="Fraction in test blocks [0.1; 0 if held out].")] = None,
    test_scenes: Annotated[str | None, typer.Option(help="Held-out test scenes: NAME,NAME, globs.")] = None,
    block: Annotated[
        int | None, typer.Option(help="Split block side in tiles [8, smaller if 8 leaves val empty].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the degradation.")] = 0,
    bands: Annotated[str | None, typer.Option(help="Bands, e.g. 1,2,3 (default: non-alpha).")] = None,
    nodata_value: Annotated[str, typer.Option(help="Fill value of unmasked rasters ('none': off).")] = "0",
    blur_sigma: Annotated[str, typer.Option(help="--degrade: blur sigma range, HR px.")] = "1.6,2.4",
    noise_sigma: Annotated[float, typer.Option(help="--degrade: Gaussian noise sigma in DN.")] = 1.0,
    jpeg_quality: Annotated[int | None, typer.Option(help="--degrade: JPEG round trip quality.")] = None,
    kernel: Annotated[str, typer.Option(help="--degrade: downsampling: area, bicubic or bilinear.")] = "area",
    hr_gsd: Annotated[float | None, typer.Option(help="--degrade: HR ground pixel (m) to read at.")] = None,
    luminance: Annotated[
        bool, typer.Option("--luminance", help="RGB in, 1-band Rec. 601 luma tiles out (pan training).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset.")] = False,
) -> None:
    """Tile paired satellite (LR) and aerial (HR) GeoTIFFs into a training set (--degrade: aerial only).

    Pairs are aligned by georeference, tiles kept where both are valid and co-registered, split by space.
    """
    from pathlib import Path

    from satsr.degrade import Degradation
    from satsr.pairs import FillRule
    from satsr.prepare import PrepareConfig
    from satsr.prepare import prepare as run_prepare

    sigma = parse_floats(blur_sigma, "--blur-sigma", 2)
    fill = None if nodata_value.lower() == "none" else parse_floats(nodata_value, "--nodata-value", 1)[0]
    band_list = parse_int_list(bands, "--bands")
    config = PrepareConfig(
        tile=tile, stride=stride, valid_fraction=valid_fraction, min_std=min_std, max_shift=max_shift,
        val=val, test=test, block=block, seed=seed, bands=tuple(band_list) if band_list else None,
        test_scenes=tuple(n.strip() for n in (test_scenes or "").split(",") if n.strip()),
        fill=FillRule(value=fill), scale=scale, luminance=luminance, hr_gsd=hr_gsd,
    )  # fmt: skip
    degradation = Degradation(*sigma, noise_sigma, jpeg_quality, scale, kernel) if degrade else None
    with views.rich_progress() as report:
        result = run_prepare([Path(r) for r in rasters], Path(output), config, degradation, overwrite, report)
    views.render_prepare(result)


@app.command()
def train(
    datasets: Annotated[list[str], typer.Argument(help="Prepared dataset directories (mixed when several).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Run directory: checkpoint, logs, weights.")],
    config: Annotated[str | None, typer.Option(help="TOML file overriding TrainConfig fields.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="NAME=VALUE", help="Any config field, over --config (repeatable)."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Total steps, pretraining included.")] = None,
    pretrain_steps: Annotated[int | None, typer.Option(help="Pixel-loss steps before the GAN phase.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Crops per step per process [16].")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    precision: Annotated[str | None, typer.Option(help="auto (bf16 where native), fp32 or bf16.")] = None,
    workers: Annotated[int | None, typer.Option(help="DataLoader worker processes [0].")] = None,
    init: Annotated[str | None, typer.Option(help="Start G from weights: gan, psnr, FILE, RUN_DIR.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from RUN_DIR/checkpoint.pt.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the outputs of an existing run.")] = False,
) -> None:
    """Train a 4x generator: pixel-loss pretraining, then the adversarial phase."""
    from pathlib import Path

    from satsr.config import parse_assignments, resolve, saved_config
    from satsr.train import run_training

    flags = {"steps": steps, "pretrain_steps": pretrain_steps, "batch_size": batch_size, "device": device,
             "precision": precision, "num_workers": workers, "init_weights": init}  # fmt: skip
    if config is not None:
        from satsr.outputs import refuse_inputs

        refuse_inputs([Path(output)], [Path(config)], "run directory")
    base = saved_config(Path(output)) if resume else None
    given = {name: value for name, value in flags.items() if value is not None}
    cfg = resolve(config, parse_assignments(set_ or []) | given, base)
    command = " ".join(["satsr", *sys.argv[1:]])

    with views.rich_progress() as report:
        result = run_training(datasets, output, cfg, resume=resume, overwrite=overwrite, progress=report,
                              on_metrics=views.log_training_row, command=command)  # fmt: skip
    views.console.print(f"{result.run_dir}: {result.step} steps, best val PSNR {result.best_psnr:.2f} dB "
                  f"(best.safetensors, psnr.safetensors, final.safetensors)")  # fmt: skip


@app.command()
def evaluate(
    model: Annotated[str | None, typer.Argument(help="Weights file, gan, psnr, pan or run dir.")] = None,
    dataset: Annotated[str | None, typer.Argument(help="Prepared dataset directory (satsr prepare).")] = None,
    split: Annotated[str, typer.Option(help="Dataset split to score.")] = "test",
    metrics: Annotated[
        str | None, typer.Option(help="From psnr,mse,ssim,mae,lr_psnr,sharpness [all], realism.")
    ] = None,
    sr: Annotated[str | None, typer.Option("--sr", help="An upscaled raster to score (no MODEL).")] = None,
    hr: Annotated[str | None, typer.Option("--hr", help="Reference HR raster.")] = None,
    lr: Annotated[str | None, typer.Option("--lr", help="LR raster: model input / LR-consistency.")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write every number and setting ('-': stdout).")
    ] = None,
    figure: Annotated[str | None, typer.Option("--figure", help="PNG: LR|bicubic|lanczos|SR|HR.")] = None,
    shave: Annotated[int, typer.Option(help="HR px ignored at each tile edge (dataset) or scene edge.")] = 4,
    batch: Annotated[int, typer.Option(help="Tiles per generator batch.")] = 8,
    data_range: Annotated[
        float | None, typer.Option(help="PSNR/SSIM peak [255 for uint8, else the normalisation's range].")
    ] = None,
    precision: Annotated[str, typer.Option(help="Model precision: auto (bf16 where native), fp32, bf16.")] = (
        "auto"
    ),
    softness: Annotated[
        float | None, typer.Option(help="Conditioned models: input blur, HR px (default: estimated).")
    ] = None,
    self_ensemble: Annotated[
        bool, typer.Option("--self-ensemble", help="Average the model over 8 flips/rotations (8x slower).")
    ] = False,
    human_test: Annotated[
        str | None, typer.Option("--human-test", help="Write an A/B test page for people: DIR/index.html.")
    ] = None,
    human_results: Annotated[
        list[str] | None,
        typer.Option("--human-results", help="Score saved answers (repeat; dirs, globs).", metavar="PATH"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing --json/--figure/--human-test.")] = False,
) -> None:
    """Score a model (on a dataset split or a raster pair) or an upscaled raster beside bicubic/lanczos."""
    from pathlib import Path

    from satsr.human_test import HumanTestOptions
    from satsr.metrics import parse_metrics
    from satsr.report import DEFAULTS, EvaluateOptions, check_outputs, figure_indexes

    if human_results:
        if model or dataset or sr or hr or lr or figure or human_test:
            raise UsageError("--human-results scores answers files: give no MODEL, DATASET or raster")
        return _score_human(human_results, json_out, overwrite)
    if shave < 0 or batch < 1:
        raise UsageError("--shave must be >= 0 and --batch >= 1")
    if self_ensemble and sr is not None:
        raise UsageError("--self-ensemble runs a MODEL 8 times: drop it when scoring an --sr raster")
    if human_test and sr is not None and lr is None:
        raise UsageError("--human-test shows lanczos as the control: give the --lr the SR was made from")
    human = HumanTestOptions() if human_test else None  # the page's crops are the figure's, more of them
    options = EvaluateOptions(metrics=parse_metrics(metrics), split=split, shave=shave, batch=batch,
                              data_range=data_range, precision=precision, softness=softness,
                              self_ensemble=self_ensemble,
                              figure_tiles=human.pairs if human else DEFAULTS.figure_tiles)  # fmt: skip
    to_stdout = json_out == "-"  # `--json -`: the JSON on stdout, the table on stderr
    outputs = [Path(p) if p and p != "-" else None for p in (json_out, figure, human_test)]
    check_outputs(outputs[:2], overwrite, _evaluate_inputs(model, dataset, sr, lr, hr), folders=outputs[2:])
    quiet_libtiff()
    with views.rich_progress() as report_progress:
        report = _run_evaluation(model, dataset, sr, lr, hr, options, report_progress)
    views.render_evaluation(report, stderr=to_stdout)
    if to_stdout:
        from satsr.report import report_json

        sys.stdout.write(report_json(report) + "\n")
    if outputs[0] is not None:
        from satsr.report import write_json

        write_json(outputs[0], report, overwrite)
    if outputs[1] is not None:
        from satsr.figures import save_figure

        shown = [report.crops[i] for i in sorted(figure_indexes(len(report.crops), DEFAULTS.figure_tiles))]
        save_figure(outputs[1], shown, report.display_norm, "SR" if sr else "model", overwrite)
    if outputs[2] is not None and human is not None:
        from satsr.human_test import write_page

        about = {k: report.settings.get(k) for k in ("dataset", "split", "sr", "hr", "lr")}
        about["model"] = report.settings.get("model", {}).get("path")
        page = write_page(outputs[2], report.crops, report.display_norm, about, human, overwrite)
        views.render_human_page(page)


def _score_human(paths: list[str], json_out: str | None, overwrite: bool) -> None:
    """--human-results: pool answers files, show per method how often it was taken for the real photo."""
    from pathlib import Path

    from satsr.human_test import score_answers, write_results_json
    from satsr.outputs import refuse_inputs

    if json_out is not None:  # answers given as folders or globs are caught too: they are folders or files
        refuse_inputs([Path(json_out)], [Path(p) for p in paths], "report")
    results = score_answers(paths)
    views.render_human_results(results)
    if json_out is not None:
        write_results_json(json_out, results, overwrite)


def _evaluate_inputs(model: str | None, dataset: str | None, *rasters: str | None) -> list:
    """Every file evaluate reads (the weights a MODEL resolves to included): no report may replace one."""
    from pathlib import Path

    from satsr.sources import as_source

    inputs = [p for p in (as_source(r) if r else None for r in (dataset, *rasters)) if not isinstance(p, str)]
    if model is not None:
        from satsr.weights import resolve_weights

        inputs.append(resolve_weights(model))
    if dataset is not None:
        inputs += [p for p in (Path(dataset) / "scenes").glob("*.npy")] + [Path(dataset) / "manifest.json"]
    return inputs


def _run_evaluation(
    model: str | None, dataset: str | None, sr: str | None, lr: str | None, hr: str | None,
    options: EvaluateOptions, progress: Progress,
) -> EvaluationReport:  # fmt: skip
    """Pick the mode from the arguments given: dataset, model on a raster pair, or raster vs raster."""
    if sr is not None:
        if model is not None or dataset is not None:
            raise UsageError("--sr scores an existing raster: give no MODEL or DATASET with it")
        if hr is None and lr is None:
            raise UsageError("--sr needs --hr (reference) and/or --lr (for LR-consistency)")
        from satsr.evaluate_raster import evaluate_rasters

        return evaluate_rasters(sr, hr, lr, options, progress)
    if model is None:
        raise UsageError("give MODEL DATASET, MODEL --lr LR.tif --hr HR.tif, or --sr SR.tif --hr HR.tif")
    if lr is not None or hr is not None:
        if dataset is not None or lr is None or hr is None:
            raise UsageError("MODEL on rasters needs both --lr and --hr and no DATASET")
        from satsr.evaluate_raster import evaluate_model_on_pair

        return evaluate_model_on_pair(model, lr, hr, options, progress)
    if dataset is None:
        raise UsageError("MODEL needs a DATASET (or --lr LR.tif --hr HR.tif)")
    from satsr.evaluate import evaluate_dataset

    return evaluate_dataset(model, dataset, options, progress)


app.command()(upscale)


@app.command()
def info(
    weights: Annotated[str, typer.Argument(help="gan, psnr, pan, a weights file or run dir.")] = "gan",
) -> None:
    """Show what a weights file expects and how it was made: bands, normalisation, training, scores."""
    from satsr.weights import load_weights

    views.render_weights(load_weights(weights))


def main() -> None:
    """Entry point: every SatsrError, usage error, OS error and signal becomes one line on stderr and a
    non-zero exit (2 for usage errors, 128 + N for signal N), never a traceback."""
    # typer may vendor click: its exception classes are found through the ones typer exports
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    handle_signals()
    try:
        code = app(standalone_mode=False)  # click errors and signals reach this function, not typer's exit
    except SatsrError as exc:
        _fail(str(exc), exc.exit_code)
    except click_error as exc:
        names = {c.__name__ for c in type(exc).__mro__}
        if "UsageError" not in names or "NoArgsIsHelpError" in names:
            exc.show()  # e.g. `satsr` alone prints the help
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "satsr"
        _fail(f"{exc.format_message().rstrip('.')}; see `{command} --help`", 2)
    except (Interrupted, KeyboardInterrupt, typer.Abort) as exc:
        name = str(exc) if isinstance(exc, Interrupted) else "SIGINT"
        views.alerts.print(f"[bold red]interrupted[/] ({name}): nothing was left under a final output name")
        sys.exit(exc.exit_code if isinstance(exc, Interrupted) else 130)
    except MemoryError:
        _fail("out of memory; lower --tile or --batch-size, or use a machine with more memory", 1)
    except OSError as exc:  # outside satsr's write/read mapping: still one line, with the file and cause
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    views.alerts.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
