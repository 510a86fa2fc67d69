"""The ``words`` pipeline as a real run: ``mstore run`` on the Temporal dev server, the
worker's tool processes loading each model, the artifacts in the store; then the same
run again, answered from what the first made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.browser.test_words_panels import words_without_doctext
from tests.helpers import mstore
from tests.integration.test_runs import by_step, show, step_of
from tests.unit.test_words_ocr import LINES, screenshot
from tests.unit.test_words_transcribe import FIRST, speak, write_wav

# the fixtures temporal_server and run_store, as test_runs.py takes them
pytest_plugins = ["tests.integration.temporal_env"]


def test_words_over_a_screenshot_a_voice_memo_and_a_photo_without_text(
        run_store, tmp_path: Path) -> None:  # noqa: ANN001
    from PIL import Image

    root = tmp_path / "archive"
    root.mkdir()
    screenshot(root / "shot.png")
    Image.new("RGB", (800, 600), (40, 90, 160)).save(root / "sky.jpg")
    samples, rate = speak(FIRST, "en", tmp_path / "memo.wav")
    write_wav(root / "memo.wav", np.concatenate([np.zeros(rate, "<i2"), samples]), rate)
    rs = run_store(over=root)
    (rs.path / "pipelines").mkdir(exist_ok=True)
    (rs.path / "pipelines" / "words.toml").write_text(words_without_doctext())
    ids = rs.asset_ids_by_path()

    first = rs.run_and_wait("words", "--production", timeout=300)
    assert first.state == "completed", first.failures
    d = show(rs, first.id)
    assert (step_of(d, "ocr")["done"], step_of(d, "transcribe")["done"]) == (2, 1)

    def payload(name: str, kind: str) -> dict:
        shown = mstore("show", ids[f"archive/{name}"], "--json", store=rs.path).json()
        art = shown["artifacts"][kind][0]
        return json.loads(mstore("cat", art["id"], store=rs.path).out)

    shot = payload("shot.png", "ocr")
    assert len(shot["blocks"]) == len(LINES) and shot["blocks"][0]["text"] == LINES[0]
    assert payload("sky.jpg", "ocr")["blocks"] == []
    memo = payload("memo.wav", "transcript")
    assert memo["lang"] == "en" and "fox" in memo["blocks"][0]["text"].lower()
    assert 0.5 <= memo["blocks"][0]["start"] <= 1.5  # after the second of silence

    again = rs.run_and_wait("words", "--production", timeout=120)
    assert again.state == "completed", again.failures
    counts = by_step(rs, again.id)
    assert counts["ocr"]["reused"] == 2 and counts["transcribe"]["reused"] == 1
