"""Look-alikes in a real headless Chromium: the "Similar photos" panel on an asset page
and the best-shot suggestion in the duplicate review, over photo-like scenes and their
copies (tests/scenes.py) with the photos, similar and dedupe pipelines run beforehand."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_browser import World, browser, images_loaded, page, shot  # noqa: F401
from tests.helpers import mstore
from tests.integration.temporal_env import make_store
from tests.integration.test_run_reading import run_all
from tests.integration.ui_server import UiServer
from tests.scenes import blurred, jpeg, scene, write_with_variants


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("similar-ui")
    root = base / "archive"
    for seed in range(3):
        d = root / f"scene{seed}"
        write_with_variants(scene(seed), d / "photo.jpg", lambda n, d=d: d / f"{n}.jpg")
    (root / "scene0" / "burst-missed.jpg").write_bytes(jpeg(blurred(scene(0))))
    rs = make_store(base, root, "127.0.0.1:1")  # runs are executed here: no server needed
    for pipeline in ("photos", "similar", "dedupe"):
        run_all(rs.path, pipeline)
    ui = UiServer(rs.path)
    try:
        yield World(rs.path, ui)
    finally:
        ui.stop()


def ids(world: World) -> dict[str, str]:
    rows = mstore("find", "--json", store=world.store).json_lines()
    return {p.split("/", 1)[1]: r["id"] for r in rows for p in r["paths"]}


def test_similar_photos_panel(page: Page, world: World) -> None:  # noqa: F811
    by_path = ids(world)
    page.goto(f"/asset/{by_path['scene1/photo.jpg']}")
    panel = page.locator("#panel-similar")
    expect(panel).to_be_visible()
    tiles = panel.locator("li.tile")
    expect(tiles).to_have_count(len(by_path) - 1)  # every other photo, nearest first
    # its three copies come first
    first = {tiles.nth(i).locator("a").get_attribute("title").split("/")[-2] for i in range(3)}
    assert first == {"scene1"}, first
    page.wait_for_load_state("networkidle")
    assert images_loaded(page, "#panel-similar img") == len(by_path) - 1
    shot(page, "similar-panel")
    # a tile leads to that photo's page, whose panel lists the first photo among its nearest
    tiles.first.locator("a").click()
    page.wait_for_url(re.compile(r"/asset/[0-9a-f]{64}$"))
    near = page.locator("#panel-similar li.tile a")
    hrefs = [near.nth(i).get_attribute("href") for i in range(3)]
    assert f"/asset/{by_path['scene1/photo.jpg']}" in hrefs
    # and the link to the grid shows the same answer, nearest first
    page.locator("#panel-similar").get_by_role("link", name="All look-alikes in the grid").click()
    expect(page.locator("p.summary")).to_contain_text(f"{len(by_path) - 1} match")


def test_review_suggests_the_sharp_shot(page: Page, world: World) -> None:  # noqa: F811
    by_path = ids(world)
    page.goto("/tool/duplicates/review")
    missed = by_path["scene0/burst-missed.jpg"]
    group = page.locator("section.group", has=page.locator(f"li.item[data-asset='{missed}']"))
    expect(group).to_have_count(1)
    expect(group.locator("h2")).to_contain_text("best shot suggested by quality")
    badge = group.locator("li.item .best-shot")
    expect(badge).to_have_count(1)
    best = group.locator("li.item[data-suggested=best]").get_attribute("data-asset")
    # the blurred frame of the burst is never the suggestion, nor the downscaled copy
    assert best not in (missed, by_path["scene0/resized.jpg"])
    expect(group.locator(f"li.item[data-asset='{missed}'] .why")).to_contain_text("quality")
    shot(page, "review-best-shot")
