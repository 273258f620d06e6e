"""How the CLI shows things: rich progress bars, log lines and result tables (stderr for progress)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)  # fmt: skip
from rich.table import Table

if TYPE_CHECKING:
    from satsr.human_test import HumanPage, HumanResults
    from satsr.prepare import PrepareResult
    from satsr.report import EvaluationReport
    from satsr.weights import LoadedWeights

console = Console(stderr=True, log_path=False)  # progress, log and result lines (silenced by -q)
alerts = Console(stderr=True)  # warnings and errors: shown whatever the verbosity


def set_verbosity(level: int) -> None:
    """-1 (-q): no progress or result lines; 0: default; 1 (-v): satsr and rasterio info logs; 2 (-vv):
    debug logs, GDAL's own debug messages included."""
    import logging

    console.quiet = level < 0
    if level > 0:
        from rich.logging import RichHandler

        handler = RichHandler(console=alerts, show_path=False)
        logging.basicConfig(level=logging.INFO if level == 1 else logging.DEBUG, handlers=[handler])
    if level > 1:
        import os

        os.environ["CPL_DEBUG"] = "ON"


def warn(line: str) -> None:
    """One warning line on stderr."""
    alerts.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


TRAIN_LOG_KEYS = ("loss_pixel", "loss_adv", "loss_fm", "loss_d", "d_real", "d_fake", "d_acc", "step_ms",
                  "val_psnr", "val_psnr_bicubic", "g_spread")  # fmt: skip


@contextmanager
def rich_progress() -> Iterator:
    """A progress callback `report(task, completed, total)` drawn as rich bars on stderr: one bar per stage
    ("STAGE: ITEM" tasks share their stage's bar, which names the item)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False, disable=console.quiet) as bars:
        ids: dict[str, TaskID] = {}

        def report(task: str, completed: int, total: int) -> None:
            stage = task.split(": ", 1)[0]
            if stage not in ids:
                ids[stage] = bars.add_task(escape(task), total=total)
            bars.update(ids[stage], completed=completed, total=total, description=escape(task))

        yield report


@contextmanager
def upscale_progress() -> Iterator:
    """One bar over all scenes: the scene running (k/n, and its finishing stage), tiles done, output MP/s
    so far, time left."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tiles"),
               TextColumn("{task.fields[mps]:.2f} MP/s"), TimeRemainingColumn())  # fmt: skip
    start = time.perf_counter()
    with Progress(*columns, console=console, disable=console.quiet) as bars:
        bar = bars.add_task("upscale", total=None, mps=0.0)

        def report(task: str, completed: int, total: int) -> None:
            if task == "upscale tiles":
                bars.update(bar, completed=completed, total=total)
            elif task == "upscale output pixels":
                bars.update(bar, mps=completed / 1e6 / max(time.perf_counter() - start, 1e-9))
            elif task.startswith("upscale scene "):
                count = f" ({completed + 1}/{total})" if total > 1 else ""
                bars.update(bar, description=escape(task[len("upscale scene ") :]) + count)

        yield report


def log_training_row(row: dict[str, Any]) -> None:
    """One log line per training log/validation row."""
    text = " ".join(f"{k}={row[k]:.4g}" for k in TRAIN_LOG_KEYS if isinstance(row.get(k), float))
    console.log(f"step {row['step']} [{row['phase']}] {text}", highlight=False, markup=False)


def render_prepare(result: PrepareResult) -> None:
    """Tiles kept per split and dropped per reason, per scene; then the shift distribution."""
    table = Table(title=f"satsr prepare -> {result.output} ({result.seconds:.0f} s)")
    reasons = list(result.scenes[0].dropped) if result.scenes else []
    for column in ["scene", "kind", "candidates", "train", "val", "test", *(f"drop {r}" for r in reasons)]:
        table.add_column(column, justify="left" if column in ("scene", "kind") else "right")
    totals: dict[str, int] = {}
    for s in result.scenes:
        counts = {"candidates": s.candidates, **s.kept, **{f"drop {r}": n for r, n in s.dropped.items()}}
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        table.add_row(s.name, s.kind, *(str(v) for v in counts.values()))
    if len(result.scenes) > 1:
        table.add_row("total", "", *(str(v) for v in totals.values()), style="bold")
    console.print(table)
    shift = result.shift
    if shift.get("count"):
        console.print(f"LR->HR shift over {shift['count']} tiles (LR px): median {shift['median']:.2f}, "
                      f"p90 {shift['p90']:.2f}, max {shift['max']:.2f}", highlight=False)  # fmt: skip
    norm = result.normalisation
    console.print(f"normalisation ({norm.dtype}): low {norm.low} high {norm.high}", highlight=False)
    for note in result.notes:
        console.print(f"[bold yellow]note:[/] {note}", highlight=False)


def render_evaluation(report: EvaluationReport, stderr: bool = False) -> None:
    """The scores as a table on stdout (stderr when the JSON goes to stdout): SR beside each baseline, then
    the gain over each, titled by what was scored."""
    s = report.settings
    model = _mapping(s.get("model"))
    subject = str(model.get("path") or s.get("sr") or "?").rstrip("/").rsplit("/", 1)[-1]
    title = (f"satsr evaluate {subject} ({report.mode}): data range {s['data_range']:g}, "
             f"shave {s['shave_hr_px']} HR px")  # fmt: skip
    table = Table(title=title, caption=evaluation_caption(report))
    baselines = [b for b in ("bicubic", "lanczos") if b in report.scores]
    for name in ("metric", "SR", *baselines, *(f"Δ {b}" for b in baselines)):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for key, result in report.scores["sr"].items():
        arrow = "↑" if result.higher_is_better else "↓"
        gains = [f"{report.gain(b, key):+.3f}" for b in baselines]
        row = [report.scores[m][key].overall for m in ("sr", *baselines)]
        table.add_row(f"[bold]{result.label}[/] {arrow}", *(f"{v:.4g}" for v in row), *gains)
        for band in range(len(result.bands)):
            values = [report.scores[m][key].bands[band] for m in ("sr", *baselines)]
            table.add_row(f"  band {band + 1}", *(f"{v:.4g}" for v in values), *[""] * len(baselines),
                          style="dim")  # fmt: skip
        if "mean_tile_psnr" in result.extra:
            values = [report.scores[m][key].extra["mean_tile_psnr"] for m in ("sr", *baselines)]
            table.add_row("  mean tile PSNR", *(f"{v:.4g}" for v in values), *[""] * len(baselines),
                          style="dim")  # fmt: skip
            intervals = [report.psnr_gain_interval(b) for b in baselines]
            table.add_row("  gain, 95 %", *[""] * (1 + len(baselines)),
                          *(f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in intervals), style="dim")  # fmt: skip
        if key == "realism":
            realism_rows(table, [report.scores[m][key].extra for m in ("sr", *baselines)], len(baselines))
    Console(stderr=stderr).print(table)


def realism_rows(table: Table, extras: list[dict[str, float]], blanks: int) -> None:
    """Under the realism score (0.5: indistinguishable from HR): its 95 % interval, each direction of the
    halves (trained on one, tested on the other), the paired (A/B) accuracy, and the HR-vs-HR control
    (the same HR for every method, so shown once)."""

    def cell(e: dict[str, float], name: str) -> str:
        return f"{e[name]:.3f} [{e[name + '_low']:.3f}, {e[name + '_high']:.3f}]" if name in e else "n/a"

    rows = {"  95 % interval": [f"[{e['low']:.3f}, {e['high']:.3f}]" for e in extras],
            "  half 1 -> 2": [cell(e, "half1_to_half2") for e in extras],
            "  half 2 -> 1": [cell(e, "half2_to_half1") for e in extras],
            "  paired A/B": [f"{e['paired_accuracy']:.3f}" for e in extras]}  # fmt: skip
    for label, values in rows.items():
        table.add_row(label, *values, *[""] * blanks, style="dim")
    e = extras[0]
    table.add_row("  HR vs HR control", f"{e['hr_vs_hr_accuracy']:.3f} [{e['hr_vs_hr_low']:.3f}, "
                  f"{e['hr_vs_hr_high']:.3f}]", *[""] * (2 * blanks), style="dim")  # fmt: skip


def render_human_page(page: HumanPage) -> None:
    pairs = ", ".join(f"{n} {m} vs HR" for m, n in page.pairs.items())
    console.print(f"human test page: {page.path} ({pairs}; test {page.test_id}). Open it in a browser; "
                  "each person saves a JSON file, scored with --human-results.", highlight=False)  # fmt: skip


def render_human_results(results: HumanResults) -> None:
    """Per method: how often it was taken for the real aerial photograph (50 %: as often as the photo)."""
    table = Table(title=f"satsr human A/B test {results.test_id}: {len(results.files)} answers file(s)",
                  caption="taken for real: share of pairs in which the method's crop was picked as the "
                          "aerial photograph; 95 % Wilson interval; 50 % = indistinguishable")  # fmt: skip
    for name in ("method", "answers", "taken for real", "95 % interval"):
        table.add_column(name, justify="left" if name == "method" else "right")
    for s in results.scores.values():
        low, high = s.interval
        rate = f"{s.taken_for_real} ({s.rate:.1%})"
        table.add_row(s.method, str(s.answers), rate, f"[{low:.1%}, {high:.1%}]")
    Console().print(table)


def evaluation_caption(report: EvaluationReport) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    precision = f"; model in {report.settings['precision']}" if "precision" in report.settings else ""
    return (
        f"{counts}; {report.seconds:.1f} s{precision}. Δ = SR minus baseline. PSNR from the MSE pooled over "
        "all scored pixels; gain, 95 %: paired bootstrap over places; LR PSNR: SR area-averaged onto the LR "
        "grid vs LR; sharpness: HF energy SR/HR."
    )


def render_weights(loaded: LoadedWeights) -> None:
    """What a model expects (bands, dtype, normalisation) and where it came from, as a table on stdout."""
    from satsr.gsd import describe_gsd, weights_lr_gsd

    meta, norm = loaded.meta, loaded.normalisation
    training, val = _mapping(meta.training), _mapping(meta.val)  # provenance may be absent
    datasets = [f"{_dataset_name(d.get('path'))} "
                f"({', '.join(f'{n} {k}' for k, n in _mapping(d.get('tiles')).items())} tiles)"
                for d in meta.datasets or [] if isinstance(d, dict)]  # fmt: skip
    lr_gsd = weights_lr_gsd(loaded.metadata)
    stated = " (not stored in the file: satsr's default for older weights)" if meta.lr_gsd_m is None else ""
    radius = loaded.generator.receptive_radius
    rows = {
        "file": str(loaded.path),
        "architecture": f"{meta.architecture}: {meta.spec.describe()}, x{meta.scale}, receptive radius "
                        f"{radius} LR px",
        "input": f"{meta.bands} bands of {norm.dtype}",
        "ground sample distance": f"{describe_gsd(lr_gsd)} in, {describe_gsd(lr_gsd, meta.scale)} out"
                                  f"{stated}",
        "normalisation": f"(value - low) / (high - low); low {list(norm.low)}, high {list(norm.high)}",
        "trained with": training.get("command") or "unknown",
        "stopped at": f"step {_known(meta.step)} ({_known(meta.phase)} phase)",
        "validation": ", ".join(f"{k} {v:.4g}" for k, v in val.items() if isinstance(v, float)),
        "datasets": "; ".join(datasets) or "unknown",
        "satsr version": meta.satsr_version,
    }  # fmt: skip
    from satsr.radiometry import SceneStretch

    stretch = SceneStretch.from_metadata(loaded.metadata)
    if stretch is not None:  # after "normalisation"
        p, t = stretch.percentiles, stretch.targets
        rows = {**dict(list(rows.items())[:5]),
                "other dtypes": f"stretched per scene: its {p[0]:g}-{p[1]:g} % range of valid pixels -> "
                                f"{t[0]:g}-{t[1]:g} {norm.dtype}, inverted on output (same units out)",
                **dict(list(rows.items())[5:])}  # fmt: skip
    table = Table(title="satsr weights", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, value)
    Console().print(table)


def _dataset_name(path: Any) -> str:
    """Older weights store absolute dataset paths: show only the dataset folder's name."""
    text = str(path) if path else "?"
    return text.rstrip("/").rsplit("/", 1)[-1] if text.startswith("/") else text


def _known(value: Any) -> Any:
    return "?" if value is None else value


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
