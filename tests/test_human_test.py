"""The human A/B test: a self-contained page that records which method was where, and pooled scoring."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from satsr.errors import DataError, OutputExistsError
from satsr.human_test import FORMAT, HumanTestOptions, match_colour, score_answers, write_page
from satsr.normalise import Normalisation
from tests.test_evaluate import run_cli
from tests.test_realism import aerial_like, blurred

NORM = Normalisation.for_dtype("uint8", 3)
ABOUT = {"model": "tiny", "dataset": "synthetic"}


def place_crops(count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """What evaluate keeps per figure tile: LR, bicubic, lanczos, sr and HR crops of one place."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        hr = aerial_like(rng)
        soft = blurred(hr)
        crops.append({"LR": hr[:, ::4, ::4], "bicubic": soft, "lanczos": soft, "sr": soft, "HR": hr})
    return crops


def page_data(html: str) -> dict[str, Any]:
    return json.loads(re.search(r"const TEST = (.*);\n", html).group(1).replace("<\\/", "</"))


def answers_file(path: Path, test: dict[str, Any], chosen: dict[str, str], who: str) -> Path:
    """Answers as the page writes them; `chosen` maps a method to the crop picked: 'method' or 'real'."""
    answers = []
    for t in test["trials"]:
        real_side = "left" if t["method_side"] == "right" else "right"
        side = t["method_side"] if chosen[t["method"]] == "method" else real_side
        answers.append({"trial": t["trial"], "method": t["method"], "method_side": t["method_side"],
                        "chosen": side, "chose_real": side == real_side, "ms": 900})  # fmt: skip
    data = {"format": FORMAT, "version": 1, "test_id": test["test_id"], "participant": who,
            "finished": "2025-01-01T00:00:00Z", "about": test["about"], "answers": answers}  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def test_page_is_self_contained_randomised_and_blind(tmp_path: Path) -> None:
    page = write_page(tmp_path / "page", place_crops(10), NORM, ABOUT, HumanTestOptions(pairs=10))
    html = page.path.read_text()
    test = page_data(html)
    assert page.pairs == {"sr": 5, "lanczos": 5} and len(test["trials"]) == 10
    assert not re.search(r"(src|href)=\"?https?:|https?://", html)  # nothing is fetched from the network
    sides = {t["method_side"] for t in test["trials"]}
    assert sides == {"left", "right"}  # the method is not always on the same side
    for t in test["trials"]:
        for side in ("left", "right"):
            assert (page.path.parent / t[side]).stat().st_size > 0
            assert "sr" not in t[side] and "lanczos" not in t[side] and "hr" not in t[side].lower()[4:]
    assert [t["method"] for t in test["trials"]] != sorted(t["method"] for t in test["trials"])
    with pytest.raises(OutputExistsError):
        write_page(tmp_path / "page", place_crops(10), NORM, ABOUT)


def test_colour_matching_keeps_detail_and_takes_partner_statistics() -> None:
    rng = np.random.default_rng(0)
    hr = aerial_like(rng)
    partner = np.clip(blurred(hr).astype(int) + 30, 0, 255).astype(np.uint8)  # another capture's colours
    matched = match_colour(hr, partner)
    assert matched.dtype == np.uint8
    assert np.allclose(matched.mean(axis=(1, 2)), partner.mean(axis=(1, 2)), atol=1.0)
    assert np.corrcoef(matched[0].ravel(), hr[0].ravel())[0, 1] > 0.99


def test_answers_of_several_people_pooled_with_intervals(tmp_path: Path) -> None:
    page = write_page(tmp_path / "page", place_crops(8), NORM, ABOUT, HumanTestOptions(pairs=8))
    test = page_data(page.path.read_text())
    answers = tmp_path / "answers"
    answers.mkdir()
    answers_file(answers / "a.json", test, {"sr": "method", "lanczos": "real"}, "a")
    answers_file(answers / "b.json", test, {"sr": "real", "lanczos": "real"}, "b")
    results = score_answers([str(answers)])
    sr, lanczos = results.scores["sr"], results.scores["lanczos"]
    assert (sr.taken_for_real, sr.answers, lanczos.taken_for_real, lanczos.answers) == (4, 8, 0, 8)
    assert sr.rate == 0.5 and sr.interval[0] < 0.5 < sr.interval[1] and lanczos.interval[0] == 0.0
    assert results.participants == ["a", "b"] and results.test_id == test["test_id"]
    out = tmp_path / "scores.json"
    cli = run_cli("evaluate", "--human-results", str(answers / "a.json"), "--human-results",
                  str(answers / "b.json"), "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "taken for real" in cli.stdout and "50.0%" in cli.stdout
    assert json.loads(out.read_text())["scores"]["lanczos"]["rate"] == 0.0


def test_answers_of_another_page_or_damaged_are_refused(tmp_path: Path) -> None:
    first = page_data(write_page(tmp_path / "p1", place_crops(4), NORM, ABOUT).path.read_text())
    other = page_data(write_page(tmp_path / "p2", place_crops(6), NORM, ABOUT).path.read_text())
    a = answers_file(tmp_path / "a.json", first, {"sr": "real", "lanczos": "real"}, "a")
    b = answers_file(tmp_path / "b.json", other, {"sr": "real", "lanczos": "real"}, "b")
    with pytest.raises(DataError, match="different page"):
        score_answers([str(a), str(b)])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    cli = run_cli("evaluate", "--human-results", str(bad))
    assert cli.returncode == 1 and str(bad) in cli.stderr and "Traceback" not in cli.stderr
    assert run_cli("evaluate", "gan", "--human-results", str(a)).returncode == 2


# --- a real browser -----------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1000,800")  # fmt: skip


def answer_in_chromium(index: Path, workdir: Path, screenshot: Path) -> Path:
    """Open the page in headless Chromium, answer every pair (SR: the SR on odd trials, else the real one;
    lanczos: always the real one), screenshot a pair, press Save; return the downloaded answers file."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    downloads = workdir / "downloads"
    downloads.mkdir(parents=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={workdir / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})  # fmt: skip
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        allow = {"behavior": "allow", "downloadPath": str(downloads)}
        driver.execute_cdp_cmd("Page.setDownloadBehavior", allow)
        driver.get(index.as_uri())
        driver.find_element(By.ID, "participant").send_keys("headless chromium")
        driver.find_element(By.ID, "start").click()
        trials = driver.execute_script("return TEST.trials;")
        for k, t in enumerate(trials):
            assert driver.execute_script("return document.getElementById('left').naturalWidth;") > 0
            if k == 1:
                driver.save_screenshot(str(screenshot))
            fool = t["method"] == "sr" and t["trial"] % 2 == 1
            real = "left" if t["method_side"] == "right" else "right"
            side = t["method_side"] if fool else real
            if k % 2:  # half by clicking the image, half with the arrow keys
                driver.find_element(By.ID, side).click()
            else:
                driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT if side == "left" else
                                                                   Keys.ARROW_RIGHT)  # fmt: skip
        driver.find_element(By.ID, "save").click()
        for _ in range(100):
            saved = [p for p in downloads.glob("*.json")]
            if saved:
                return saved[0]
            time.sleep(0.1)
        raise AssertionError(f"no answers file was downloaded into {downloads}")
    finally:
        driver.quit()


@pytest.mark.slow
def test_page_answered_in_headless_chromium_and_scored(tmp_path: Path) -> None:
    pytest.importorskip("selenium")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    page = write_page(tmp_path / "page", place_crops(12), NORM, ABOUT, HumanTestOptions(pairs=12))
    screenshot = tmp_path / "page.png"
    saved = answer_in_chromium(page.path, tmp_path / "browser", screenshot)
    if os.environ.get("SATSR_SCREENSHOT"):  # keep a picture of the page where the caller wants it
        shutil.copyfile(screenshot, os.environ["SATSR_SCREENSHOT"])
    data = json.loads(saved.read_text())
    assert data["participant"] == "headless chromium" and len(data["answers"]) == 12
    trials = page_data(page.path.read_text())["trials"]
    expected_fooled = sum(t["method"] == "sr" and t["trial"] % 2 == 1 for t in trials)
    cli = run_cli("evaluate", "--human-results", str(saved))
    assert cli.returncode == 0, cli.stderr
    results = score_answers([str(saved)])
    assert results.scores["sr"].taken_for_real == expected_fooled and results.scores["sr"].answers == 6
    assert results.scores["lanczos"].taken_for_real == 0 and results.scores["lanczos"].answers == 6
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(cli.stdout)


def test_evaluate_writes_the_page_from_the_scored_tiles(tmp_path: Path) -> None:
    from tests.test_evaluate import make_dataset, tiny_weights

    data = make_dataset(tmp_path / "data", np.random.default_rng(0), tiles=16, lr_tile=16)
    weights = tiny_weights(tmp_path / "w.safetensors", True)
    page, figure = tmp_path / "h", tmp_path / "f.png"
    cli = run_cli("evaluate", str(weights), str(data), "--metrics", "psnr", "--human-test", str(page),
                  "--figure", str(figure))  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    test = page_data((tmp_path / "h" / "index.html").read_text())
    assert len(test["trials"]) == 8 and test["about"]["model"] == str(weights)  # one pair per test tile
    assert {t["method"] for t in test["trials"]} == {"sr", "lanczos"}
    again = run_cli("evaluate", str(weights), str(data), "--human-test", str(tmp_path / "h"))
    assert again.returncode == 1 and "--overwrite" in again.stderr
