"""The words panels in a real headless Chromium, over a store whose ``words`` and ``video``
runs read a screenshot, a photo lying on its side, a scanned PDF page, a voice memo and a
video with hard cuts (all made here): the OCR boxes over the picture, the transcript whose
lines play the audio from their time, the scenes strip whose times play the video."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mstore.runs.pipelines import SHIPPED
from tests.browser.test_browser import chromium_path, shot, watched_page
from tests.helpers import REPO, mstore
from tests.integration.test_run_reading import run_all
from tests.integration.ui_server import UiServer
from tests.unit.test_words_ocr import LINES, mixed_pdf, photo, screenshot
from tests.unit.test_words_scenes import SHOTS, cut_video, shot_starts
from tests.unit.test_words_transcribe import FIRST, GAP, SECOND, speak, write_wav


def words_without_doctext() -> str:
    """The shipped ``words`` pipeline less its ``doctext`` step, whose tool is built apart
    (the document-text branch): every step of ours runs as shipped."""
    chunks = (SHIPPED / "words.toml").read_text().split("[[steps]]")
    kept = [c for c in chunks[1:] if 'tool = "doctext"' not in c]
    assert len(kept) == len(chunks) - 2
    return "[[steps]]".join([chunks[0], *kept])


class World:
    def __init__(self, store: Path, ui: UiServer, ids: dict[str, str], second: float) -> None:
        self.store, self.ui, self.ids, self.second_starts = store, ui, ids, second


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("words")
    root = base / "archive"
    root.mkdir()
    screenshot(root / "shot.png")
    photo(root / "sideways.jpg", turn=90)
    mixed_pdf(root / "shot.png", base / "letter.pdf").rename(root / "letter.pdf")
    a, rate = speak(FIRST, "en", base / "a.wav")
    b, _ = speak(SECOND, "en", base / "b.wav")
    write_wav(root / "memo.wav", np.concatenate([a, np.zeros(int(GAP * rate), "<i2"), b]), rate)
    second = (len(a) + int(GAP * rate)) / rate
    cut_video(root / "cuts.mp4")

    store = base / "store"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", store=store).code == 0
    (store / "pipelines").mkdir()
    (store / "pipelines" / "words.toml").write_text(words_without_doctext())
    run_all(store, "words")
    run_all(store, "video", selection="kind:video")
    rows = mstore("find", "--json", store=store).json_lines()
    ids = {Path(r["paths"][0]).name: r["id"] for r in rows}
    ui = UiServer(store)
    try:
        yield World(store, ui, ids, second)
    finally:
        ui.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required", "--no-first-run"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, world: World) -> Iterator[Page]:
    with watched_page(browser, world.ui.url) as pg:
        yield pg


def test_ocr_lines_are_boxed_over_the_screenshot(page: Page, world: World) -> None:
    page.goto(f"/asset/{world.ids['shot.png']}")
    panel = page.locator("#panel-ocr")
    expect(panel.locator("ol.ocr-lines li")).to_have_count(len(LINES))
    expect(panel.locator("ol.ocr-lines li").first).to_contain_text(LINES[0])
    expect(panel.locator("svg.ocr-view rect")).to_have_count(len(LINES))
    # the first box sits where the first line was drawn, in the picture's own pixels
    box = panel.locator("svg.ocr-view rect").first
    assert abs(float(box.get_attribute("x") or 0) - 30) <= 8
    assert panel.locator("svg.ocr-view image").evaluate(
        "el => el.getAttribute('href')").endswith("/file")
    # the picture decodes in the SVG (its size is known once it has loaded)
    page.wait_for_function("() => { const i = document.querySelector('#panel-ocr svg image');"
                           " return i && i.getBBox().width > 0; }")
    shot(page, "words-ocr")


def test_a_sideways_photo_is_shown_turned_with_its_boxes(page: Page, world: World) -> None:
    page.goto(f"/asset/{world.ids['sideways.jpg']}")
    panel = page.locator("#panel-ocr")
    expect(panel).to_contain_text("read turned 90°")
    svg = panel.locator("svg.ocr-view")
    width, height = (int(svg.get_attribute(k) or 0) for k in ("width", "height"))
    assert width > height  # the upright page is landscape
    assert "rotate(90)" in (panel.locator("svg image").get_attribute("transform") or "")
    expect(panel.locator("ol.ocr-lines li").first).to_have_text(
        re.compile(r"^Invoice total 42\.50 EUR"))


def test_a_scanned_pdf_page_shows_its_text_by_page(page: Page, world: World) -> None:
    page.goto(f"/asset/{world.ids['letter.pdf']}")
    panel = page.locator("#panel-ocr")
    expect(panel.locator("h3")).to_have_text(["page 2"])
    expect(panel.locator("li").first).to_have_text(LINES[0])


def test_clicking_a_transcript_line_plays_the_audio_from_its_time(page: Page,
                                                                  world: World) -> None:
    page.goto(f"/asset/{world.ids['memo.wav']}")
    panel = page.locator("#panel-transcript")
    expect(panel).to_contain_text("language en")
    line = panel.locator("li").filter(has_text="river")
    expect(line).to_have_count(1)
    start = float(line.locator("button").get_attribute("data-seek") or -1)
    assert abs(start - world.second_starts) <= 0.5
    line.locator("button").click()
    page.wait_for_function(
        "t => { const m = document.querySelector('.preview audio');"
        " return m && m.currentTime >= t - 0.05 && m.currentTime < t + 5; }", arg=start)
    shot(page, "words-transcript")


def test_the_scenes_strip_shows_one_frame_per_scene_and_seeks_the_video(
        page: Page, world: World) -> None:
    page.goto(f"/asset/{world.ids['cuts.mp4']}")
    strip = page.locator("#panel-scenes ul.scenes li")
    expect(strip).to_have_count(len(SHOTS))
    page.wait_for_load_state("networkidle")
    assert page.eval_on_selector_all(
        "#panel-scenes img", "els => els.filter(e => e.complete && e.naturalWidth > 0).length"
    ) == len(SHOTS)
    seeks = [float(b.get_attribute("data-seek") or -1)
             for b in strip.locator("button").all()]
    assert all(abs(a - b) <= 0.5 for a, b in zip(seeks, shot_starts(), strict=True))
    strip.nth(2).locator("button").click()
    page.wait_for_function(
        "t => { const m = document.querySelector('.preview video');"
        " return m && m.currentTime >= t - 0.05 && m.currentTime < t + 5; }", arg=seeks[2])
    shot(page, "words-scenes")


def test_the_artifacts_keep_the_shared_schema(world: World) -> None:
    """What the search index reads: the same keys in every block, whatever made it."""
    for name, kind in (("shot.png", "ocr"), ("memo.wav", "transcript")):
        shown = mstore("show", world.ids[name], "--json", store=world.store).json()
        art = shown["artifacts"][kind][0]  # by kind, newest first
        out = subprocess.run([sys.executable, "-m", "mstore", "--store", str(world.store),
                              "cat", art["id"]], cwd=REPO, capture_output=True, check=True)
        doc = json.loads(out.stdout)
        assert set(doc) == {"version", "lang", "source", "blocks"} and doc["blocks"]
        assert all(set(b) == {"text", "page", "box", "start", "end", "conf"}
                   for b in doc["blocks"])
