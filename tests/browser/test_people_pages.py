"""The people pages in a real headless Chromium: the People page (a face per person, a
name given inline, merging by selecting, unnamed first or last), a person's page (their
photos and videos; "not this person"), and the face boxes on an asset's page. A store over
real faces (tests/fixtures/faces.py) with the photos and people pipelines run in-process;
the UI is ``mstore ui`` in its own process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_browser import World, browser, page, shot  # noqa: F401 - fixtures
from tests.fixtures.faces import faces_archive
from tests.helpers import mstore_proc
from tests.integration.temporal_env import make_store
from tests.integration.test_run_reading import run_all
from tests.integration.ui_server import UiServer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("people-ui")
    root = base / "archive"
    faces_archive(root)
    rs = make_store(base, root, None)
    run_all(rs.path, "photos")
    run_all(rs.path, "people")
    ui = UiServer(rs.path)
    try:
        yield World(rs.path, ui)
    finally:
        ui.stop()


def people_json(store: Path) -> list[dict]:
    r = mstore_proc("people", "--json", store=store)
    assert r.code == 0, r.err
    return r.json()["people"]


def asset_id(store: Path, name: str) -> str:
    r = mstore_proc("find", f"path:{name}", "--json", store=store)
    return r.json_lines()[0]["id"]


def test_people_pages(page: Page, world: World) -> None:  # noqa: F811
    before = people_json(world.store)
    assert len(before) == 2
    a1 = asset_id(world.store, "a1.jpg")
    eileen = mstore_proc("show", a1, "--json", store=world.store).json()["faces"][0]["person"]
    grace = next(p["id"] for p in before if p["id"] != eileen)

    # the face boxes over an asset's picture, each a link to its person
    page.goto(f"/asset/{a1}")
    box = page.locator("#panel-faces a.facebox")
    expect(box).to_have_count(1)
    assert box.get_attribute("data-person") == eileen
    shot(page, "asset-faces")
    page.locator("#panel-faces .facelist a").first.click()
    page.wait_for_url(re.compile(rf"/tool/people/person\?id={eileen}$"))
    expect(page.locator("ul.grid li.tile")).to_have_count(3)

    # name her inline on the People page
    page.goto("/people")
    page.wait_for_url(re.compile(r"/tool/people$"))
    tiles = page.locator("li.person")
    expect(tiles).to_have_count(2)
    shot(page, "people")
    tile = page.locator(f"li.person[data-person='{eileen}']")
    tile.get_by_label(f"name of {eileen}").fill("Eileen Collins")
    tile.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    expect(page.locator(f"li.person[data-person='{eileen}'] input[name=name]")).to_have_value(
        "Eileen Collins")
    assert {p["id"]: p["name"] for p in people_json(world.store)}[eileen] == "Eileen Collins"

    # the search box takes the person terms
    page.goto('/?q=person%3A%22eileen+collins%22')
    expect(page.locator("ul.grid li.tile")).to_have_count(3)
    page.goto("/?q=person%3A%3F")
    expect(page.locator("ul.grid li.tile")).to_have_count(3)  # grace: two photos, a video

    page.goto("/people")
    # named first by default, unnamed first on request
    assert page.locator("li.person").first.get_attribute("data-person") == eileen
    page.get_by_role("link", name="unnamed first").click()
    page.wait_for_load_state("load")
    assert page.locator("li.person").first.get_attribute("data-person") == grace

    # merge by selecting both: the named one is kept
    for pid in (eileen, grace):
        page.locator(f"li.person[data-person='{pid}'] input[type=checkbox]").check()
    page.get_by_role("button", name="Merge selected").click()
    page.wait_for_url(re.compile(rf"/tool/people/person\?id={eileen}$"))
    expect(page.locator("h1")).to_have_text("Eileen Collins")
    expect(page.locator("ul.grid li.tile")).to_have_count(6)
    assert [p["id"] for p in people_json(world.store)] == [eileen]

    # remove a wrong face: "not this person" is a split label
    g1 = asset_id(world.store, "g1.jpg")
    page.locator(f"li.tile[data-asset='{g1}']").get_by_role(
        "button", name="Not Eileen Collins").click()
    page.wait_for_url(re.compile(rf"/tool/people/person\?id={eileen}$"))
    expect(page.locator("ul.grid li.tile")).to_have_count(5)
    expect(page.locator(f"li.tile[data-asset='{g1}']")).to_have_count(0)
    shown = mstore_proc("show", g1, "--json", store=world.store).json()
    assert any(lb["key"].startswith(f"face-not:{eileen}:") and lb["value"] == eileen
               for lb in shown["labels"]), shown["labels"]
    # the merge that put it here is undone for this face: it is back where it was
    assert shown["faces"][0]["person"] == grace
    assert {p["id"]: p["assets"] for p in people_json(world.store)} == {eileen: 5, grace: 1}
