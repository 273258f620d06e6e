"""Fault injection: bad inputs, full disks, read-only folders, corrupt files and signals.

Every case runs the real CLI entry point (`satsr.cli.main`) and checks the promise: the exit code (1, or
2 for usage errors), exactly one `error:` line and no traceback, nothing left behind (no output, no
temporary, no run folder) and every input unchanged by checksum.

Tests run as root in CI, and chmod does not stop root: read-only folders and full disks are a real
read-only or tiny tmpfs where this process may mount one (skipped otherwise), and a monkeypatched write
raising EROFS/ENOSPC everywhere (always run).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from satsr import SCALE
from satsr.cli import main
from satsr.models import Generator, GeneratorSpec
from satsr.normalise import Normalisation
from satsr.outputs import TEMP_MARK, refuse_inputs, stale_temporaries, temp_path
from satsr.split import SplitSpec, TilePosition, split_with_blocks
from satsr.weights import save_weights
from tests.conftest import smooth_image


@pytest.fixture(autouse=True)
def _restore_signals() -> Iterator[None]:
    """main() installs SIGINT/SIGTERM handlers: give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """cli(*args) -> (exit code, stderr) of `satsr ARGS` through main(), in this process."""

    def run(*args: object) -> tuple[int, str]:
        capsys.readouterr()  # what fixtures printed is not this command's
        monkeypatch.setattr(sys, "argv", ["satsr", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 0), capsys.readouterr().err

    return run


RAW = re.compile(r"^(_?tiff|TIFF|ERROR \d|Warning|Traceback|\s+File \")")  # library output, not satsr's


def one_error_line(stderr: str) -> str:
    """The single error line (progress bars and training log rows are not errors; raw library lines are
    not allowed)."""
    lines = stderr.splitlines()
    assert not [ln for ln in lines if RAW.match(ln)], stderr
    errors = [ln for ln in lines if ln.startswith(("error:", "interrupted", "failed:"))]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture
def world(tmp_path: Path, make_raster: Callable[..., Path]) -> dict[str, Path]:
    """Tiny inputs of every kind: an LR/HR pair, an aerial scene, weights, a prepared dataset, a config."""
    gen = np.random.default_rng(0)
    hr = smooth_image(gen, 3, 512, 512)
    lr = hr.reshape(3, 128, SCALE, 128, SCALE).mean(axis=(2, 4)).astype(np.uint8)
    paths = {
        "lr": make_raster("scene_satellite.tif", lr, res=0.3),
        "hr": make_raster("scene_aerial.tif", hr, res=0.075),
        "far": make_raster("far_aerial.tif", hr, res=0.075, origin=(600_000.0, 4_000_000.0)),
    }
    weights = tmp_path / "w.safetensors"
    save_weights(weights, Generator(GeneratorSpec(3, 8, 1)), Normalisation.for_dtype("uint8", 3), {"n": 1})
    paths["weights"] = weights
    code = main_quiet(["prepare", paths["lr"], paths["hr"], "-o", tmp_path / "ds", "--tile", "16"])
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert code == 0 and {t["split"] for t in manifest["tiles"]} == {"train", "val", "test"}
    paths["ds"] = tmp_path / "ds"
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        "[train]\nhr_crop = 32\nfeatures = 8\nblocks = 1\nd_features = 8\nbatch_size = 2\n"
        "steps = 2\npretrain_steps = 1\nval_every = 1\ncheckpoint_every = 1\nsample_tiles = 0\n"
    )
    paths["toml"] = toml
    return paths


def main_quiet(args: list[object]) -> int:
    saved = sys.argv
    sys.argv = ["satsr", *map(str, args)]
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.argv = saved
    return 0


def check_case(
    cli: Callable[..., tuple[int, str]], root: Path, args: list[object], code: int, match: str
) -> str:
    """Run one case; assert exit code, one line matching `match`, nothing new left, inputs unchanged."""
    before, names = checksums(root), tree(root)
    got, stderr = cli(*args)
    line = one_error_line(stderr)
    assert got == code, stderr
    assert match in line, line
    assert tree(root) == names, f"left behind: {tree(root) - names}"
    assert checksums(root) == before
    return line


# --- no command writes over one of its inputs -------------------------------------------------------------


def test_prepare_refuses_to_replace_its_input(cli, world, tmp_path) -> None:
    check_case(
        cli,
        tmp_path,
        ["prepare", "--degrade", world["hr"], "-o", world["hr"], "--overwrite"],
        2,
        "is an input of the command",
    )
    check_case(
        cli,
        tmp_path,
        ["prepare", "--degrade", world["hr"], "-o", tmp_path, "--overwrite"],
        2,
        "holds an input",
    )


def test_evaluate_refuses_a_report_over_an_input(cli, world, tmp_path) -> None:
    sr = world["hr"]
    check_case(
        cli, tmp_path, ["evaluate", "--sr", sr, "--hr", sr, "--json", sr, "--overwrite"], 2, "is an input"
    )
    check_case(
        cli,
        tmp_path,
        ["evaluate", world["weights"], world["ds"], "--json", world["ds"] / "manifest.json", "--overwrite"],
        2,
        "is an input",
    )
    check_case(
        cli,
        tmp_path,
        ["evaluate", world["weights"], world["ds"], "--figure", world["weights"], "--overwrite"],
        2,
        "is an input",
    )


def test_upscale_and_train_refuse_outputs_that_are_inputs(cli, world, tmp_path) -> None:
    first = world["lr"].with_name("a.tif")
    first.write_bytes(world["lr"].read_bytes())
    second = first.with_name("a_x4.tif")  # the output of the first scene
    second.write_bytes(world["lr"].read_bytes())
    check_case(
        cli,
        tmp_path,
        ["upscale", first, second, "--weights", world["weights"], "--overwrite"],
        2,
        "is an input",
    )
    check_case(cli, tmp_path, ["train", world["ds"], "-o", world["ds"], "--overwrite"], 2, "is an input")
    check_case(
        cli,
        tmp_path,
        ["train", world["ds"], "-o", tmp_path, "--config", world["toml"], "--overwrite"],
        2,
        "holds an input",
    )


def test_prepare_overwrite_replaces_only_datasets(cli, world, tmp_path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    check_case(
        cli,
        tmp_path,
        ["prepare", world["lr"], world["hr"], "-o", other, "--overwrite"],
        1,
        "is not a satsr dataset",
    )


def test_refuse_inputs_unit(tmp_path: Path) -> None:
    refuse_inputs([tmp_path / "out.json"], [tmp_path / "in.tif", None])
    with pytest.raises(Exception, match="given for two outputs"):
        refuse_inputs([tmp_path / "a.png", tmp_path / "x" / ".." / "a.png"], [])


# --- malformed weights ---------------------------------------------------------------------------------


def _rewrite(
    weights: Path, out: Path, edit: Callable[[dict], object], tensors: Callable | None = None
) -> Path:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        meta = json.loads(f.metadata()["satsr"])
    data = load_file(str(weights))
    save_file(tensors(data) if tensors else data, str(out), metadata={"satsr": json.dumps(edit(meta))})
    return out


def _without(key: str) -> Callable[[dict], dict]:
    return lambda m: {k: v for k, v in m.items() if k != key}


def _arch(**kw: object) -> Callable[[dict], dict]:
    return lambda m: {**m, "architecture": {**m["architecture"], **kw}}


WEIGHT_CASES = {
    "no architecture": (_without("architecture"), None, "'architecture' missing"),
    "no normalisation": (_without("normalisation"), None, "'normalisation' missing"),
    "metadata is a list": (lambda m: [1, 2], None, "a JSON list"),
    "scale 3": (_arch(scale=3), None, "declares scale 3"),
    "scale 2, x4 tensors": (_arch(scale=2), None, "do not match the declared architecture"),
    "2-band normalisation": (
        lambda m: {**m, "normalisation": {"dtype": "uint8", "low": [0, 0], "high": [1, 2]}},
        None,
        "normalisation for 2/2 bands",
    ),
    "tensor shapes": (_arch(features=16), None, "has shape (8, 3, 3, 3)"),
    "huge architecture": (_arch(features=10**9), None, "features is 1000000000"),
    "NaN tensors": (lambda m: m, lambda t: {**t, "head.weight": t["head.weight"] * float("nan")}, "NaN"),
}


@pytest.mark.parametrize("case", list(WEIGHT_CASES))
def test_malformed_weights_give_one_line(cli, world, tmp_path, case: str) -> None:
    edit, tensors, match = WEIGHT_CASES[case]
    bad = _rewrite(world["weights"], tmp_path / "bad.safetensors", edit, tensors)
    check_case(cli, tmp_path, ["info", bad], 1, match)
    check_case(cli, tmp_path, ["upscale", world["lr"], "-o", tmp_path / "o.tif", "--weights", bad], 1, match)


# --- bad option values: usage errors, exit 2, before anything is created ---------------------------------


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--block", "0"], "--block 0"),
        (["--val", "nan"], "--val nan"),
        (["--seed", "-1"], "--seed -1"),
        (["--min-std", "inf"], "--min-std inf"),
        (["--tile", "abc"], "Invalid value for '--tile'"),
        (["--nodata-value", "nan"], "--nodata-value nan"),
    ],
)
def test_prepare_usage_errors(cli, world, tmp_path, extra: list[str], match: str) -> None:
    check_case(cli, tmp_path, ["prepare", world["lr"], world["hr"], "-o", tmp_path / "new", *extra], 2, match)


@pytest.mark.parametrize("setting", ["lr_g = -1e-4", "lr_pretrain = nan", "beta1 = 1.5", "seed = -3"])
def test_train_config_out_of_range_creates_nothing(cli, world, tmp_path, setting: str) -> None:
    world["toml"].write_text(world["toml"].read_text() + setting + "\n")
    check_case(
        cli,
        tmp_path,
        ["train", world["ds"], "-o", tmp_path / "run", "--config", world["toml"]],
        2,
        setting.split()[0],
    )


# --- corrupt datasets and checkpoints --------------------------------------------------------------------


def _corrupt_manifest(ds: Path) -> None:
    (ds / "manifest.json").write_text('{"scale": 4, "tiles": [')


def _missing_npy(ds: Path) -> None:
    next((ds / "scenes").glob("*_hr.npy")).unlink()


def _truncated_npy(ds: Path) -> None:
    path = next((ds / "scenes").glob("*_lr.npy"))
    path.write_bytes(path.read_bytes()[:200])


def _wrong_shape(ds: Path) -> None:
    path = next((ds / "scenes").glob("*_lr.npy"))
    np.save(path, np.zeros((1, 3, 5, 5), np.uint8))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_corrupt_manifest, "corrupt manifest"),
        (_missing_npy, "missing from the dataset"),
        (_truncated_npy, "truncated or corrupt"),
        (_wrong_shape, "but the manifest declares"),
    ],
)
def test_damaged_dataset(cli, world, tmp_path, damage: Callable[[Path], None], match: str) -> None:
    damage(world["ds"])
    check_case(
        cli, tmp_path, ["train", world["ds"], "-o", tmp_path / "run", "--config", world["toml"]], 1, match
    )
    check_case(cli, tmp_path, ["evaluate", world["weights"], world["ds"], "--split", "val"], 1, match)


def test_pickled_checkpoint_is_refused_in_one_line(cli, world, tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(world["toml"].read_text())
    torch.save({"format": 1, "evil": Path("x")}, run / "checkpoint.pt")
    check_case(cli, tmp_path, ["train", world["ds"], "-o", run, "--resume"], 1, "pickled Python objects")


# --- corrupt rasters, pairs that do not meet -------------------------------------------------------------


def test_truncated_geotiff_names_the_cause(cli, world, tmp_path, make_raster) -> None:
    big = make_raster("big.tif", np.random.default_rng(1).integers(0, 255, (3, 300, 300), dtype=np.uint8))
    big.write_bytes(big.read_bytes()[:60_000])
    line = check_case(
        cli, tmp_path, ["upscale", big, "--weights", world["weights"]], 1, "truncated or corrupt"
    )
    assert "previous exception" not in line and "expected" in line


def test_evaluate_pair_that_does_not_overlap(cli, world, tmp_path) -> None:
    check_case(
        cli,
        tmp_path,
        ["evaluate", world["weights"], "--lr", world["lr"], "--hr", world["far"]],
        1,
        "does not overlap",
    )


# --- where outputs cannot be written ---------------------------------------------------------------------


def test_output_parent_is_a_file(cli, world, tmp_path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for args in (
        ["prepare", world["lr"], world["hr"], "-o", blocker / "ds"],
        ["upscale", world["lr"], "-o", blocker / "o.tif", "--weights", world["weights"]],
        ["evaluate", "--sr", world["hr"], "--hr", world["hr"], "--json", blocker / "r.json"],
    ):
        check_case(cli, tmp_path, args, 1, "is a file, not a folder")


def _fail_writes(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Every Python-level write of satsr fails with `code` (dataset tiles, JSON, configs, checkpoints)."""

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    for name in ("write_text", "write_bytes"):
        monkeypatch.setattr(Path, name, fail)
    monkeypatch.setattr("satsr.tilestack.SceneStack.append", fail)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_failed_writes_monkeypatched(cli, world, tmp_path, monkeypatch, code: int) -> None:
    cause = os.strerror(code).lower()
    out = tmp_path / "out"
    out.mkdir()
    _fail_writes(monkeypatch, code)
    cases = [
        ["prepare", world["lr"], world["hr"], "-o", out / "ds", "--tile", "16"],
        ["train", world["ds"], "-o", out / "run", "--config", world["toml"]],
        ["evaluate", "--sr", world["hr"], "--hr", world["hr"], "--json", out / "r.json"],
    ]
    for args in cases:
        line = check_case(cli, tmp_path, args, 1, "cannot write")
        assert cause in line, line


def _mount(tmp_path: Path, options: str) -> Path:
    target = tmp_path / f"mnt_{options.replace(',', '_').replace('=', '')}"
    target.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
    ).returncode:
        pytest.skip(
            "cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN); the monkeypatched test covers it"
        )
    return target


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        mounted.append(_mount(tmp_path, options))
        return mounted[-1]

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)  # lazy: GDAL may hold a handle


def test_real_full_disk_and_read_only_folder(cli, world, tmp_path, tmpfs) -> None:
    full, read_only = tmpfs("size=64k"), tmpfs("ro,size=64k")
    for folder, cause in ((full, "no space left on device"), (read_only, "read-only file system")):
        for args in (
            ["upscale", world["lr"], "-o", folder / "o.tif", "--weights", world["weights"]],
            ["prepare", world["lr"], world["hr"], "-o", folder / "ds", "--tile", "16"],
            ["train", world["ds"], "-o", folder / "run", "--config", world["toml"]],
        ):
            line = check_case(cli, tmp_path, args, 1, "cannot write")
            assert cause in line and str(folder) in line and "previous exception" not in line, line


# --- temporaries and signals -----------------------------------------------------------------------------


def test_stale_temporaries_of_dead_processes_are_removed(cli, world, tmp_path) -> None:
    out = tmp_path / "o.tif"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = temp_path(out).with_name(temp_path(out).name.replace(f"-{os.getpid()}.", f"-{dead.pid}."))
    stale.write_bytes(b"half")
    legacy = tmp_path / f".o.tif.{dead.pid}.tmp"
    legacy.write_bytes(b"half")
    alive = tmp_path / f".o.tif{TEMP_MARK}otherhost-{dead.pid}.tmp"  # another host's: maybe still running
    alive.write_bytes(b"busy")
    assert set(stale_temporaries(out)) == {stale, legacy}
    assert main_quiet(["upscale", world["lr"], "-o", out, "--weights", world["weights"]]) == 0
    assert out.is_file() and not stale.exists() and not legacy.exists() and alive.exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_unwinds_and_says_so(tmp_path: Path, make_raster, sig: int, code: int) -> None:
    aerial = make_raster("big_aerial.tif", smooth_image(np.random.default_rng(2), 3, 1536, 1536), res=0.075)
    out = tmp_path / "ds"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "satsr",
        "prepare",
        "--degrade",
        str(aerial),
        "-o",
        str(out),
        "--tile",
        "16",
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not any(TEMP_MARK in p.name for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert one_error_line(stderr).startswith(f"interrupted ({signal.Signals(sig).name})")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]


# --- defaults that work together -------------------------------------------------------------------------


def test_auto_block_gives_few_tiles_a_val_split() -> None:
    tiles = [
        TilePosition("s", c * 16, r * 16) for r in range(8) for c in range(16)
    ]  # 128 tiles, 2 blocks of 8
    spec = SplitSpec(val=0.1, test=0.1, block=8, seed=0)
    fixed, side = split_with_blocks(tiles, spec, 16, 16, set(), auto=False)
    assert side == 8 and "val" not in fixed  # what the default did before: no val at all
    splits, side = split_with_blocks(tiles, spec, 16, 16, set(), auto=True)
    assert side < 8 and "val" in splits and "test" in splits
