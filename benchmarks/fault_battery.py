"""Fault battery: bad inputs, corrupt files, full disks, read-only folders and signals over all commands.

Every case runs `python -m satsr ...` in a fresh process, in its own copy of a small world of inputs (an
LR/HR pair, an aerial scene, tiny weights, a prepared dataset, a training config), and records:
exit code (against the expected one), one line? (exactly one `error:`/`interrupted` line on stderr),
traceback? (or raw GDAL/libtiff lines), leftovers? (any new file or folder: output, temporary, run
folder) and inputs intact? (every file of the world unchanged by SHA-256).

Full disks and read-only folders are real tmpfs mounts (64 KiB, or mounted read-only): this needs root
with CAP_SYS_ADMIN; elsewhere those cases are reported as skipped. chmod would not stop root.

    python benchmarks/fault_battery.py [--only SUBSTRING] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RAW = re.compile(r"^(_?tiff|TIFF|ERROR \d|Warning|Traceback|\s+File \")")
TEMP_MARK = ".satsr-"


@dataclass
class Case:
    name: str
    args: list[str]  # satsr arguments, paths relative to the case folder
    code: int  # expected exit code
    setup: Callable[[Path], None] | None = None  # damages or adds inputs in the case folder
    mount: str | None = None  # "full" or "ro": a tmpfs at ./mnt (needs root)
    signal: int | None = None  # sent once a satsr temporary (or `wait_for`) appears
    wait_for: str | None = None
    allowed: set[str] = field(default_factory=set)  # new paths that are the expected result


# --- the world -------------------------------------------------------------------------------------------


def write_tif(path: Path, data: np.ndarray, res: float, origin=(500_000.0, 4_000_000.0), crs="EPSG:32633"):
    import rasterio
    from affine import Affine

    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype,
        "crs": crs,
        "transform": Affine(res, 0, origin[0], 0, -res, origin[1]),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def smooth(rng: np.random.Generator, bands: int, side: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    img = np.stack([gaussian_filter(b, 3) for b in rng.random((bands, side, side))])
    return ((img - img.min()) / (np.ptp(img) + 1e-9) * 255).astype(np.uint8)


def build_world(root: Path) -> None:
    from satsr.models import Generator, GeneratorSpec
    from satsr.normalise import Normalisation
    from satsr.weights import save_weights

    rng = np.random.default_rng(0)
    hr = smooth(rng, 3, 512)
    lr = hr.reshape(3, 128, 4, 128, 4).mean(axis=(2, 4)).astype(np.uint8)
    write_tif(root / "lr.tif", lr, 0.3)
    write_tif(root / "hr.tif", hr, 0.075)
    write_tif(root / "far.tif", hr, 0.075, origin=(700_000.0, 4_000_000.0))
    write_tif(root / "coarse.tif", hr, 0.1)
    write_tif(root / "nocrs.tif", lr, 0.3, crs=None)
    write_tif(root / "u16.tif", lr.astype(np.uint16) * 16, 0.3)
    write_tif(root / "big.tif", smooth(rng, 3, 1024), 0.3)
    write_tif(root / "big_aerial.tif", smooth(rng, 3, 1536), 0.075)
    (root / "notes").mkdir()
    (root / "notes" / "keep.txt").write_text("mine")
    (root / "file.txt").write_text("a file, not a folder")
    (root / "fake.tif").write_text("not a raster")
    g = Generator(GeneratorSpec(3, 8, 1))
    save_weights(root / "w.safetensors", g, Normalisation.for_dtype("uint8", 3), {"note": "battery"})
    toml = (
        "[train]\nhr_crop = 32\nfeatures = 8\nblocks = 1\nd_features = 8\nbatch_size = 2\nsteps = 2\n"
        "pretrain_steps = 1\nval_every = 1\ncheckpoint_every = 1\nsample_tiles = 0\n"
    )
    (root / "tiny.toml").write_text(toml)
    (root / "long.toml").write_text(
        toml.replace("steps = 2\n", "steps = 100000\n")
        .replace("checkpoint_every = 1", "checkpoint_every = 100000")
        .replace("val_every = 1", "val_every = 100000")
    )
    sat(root, "prepare", "lr.tif", "hr.tif", "-o", "ds", "--tile", "16")
    sat(root, "upscale", "lr.tif", "-o", "sr.tif", "--weights", "w.safetensors")


def sat(cwd: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "satsr", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"building the world failed: satsr {' '.join(args)}\n{done.stderr}")


# --- damage ----------------------------------------------------------------------------------------------


def truncate(name: str, keep: int) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes((d / name).read_bytes()[:keep])


def write(name: str, text: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(text)


def append(name: str, text: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text((d / name).read_text() + text)


def weights_meta(edit: Callable[[dict], object], tensors: Callable | None = None) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        with safe_open(str(d / "w.safetensors"), framework="pt") as f:
            meta = json.loads(f.metadata()["satsr"])
        data = load_file(str(d / "w.safetensors"))
        data = tensors(data) if tensors else data
        save_file(data, str(d / "bad.safetensors"), metadata={"satsr": json.dumps(edit(meta))})

    return setup


def without(key: str) -> Callable[[dict], dict]:
    return lambda m: {k: v for k, v in m.items() if k != key}


def arch(**kw: object) -> Callable[[dict], dict]:
    return lambda m: {**m, "architecture": {**m["architecture"], **kw}}


def pickled_checkpoint(d: Path) -> None:
    import torch

    (d / "run").mkdir()
    shutil.copy(d / "tiny.toml", d / "run" / "config.toml")
    torch.save({"format": 1, "evil": Path("x")}, d / "run" / "checkpoint.pt")


def run_with(content: bytes) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / "run").mkdir()
        shutil.copy(d / "tiny.toml", d / "run" / "config.toml")
        (d / "run" / "checkpoint.pt").write_bytes(content)

    return setup


def no_val(d: Path) -> None:
    manifest = json.loads((d / "ds" / "manifest.json").read_text())
    for tile in manifest["tiles"]:
        tile["split"] = "train" if tile["split"] == "val" else tile["split"]
    (d / "ds" / "manifest.json").write_text(json.dumps(manifest))


def wrong_shape(d: Path) -> None:
    path = next((d / "ds" / "scenes").glob("*_lr.npy"))
    np.save(path, np.zeros((1, 3, 5, 5), np.uint8))


def dataset_file(pattern: str, action: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        path = next((d / "ds" / "scenes").glob(pattern))
        if action == "missing":
            path.unlink()
        else:
            path.write_bytes(path.read_bytes()[:200])

    return setup


def stale_temp(d: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = re.sub(r"[^A-Za-z0-9]", "", os.uname().nodename)[:32] or "host"
    (d / f".lr_x4.tif{TEMP_MARK}{host}-{dead.pid}.tmp").write_bytes(b"half-written")


def fill_mount(d: Path) -> None:
    with (d / "mnt" / "filler").open("wb", buffering=0) as f:  # until the tmpfs is full
        try:
            while f.write(b"\0" * 4096):
                pass
        except OSError:
            pass


# --- the cases -------------------------------------------------------------------------------------------


def cases() -> list[Case]:
    W = ["--weights", "w.safetensors"]
    pair = ["prepare", "lr.tif", "hr.tif", "-o", "new", "--tile", "16"]
    train = ["train", "ds", "-o", "run", "--config", "tiny.toml"]
    ev = ["evaluate", "w.safetensors", "ds", "--split", "val"]
    up = ["upscale", "lr.tif", "-o", "out.tif", *W]
    bad = ["--weights", "bad.safetensors"]
    out: list[Case] = [
        # prepare
        Case(
            "prepare: output is its input",
            ["prepare", "--degrade", "hr.tif", "-o", "hr.tif", "--overwrite"],
            2,
        ),
        Case(
            "prepare: output folder holds its input",
            ["prepare", "--degrade", "hr.tif", "-o", ".", "--overwrite"],
            2,
        ),
        Case("prepare: --block 0", [*pair, "--block", "0"], 2),
        Case("prepare: --val nan", [*pair, "--val", "nan"], 2),
        Case("prepare: --test -0.1", [*pair, "--test", "-0.1"], 2),
        Case("prepare: --val 0.6 --test 0.5", [*pair, "--val", "0.6", "--test", "0.5"], 2),
        Case("prepare: --tile 4", [*pair[:-1], "4"], 2),
        Case("prepare: --tile abc", [*pair[:-1], "abc"], 2),
        Case("prepare: --stride 0", [*pair, "--stride", "0"], 2),
        Case("prepare: --seed -1", [*pair, "--seed", "-1"], 2),
        Case("prepare: --valid-fraction 0", [*pair, "--valid-fraction", "0"], 2),
        Case("prepare: --min-std nan", [*pair, "--min-std", "nan"], 2),
        Case("prepare: --max-shift inf", [*pair, "--max-shift", "inf"], 2),
        Case("prepare: --nodata-value nan", [*pair, "--nodata-value", "nan"], 2),
        Case(
            "prepare: --blur-sigma 3,1",
            ["prepare", "--degrade", "hr.tif", "-o", "new", "--blur-sigma", "3,1"],
            2,
        ),
        Case(
            "prepare: --noise-sigma nan",
            ["prepare", "--degrade", "hr.tif", "-o", "new", "--noise-sigma", "nan"],
            2,
        ),
        Case(
            "prepare: --jpeg-quality 0",
            ["prepare", "--degrade", "hr.tif", "-o", "new", "--jpeg-quality", "0"],
            2,
        ),
        Case("prepare: --bands 9", [*pair, "--bands", "9"], 1),
        Case("prepare: missing -o", ["prepare", "lr.tif", "hr.tif"], 2),
        Case("prepare: odd number of pair inputs", ["prepare", "lr.tif", "-o", "new"], 2),
        Case("prepare: input missing", ["prepare", "lr.tif", "gone.tif", "-o", "new"], 1),
        Case("prepare: input not a raster", ["prepare", "--degrade", "fake.tif", "-o", "new"], 1),
        Case(
            "prepare: truncated aerial",
            ["prepare", "--degrade", "hr.tif", "-o", "new"],
            1,
            truncate("hr.tif", 300_000),
        ),
        Case("prepare: input without CRS", ["prepare", "nocrs.tif", "hr.tif", "-o", "new"], 1),
        Case("prepare: pair does not overlap", ["prepare", "lr.tif", "far.tif", "-o", "new"], 1),
        Case("prepare: pixel ratio not 4", ["prepare", "lr.tif", "coarse.tif", "-o", "new"], 1),
        Case("prepare: output parent is a file", [*pair[:3], "-o", "file.txt/ds"], 1),
        Case("prepare: output exists", ["prepare", "lr.tif", "hr.tif", "-o", "ds"], 1),
        Case(
            "prepare: --overwrite on a non-dataset",
            ["prepare", "lr.tif", "hr.tif", "-o", "notes", "--overwrite"],
            1,
        ),
        Case("prepare: read-only folder", [*pair[:3], "-o", "mnt/ds", "--tile", "16"], 1, mount="ro"),
        Case("prepare: disk full", [*pair[:3], "-o", "mnt/ds", "--tile", "16"], 1, mount="full"),
        Case(
            "prepare: SIGTERM",
            ["prepare", "--degrade", "big_aerial.tif", "-o", "new", "--tile", "16"],
            143,
            signal=signal.SIGTERM,
        ),
        Case(
            "prepare: SIGINT",
            ["prepare", "--degrade", "big_aerial.tif", "-o", "new", "--tile", "16"],
            130,
            signal=signal.SIGINT,
        ),
        # train
        Case("train: run folder is the dataset", ["train", "ds", "-o", "ds", "--overwrite"], 2),
        Case(
            "train: run folder holds the config",
            ["train", "ds", "-o", ".", "--config", "tiny.toml", "--overwrite"],
            2,
        ),
        Case("train: negative learning rate", train, 2, append("tiny.toml", "lr_g = -1e-4\n")),
        Case("train: NaN learning rate", train, 2, append("tiny.toml", "lr_pretrain = nan\n")),
        Case("train: beta1 1.5", train, 2, append("tiny.toml", "beta1 = 1.5\n")),
        Case("train: unknown option", train, 2, append("tiny.toml", "lr = 1\n")),
        Case("train: invalid TOML", train, 2, write("tiny.toml", "[train\nsteps = ")),
        Case("train: config missing", ["train", "ds", "-o", "run", "--config", "gone.toml"], 2),
        Case("train: --steps 0", [*train, "--steps", "0"], 2),
        Case("train: --batch-size 0", [*train, "--batch-size", "0"], 2),
        Case("train: --device tpu", [*train, "--device", "tpu"], 2),
        Case("train: --precision fp8", [*train, "--precision", "fp8"], 2),
        Case("train: corrupt manifest", train, 1, write("ds/manifest.json", '{"scale": 4, "tiles": [')),
        Case("train: missing .npy", train, 1, dataset_file("*_hr.npy", "missing")),
        Case("train: truncated .npy", train, 1, dataset_file("*_lr.npy", "truncated")),
        Case("train: .npy of the wrong shape", train, 1, wrong_shape),
        Case("train: not a dataset", ["train", "notes", "-o", "run"], 1),
        Case("train: no val split", train, 1, no_val),
        Case("train: --resume without checkpoint", [*train, "--resume"], 1),
        Case(
            "train: --resume pickled checkpoint",
            ["train", "ds", "-o", "run", "--resume"],
            1,
            pickled_checkpoint,
        ),
        Case(
            "train: --resume truncated checkpoint",
            ["train", "ds", "-o", "run", "--resume"],
            1,
            run_with(b"PK\x03\x04 truncated"),
        ),
        Case("train: --init missing weights", [*train, "--init", "gone.safetensors"], 1),
        Case(
            "train: --init malformed weights",
            [*train, "--init", "bad.safetensors"],
            1,
            weights_meta(without("architecture")),
        ),
        Case("train: run folder exists", ["train", "ds", "-o", "notes", "--config", "tiny.toml"], 1),
        Case("train: run folder is a file", ["train", "ds", "-o", "file.txt", "--config", "tiny.toml"], 1),
        Case(
            "train: read-only folder",
            ["train", "ds", "-o", "mnt/run", "--config", "tiny.toml"],
            1,
            mount="ro",
        ),
        Case("train: disk full", ["train", "ds", "-o", "mnt/run", "--config", "tiny.toml"], 1, mount="full"),
        Case(
            "train: SIGTERM",
            ["train", "ds", "-o", "run", "--config", "long.toml"],
            143,
            signal=signal.SIGTERM,
            wait_for="run/log.csv",
        ),
        # evaluate
        Case(
            "evaluate: --json is the scored raster",
            ["evaluate", "--sr", "sr.tif", "--hr", "sr.tif", "--json", "sr.tif", "--overwrite"],
            2,
        ),
        Case("evaluate: --json is the manifest", [*ev, "--json", "ds/manifest.json", "--overwrite"], 2),
        Case("evaluate: --figure is the weights", [*ev, "--figure", "w.safetensors", "--overwrite"], 2),
        Case("evaluate: --json is the dataset folder", [*ev, "--json", "ds", "--overwrite"], 2),
        Case("evaluate: --json and --figure the same", [*ev, "--json", "r.out", "--figure", "r.out"], 2),
        Case("evaluate: --json is a folder", [*ev, "--json", "notes", "--overwrite"], 2),
        Case(
            "evaluate: pair does not overlap",
            ["evaluate", "w.safetensors", "--lr", "lr.tif", "--hr", "far.tif"],
            1,
        ),
        Case("evaluate: unknown metric", [*ev, "--metrics", "psnr,fid"], 2),
        Case("evaluate: --shave -1", [*ev, "--shave", "-1"], 2),
        Case("evaluate: --data-range 0", [*ev, "--data-range", "0"], 2),
        Case("evaluate: --split with no tiles", ["evaluate", "w.safetensors", "ds", "--split", "nope"], 1),
        Case("evaluate: --sr alone", ["evaluate", "--sr", "sr.tif"], 2),
        Case("evaluate: SR not on the HR grid", ["evaluate", "--sr", "sr.tif", "--hr", "far.tif"], 1),
        Case(
            "evaluate: truncated SR",
            ["evaluate", "--sr", "sr.tif", "--hr", "hr.tif"],
            1,
            truncate("sr.tif", 40_000),
        ),
        Case("evaluate: corrupt manifest", ev, 1, write("ds/manifest.json", "[]")),
        Case(
            "evaluate: malformed weights",
            ["evaluate", "bad.safetensors", "ds", "--split", "val"],
            1,
            weights_meta(arch(scale=2)),
        ),
        Case("evaluate: --json parent is a file", [*ev, "--json", "file.txt/r.json"], 1),
        Case("evaluate: --json on a read-only folder", [*ev, "--json", "mnt/r.json"], 1, mount="ro"),
        Case("evaluate: --json on a full disk", [*ev, "--json", "mnt/r.json"], 1, fill_mount, mount="full"),
        # upscale
        Case("upscale: output is its input", ["upscale", "lr.tif", "-o", "lr.tif", *W, "--overwrite"], 2),
        Case(
            "upscale: an output is another input",
            ["upscale", "lr.tif", "lr_x4.tif", *W, "--overwrite"],
            2,
            lambda d: shutil.copy(d / "lr.tif", d / "lr_x4.tif"),
        ),
        Case("upscale: -o into the weights file", ["upscale", "lr.tif", "-o", "w.safetensors", *W], 1),
        Case("upscale: --tile 4", [*up, "--tile", "4"], 2),
        Case("upscale: --overlap -1", [*up, "--overlap", "-1"], 2),
        Case("upscale: --batch-size 0", [*up, "--batch-size", "0"], 2),
        Case("upscale: --device cuda without GPU", [*up, "--device", "cuda"], 2),
        Case("upscale: --precision fp8", [*up, "--precision", "fp8"], 2),
        Case("upscale: --bands 1,2", [*up, "--bands", "1,2"], 1),
        Case("upscale: --bands x", [*up, "--bands", "x"], 2),
        Case("upscale: uint16 scene, uint8 weights", ["upscale", "u16.tif", "-o", "out.tif", *W], 1),
        Case(
            "upscale: truncated scene",
            ["upscale", "big.tif", "-o", "out.tif", *W],
            1,
            truncate("big.tif", 200_000),
        ),
        Case("upscale: not a raster", ["upscale", "fake.tif", "-o", "out.tif", *W], 1),
        Case("upscale: scene missing", ["upscale", "gone.tif", "-o", "out.tif", *W], 1),
        Case("upscale: scene without CRS", ["upscale", "nocrs.tif", "-o", "out.tif", *W], 1),
        Case("upscale: output exists", ["upscale", "lr.tif", "-o", "hr.tif", *W], 1),
        Case("upscale: output parent is a file", ["upscale", "lr.tif", "-o", "file.txt/o.tif", *W], 1),
        Case("upscale: folder without scenes", ["upscale", "notes", *W], 2),
        Case("upscale: glob matching nothing", ["upscale", "nothing*.tif", *W], 2),
        Case("upscale: read-only folder", ["upscale", "lr.tif", "-o", "mnt/o.tif", *W], 1, mount="ro"),
        Case("upscale: disk full", ["upscale", "lr.tif", "-o", "mnt/o.tif", *W], 1, mount="full"),
        Case("upscale: SIGTERM", ["upscale", "big.tif", "-o", "out.tif", *W], 143, signal=signal.SIGTERM),
        Case("upscale: SIGINT", ["upscale", "big.tif", "-o", "out.tif", *W], 130, signal=signal.SIGINT),
        Case(
            "upscale: stale temporary of a dead run",
            ["upscale", "lr.tif", *W],
            0,
            stale_temp,
            allowed={"lr_x4.tif"},
        ),
        # weights (upscale and info)
        Case("upscale: weights lack architecture", [*up[:4], *bad], 1, weights_meta(without("architecture"))),
        Case(
            "upscale: weights lack normalisation", [*up[:4], *bad], 1, weights_meta(without("normalisation"))
        ),
        Case("upscale: weights metadata is a list", [*up[:4], *bad], 1, weights_meta(lambda m: [1, 2])),
        Case("upscale: weights declare scale 2", [*up[:4], *bad], 1, weights_meta(arch(scale=2))),
        Case(
            "upscale: 2-band normalisation, 3-band model",
            [*up[:4], *bad],
            1,
            weights_meta(
                lambda m: {**m, "normalisation": {"dtype": "uint8", "low": [0, 0], "high": [255, 255]}}
            ),
        ),
        Case("upscale: tensor shapes do not match", [*up[:4], *bad], 1, weights_meta(arch(features=16))),
        Case(
            "upscale: NaN tensors",
            [*up[:4], *bad],
            1,
            weights_meta(lambda m: m, lambda t: {**t, "head.weight": t["head.weight"] * float("nan")}),
        ),
        Case(
            "info: weights lack architecture",
            ["info", "bad.safetensors"],
            1,
            weights_meta(without("architecture")),
        ),
        Case(
            "info: weights declare features 10^9",
            ["info", "bad.safetensors"],
            1,
            weights_meta(arch(features=10**9)),
        ),
        Case("info: metadata is a list", ["info", "bad.safetensors"], 1, weights_meta(lambda m: [1, 2])),
        Case("info: not a safetensors file", ["info", "fake.tif"], 1),
        Case("info: truncated weights", ["info", "w.safetensors"], 1, truncate("w.safetensors", 5000)),
        Case("info: missing file", ["info", "gone.safetensors"], 1),
        Case("info: folder without weights", ["info", "notes"], 1),
    ]
    return out


# --- running ---------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel == "mnt" or (rel.startswith("mnt/") and p.is_dir()):
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def mount(folder: Path, kind: str) -> bool:
    folder.mkdir()
    options = "size=64k" if kind == "full" else "ro,size=64k"
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )


def run_case(case: Case, world: Path, work: Path) -> dict[str, object]:
    here = work / re.sub(r"[^A-Za-z0-9]+", "_", case.name)
    subprocess.run(["umount", str(here / "mnt")], capture_output=True, check=False)  # after a crash
    shutil.rmtree(here, ignore_errors=True)
    shutil.copytree(world, here, symlinks=True)
    mounted = False
    if case.mount:
        mounted = mount(here / "mnt", case.mount)
        if not mounted:
            return {"case": case.name, "skipped": "cannot mount a tmpfs (needs root)"}
    try:
        if case.setup:
            case.setup(here)
        before = snapshot(here)
        start = time.perf_counter()
        code, stderr = _invoke(case, here)
        seconds = time.perf_counter() - start
        after = snapshot(here)
    finally:
        if mounted:
            subprocess.run(["umount", str(here / "mnt")], check=False)
    lines = stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith(("error:", "interrupted", "failed:"))]
    leftovers = sorted(p for p in set(after) - set(before) if p not in case.allowed)
    # an input changed or gone (a stale temporary removed is the point of its case, not damage)
    changed = [p for p in before if after.get(p) != before[p] and TEMP_MARK not in p]
    row = {
        "case": case.name,
        "command": case.args[0],
        "exit": code,
        "expected": case.code,
        "one_line": len(errors) == 1 or (case.code == 0 and not errors),
        "traceback": any(RAW.match(ln) for ln in lines),
        "leftovers": leftovers,
        "inputs_intact": not changed,
        "seconds": seconds,
        "line": errors[0] if errors else "",
        "changed": changed,
    }
    row["pass"] = (
        code == case.code
        and row["one_line"]
        and not row["traceback"]
        and not leftovers
        and row["inputs_intact"]
    )
    shutil.rmtree(here, ignore_errors=True)
    return row


def _invoke(case: Case, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "satsr", *case.args]
    if case.signal is None:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
        return done.returncode, done.stderr
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not _started(case, cwd):
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(case.signal)
        proc.wait(timeout=120)
        err.seek(0)
        return proc.returncode, err.read()


def _started(case: Case, cwd: Path) -> bool:
    if case.wait_for:
        return (cwd / case.wait_for).exists()
    return any(TEMP_MARK in p.name for p in cwd.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--keep", default=None, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="satsr-battery-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    world = work / "world"
    if not world.exists():
        world.mkdir()
        build_world(world)
    built = time.perf_counter() - start
    rows = [run_case(c, world, work) for c in cases() if args.only in c.name]
    total = time.perf_counter() - start
    print_table(rows, built, total)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def print_table(rows: list[dict[str, object]], built: float, total: float) -> None:
    yes = {True: "yes", False: "NO"}
    columns = ("exit", 4), ("want", 4), ("1 line", 6), ("trace", 5), ("left", 4), ("intact", 6), ("s", 5)
    head = f"{'case':<46} " + " ".join(f"{name:>{width}}" for name, width in columns) + "  line"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "skipped" in r:
            print(f"{r['case']:<46} skipped: {r['skipped']}")
            continue
        left = "NO" if not r["leftovers"] else "YES"
        line = str(r["line"])[:110]
        mark = (
            ""
            if r["pass"]
            else "   <-- FAIL " + json.dumps({"left": r["leftovers"], "changed": r["changed"]})
        )
        print(
            f"{r['case']:<46} {r['exit']:>4} {r['expected']:>4} {yes[bool(r['one_line'])]:>6} "
            f"{'YES' if r['traceback'] else 'no':>5} {left:>4} {yes[bool(r['inputs_intact'])]:>6} "
            f"{r['seconds']:>5.1f}  {line}{mark}"
        )
    ran = [r for r in rows if "skipped" not in r]
    passed = sum(bool(r["pass"]) for r in ran)
    by_command: dict[str, list[int]] = {}
    for r in ran:
        by_command.setdefault(str(r["command"]), [0, 0])
        by_command[str(r["command"])][0] += 1
        by_command[str(r["command"])][1] += bool(r["pass"])
    print()
    print(
        f"{passed}/{len(ran)} cases keep the promise ({len(rows) - len(ran)} skipped); "
        + ", ".join(f"{c} {p}/{n}" for c, (n, p) in by_command.items())
    )
    print(f"world built in {built:.0f} s; battery ran {total:.0f} s in all")


if __name__ == "__main__":
    main()
