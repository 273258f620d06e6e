"""The human A/B test: a static page of randomised crop pairs, and the scoring of the answers it saves.

`write_page` writes DIR/index.html and DIR/img/*.png: no server, nothing fetched from the network. Each
pair shows one place twice, side by side: the aerial photograph (HR) and either the model's SR or
lanczos (the control); the person picks the one they take for the real aerial photograph. The page
records which method was on which side (image names do not tell) and saves the answers as JSON.
`score_answers` pools one or several people's files: per method, how often it was taken for the real
photograph, with a 95 % Wilson interval (SRGAN's MOS test is the anchor; 50 % would mean fooled as often
as not, lanczos is the floor).
"""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import DataError, UsageError
from satsr.figures import display
from satsr.human_page import PAGE
from satsr.normalise import Normalisation

FORMAT = "satsr-human-test-answers"  # the "format" key of every answers file
METHODS = ("sr", "lanczos")  # shown against the HR, in equal numbers


@dataclass(frozen=True)
class HumanTestOptions:
    pairs: int = 40  # A/B pairs on a page, half SR vs HR, half lanczos vs HR: about 3 minutes a person
    zoom: int = 2  # screen px per image px (drawn pixelated, so the real pixels are judged)
    match_colour: bool = True  # the HR crop gets the per-band mean/std of its partner: detail is judged
    seed: int = 0  # which places show which method, the sides and the order


@dataclass(frozen=True)
class HumanPage:
    path: Path  # the index.html to open in a browser
    pairs: dict[str, int]  # pairs per method
    test_id: str  # written into every answers file, so files of other pages are refused when pooled


@dataclass(frozen=True)
class MethodScore:
    method: str  # sr or lanczos
    taken_for_real: int  # answers that picked this method's crop as the aerial photograph
    answers: int  # answers on pairs of this method

    @property
    def rate(self) -> float:
        return self.taken_for_real / self.answers if self.answers else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        from satsr.realism import wilson  # lazily: scoring answers needs no torch

        return wilson(self.taken_for_real, self.answers)


@dataclass(frozen=True)
class HumanResults:
    test_id: str  # the page the answers come from
    files: list[str]  # answers files pooled
    participants: list[str]  # their participant names (as typed; '' when left empty)
    scores: dict[str, MethodScore]  # per method
    about: dict[str, Any] = field(default_factory=dict)  # what the page says it tests (model, data)

    def to_json(self) -> dict[str, Any]:
        scores = {m: {"taken_for_real": s.taken_for_real, "answers": s.answers, "rate": s.rate,
                      "wilson95": list(s.interval)} for m, s in self.scores.items()}  # fmt: skip
        return {"test_id": self.test_id, "files": self.files, "participants": self.participants,
                "about": self.about, "scores": scores}  # fmt: skip


def write_page(directory: str | Path, crops: list[dict[str, np.ndarray]], norm: Normalisation,
               about: dict[str, Any], options: HumanTestOptions = HumanTestOptions(),
               overwrite: bool = False) -> HumanPage:  # fmt: skip
    """Write the page for `crops` (dicts with 'sr', 'lanczos' and 'HR' of one place each), atomically."""
    from matplotlib.image import imsave

    from satsr.outputs import atomic_output

    usable = [c for c in crops if all(k in c for k in (*METHODS, "HR"))]
    if len(usable) < 2:
        raise DataError(f"{directory}: the human test needs 2 or more places with SR, lanczos and HR crops "
                        f"({len(usable)} found); give the LR (--lr) or a split with more tiles")  # fmt: skip
    rng = np.random.default_rng(options.seed)
    methods = [METHODS[i % 2] for i in rng.permutation(len(usable))]
    test_id = hashlib.sha256(repr((about, len(usable), options)).encode()).hexdigest()[:12]
    trials = []
    with atomic_output(directory, overwrite=overwrite) as tmp:
        (tmp / "img").mkdir(parents=True)
        for n, k in enumerate(rng.permutation(len(usable))):
            crop, method = usable[k], methods[k]
            shown = crop[method]
            real = match_colour(crop["HR"], shown) if options.match_colour else crop["HR"]
            method_side = "left" if rng.integers(2) == 0 else "right"
            names = {}
            for side, img in ((method_side, shown), (_other(method_side), real)):
                names[side] = f"img/{hashlib.sha256(f'{test_id}{n}{side}'.encode()).hexdigest()[:10]}.png"
                imsave(tmp / names[side], display(img, norm), cmap="gray", vmin=0, vmax=1)
            trials.append({"trial": n + 1, "left": names["left"], "right": names["right"], "method": method,
                           "method_side": method_side, "width": int(shown.shape[-1])})  # fmt: skip
        page = {"format": FORMAT, "test_id": test_id, "about": about, "zoom": options.zoom, "trials": trials}
        data = json.dumps(page).replace("</", "<\\/")  # nothing in the data can close the script element
        (tmp / "index.html").write_text(PAGE.replace("__TEST_DATA__", data), encoding="utf-8")
    counts = {m: sum(t["method"] == m for t in trials) for m in METHODS}
    return HumanPage(Path(directory) / "index.html", counts, test_id)


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def match_colour(hr: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """HR with each band's mean and std set to the partner's: the colour and contrast of another capture
    (real pairs) do not give the aerial photograph away, its detail may."""
    h, p = hr.astype(np.float64), partner.astype(np.float64)
    hm, hs = h.mean(axis=(1, 2), keepdims=True), h.std(axis=(1, 2), keepdims=True)
    pm, ps = p.mean(axis=(1, 2), keepdims=True), p.std(axis=(1, 2), keepdims=True)
    out = (h - hm) / np.maximum(hs, 1e-9) * ps + pm
    if np.issubdtype(hr.dtype, np.integer):
        info = np.iinfo(hr.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(hr.dtype)


def answer_files(paths: list[str]) -> list[Path]:
    """Files, directories (every *.json in them) and glob patterns, in a stable order."""
    found: list[Path] = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            found += sorted(p.glob("*.json"))
        elif p.exists():
            found.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(text))
            if not matches:
                raise UsageError(f"--human-results {text}: no such file; give files saved by the page")
            found += matches
    if not found:
        raise UsageError(f"--human-results {' '.join(paths)}: no .json answers files found")
    return list(dict.fromkeys(found))


def load_answers(path: Path) -> dict[str, Any]:
    """One answers file, checked: a clear error naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc}); give a file saved by the test page") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or type(data.get("answers")) is not list:
        raise DataError(f"{path}: not a satsr human-test answers file; give the JSON the page saved")
    sides = ("left", "right")
    for a in data["answers"]:
        ok = isinstance(a, dict) and a.get("method") in METHODS
        if not ok or a.get("chosen") not in sides or a.get("method_side") not in sides:
            raise DataError(f"{path}: malformed answer {a!r}; the file was edited or is damaged")
    return data


def score_answers(paths: list[str]) -> HumanResults:
    """Pool answers files of one page: per method, how often its crop was taken for the aerial photograph."""
    files = answer_files(paths)
    loaded = [(f, load_answers(f)) for f in files]
    test_id = loaded[0][1].get("test_id")
    for f, data in loaded:
        if data.get("test_id") != test_id:
            raise DataError(f"{f}: answers a different page (test {data.get('test_id')}, not {test_id} of "
                            f"{loaded[0][0]}); score each page's files separately")  # fmt: skip
    scores = {}
    for m in METHODS:
        answers = [a for _, d in loaded for a in d["answers"] if a["method"] == m]
        fooled = sum(a["chosen"] == a["method_side"] for a in answers)
        scores[m] = MethodScore(m, fooled, len(answers))
    participants = [str(d.get("participant", "")) for _, d in loaded]
    about = loaded[0][1].get("about", {})
    return HumanResults(str(test_id), [str(f) for f in files], participants, scores, about)


def write_results_json(path: str | Path, results: HumanResults, overwrite: bool = False) -> Path:
    """The pooled scores as strict JSON (nan as the string 'nan'), written atomically."""
    from satsr.outputs import atomic_output
    from satsr.report import _json_safe

    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(_json_safe(results.to_json()), indent=1, allow_nan=False))
    return Path(path)
