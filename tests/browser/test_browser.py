"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

One store over the session archive with photos and dedupe results made beforehand; the
UI runs as ``mstore ui`` in its own process, like a person would start it. The live test
starts a run on the embedded Temporal server (``mstore run`` starts it) and watches the
page change without a reload. Screenshots of the main pages are saved under
``build/test-artifacts/screenshots/`` (or ``$MSTORE_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.helpers import REPO, mstore, mstore_proc
from tests.integration.temporal_env import free_port, make_store
from tests.integration.test_run_reading import run_all
from tests.integration.ui_server import UiServer

ARTIFACTS = Path(os.environ.get("MSTORE_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
SHOTS = ARTIFACTS / "screenshots"
TIMEOUT_MS = 20_000
LIVE_PIPELINE = """\
name = "slowthumbs"
description = "thumbnails, then a pause per photo: slow enough to watch"

[[steps]]
name = "thumbnail"
tool = "thumbnail"
kinds = ["image"]
params = { size = 96 }

[[steps]]
name = "wait"
tool = "noop"
kinds = ["image"]
needs = ["thumbnail"]
params = { sleep = 1.0 }
"""


def chromium_path() -> str:
    for candidate in (os.environ.get("MSTORE_CHROMIUM"), "/usr/bin/chromium",
                      "/usr/bin/chromium-browser"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no chromium: `make test` installs Debian's chromium package "
                       "(or set MSTORE_CHROMIUM to a Chromium binary)")


class World:
    def __init__(self, store: Path, ui: UiServer) -> None:
        self.store, self.ui = store, ui


@pytest.fixture(scope="module")
def world(archive: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    base = tmp_path_factory.mktemp("browser")
    # the embedded server on ports of its own (no address: `mstore run` starts it)
    rs = make_store(base, archive[0], None, temporal_toml=(
        f"port = {free_port()}\nui_port = {free_port()}\n"))
    run_all(rs.path, "photos")
    run_all(rs.path, "dedupe")
    (rs.path / "pipelines").mkdir(exist_ok=True)
    (rs.path / "pipelines" / "slowthumbs.toml").write_text(LIVE_PIPELINE)
    ui = UiServer(rs.path)
    try:
        yield World(rs.path, ui)
    finally:
        ui.stop()
        subprocess.run([sys.executable, "-m", "mstore", "--store", str(rs.path), "server",
                        "stop"], cwd=REPO, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-extensions",
            "--no-first-run", "--disable-sync"])
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def watched_page(browser: Browser, base_url: str, *, console: bool = True
                 ) -> Iterator[Page]:
    """A page of a fresh context on ``base_url`` that collects script errors, failed
    sub-resources and (``console``) console errors, and fails the test if any came."""
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    if console:
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error"
              and not m.text.startswith("Failed to load resource") else None)
    # a page may answer 4xx on purpose (a bad query); a sub-resource must not fail
    pg.on("response", lambda r: errors.append(f"{r.status} {r.url}")
          if r.status >= 400 and r.request.resource_type != "document" else None)
    yield pg
    ctx.close()
    # a script error, a CSP violation or a broken image is a bug the person would hit
    assert errors == [], errors


@pytest.fixture
def page(browser: Browser, world: World) -> Iterator[Page]:
    with watched_page(browser, world.ui.url) as pg:
        yield pg


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def images_loaded(page: Page, selector: str) -> int:
    """How many of the images matching ``selector`` decoded (naturalWidth > 0)."""
    return page.eval_on_selector_all(
        selector, "els => els.filter(e => e.complete && e.naturalWidth > 0).length")


def find_count(world: World, query: str) -> int:
    return len(mstore("find", query, "--json", store=world.store).json_lines())


# -- tests ---------------------------------------------------------------------------------
def test_grid_filter_open_asset(page: Page, world: World) -> None:
    page.goto("/")
    expect(page.locator("p.summary")).to_contain_text("match")
    page.wait_for_load_state("networkidle")
    assert images_loaded(page, "li.tile img") > 0  # thumbnails from thumbnail artifacts
    # a sidecar is a badge on its photo's tile, and each tile names its folder
    photo = page.locator("li.tile").filter(
        has=page.locator(".caption", has_text=re.compile(r"^IMG_0001\.JPG$")))
    expect(photo).to_have_count(1)
    expect(photo.locator(".sidecars")).to_have_text("+ XMP")
    expect(photo.locator(".folder")).to_have_text("archive/2019/vacation")
    expect(page.locator("li.tile .caption", has_text=".xmp")).to_have_count(0)
    shot(page, "assets")
    page.fill("input[name=q]", "vacation")
    page.select_option("select[name=kind]", "image")
    page.click("form.search button")
    page.wait_for_url(re.compile(r"kind=image"))
    n = find_count(world, "(vacation) kind:image")
    assert n > 0
    expect(page.locator("p.summary")).to_contain_text(f"{n} match")
    expect(page.locator("li.tile")).to_have_count(n)
    # a bad query shows where it went wrong, not a blank page
    page.fill("input[name=q]", "taken:2019..banana")
    page.click("form.search button")
    expect(page.locator("pre.error")).to_contain_text("banana")
    page.go_back()
    page.locator("li.tile a").first.click()
    page.wait_for_url(re.compile(r"/asset/[0-9a-f]{64}$"))
    expect(page).to_have_title(re.compile(r"^[^/]+\.\w+ \(archive/[^)]*\) · mstore$"))
    expect(page.locator("#panel-metadata")).to_contain_text("dimensions")
    page.wait_for_load_state("networkidle")
    assert images_loaded(page, "#panel-preview img") == 1  # the file itself, read-only
    shot(page, "asset")


def test_follow_lineage_both_ways(page: Page, world: World) -> None:
    page.goto("/?q=IMG_0002&kind=image")
    page.locator("li.tile a").first.click()
    # from the asset to its phash artifact (the row names tool and version)
    page.locator("#panel-artifacts li", has_text="phash@").locator(
        "a[href^='/artifact/']").first.click()
    expect(page.locator("dl.facts").first).to_contain_text("phash@")
    shot(page, "artifact")
    # up: the thumbnail it was made from
    page.locator("#panel-lineage li", has_text="thumbnail@").locator(
        "a[href^='/artifact/']").first.click()
    expect(page.locator("dl.facts").first).to_contain_text("thumbnail@")
    # down again: what was made from the thumbnail
    derived = page.locator("#panel-lineage li", has_text="phash@")
    expect(derived).to_have_count(1)
    derived.locator("a[href^='/artifact/']").click()
    expect(page.locator("dl.facts").first).to_contain_text("phash@")
    # and to the run that made it, with everything it made
    page.locator("dl.facts").first.locator("a[href^='/run/']").first.click()
    expect(page.locator("#panel-coverage")).to_contain_text("phash")
    page.wait_for_load_state("networkidle")
    assert images_loaded(page, "#panel-gallery img") > 0
    shot(page, "run")


def test_review_a_duplicate_group(page: Page, world: World) -> None:
    page.goto("/review")  # the address from before the review moved into its tool
    group = page.locator("section.group", has_text="near").first
    expect(group).to_be_visible()
    shot(page, "review")
    items = group.locator("li.item")
    assert items.count() >= 3
    keep_id = items.nth(0).get_attribute("data-asset")
    drop_id = items.nth(1).get_attribute("data-asset")
    items.nth(0).get_by_label("keep", exact=True).check()
    items.nth(1).get_by_label("not keep").check()
    group.get_by_role("button", name="Save marks").click()
    page.wait_for_load_state("load")
    group = page.locator(f"li.item[data-asset='{drop_id}']").first
    expect(group).to_have_attribute("data-mark", "not-keep")
    expect(page.locator(f"li.item[data-asset='{keep_id}']").first).to_have_attribute(
        "data-mark", "keep")
    # the marks are labels in the store, readable by the CLI
    shown = mstore_proc("show", drop_id, "--json", store=world.store).json()
    assert [(lb["key"], lb["value"]) for lb in shown["labels"]] == [("keep", "not-keep")]
    page.goto(f"/asset/{drop_id}")
    expect(page.locator("#panel-duplicates")).to_contain_text("keep = not-keep")

    # the header's Review link (the duplicates tool's page, loading the tool's own script)
    # and the keyboard: j moves on (into the next group), 2 marks "not keep", s saves
    page.locator("header nav").get_by_role("link", name="Review", exact=True).click()
    page.wait_for_url(re.compile(r"/tool/duplicates/review$"))
    near_items = page.locator("section.group").first.locator("li.item").count()
    for _ in range(near_items):
        page.keyboard.press("j")
    second = page.locator("section.group").nth(1)
    first_of_second = second.locator("li.item").first
    expect(first_of_second).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("2")
    page.keyboard.press("s")
    page.wait_for_url(re.compile(r"#group-2$"))
    second = page.locator("section.group").nth(1)
    expect(second.locator("li.item").first).to_have_attribute("data-mark", "not-keep")
    expect(second.locator("li.item").first).to_have_class(re.compile(r"\bcurrent\b"))
    group_id = second.get_attribute("data-group")
    asset = second.locator("li.item").first.get_attribute("data-asset")
    labels = mstore_proc("show", asset, "--json", store=world.store).json()["labels"]
    assert any(lb["about"] == group_id and lb["value"] == "not-keep" for lb in labels), labels


def test_collection_from_a_query_then_freeze(page: Page, world: World) -> None:
    page.goto("/?q=path%3A2019%2F")
    n = find_count(world, "(path:2019/)")
    page.fill("form.save input[name=name]", "browser-2019")
    page.click("form.save button")
    page.wait_for_url(re.compile(r"/collection/browser-2019$"))
    expect(page.locator("h1")).to_contain_text("dynamic")
    expect(page.locator("li.tile")).to_have_count(n)
    page.get_by_role("button", name=re.compile("freeze")).click()
    expect(page.locator("h1")).to_contain_text("frozen")
    page.goto("/collections")
    expect(page.locator("tr", has_text="browser-2019")).to_contain_text("frozen")
    shot(page, "collections")


def test_start_a_run_watch_it_then_cancel_it(page: Page, world: World) -> None:
    # from the grid's query to the start form, then a production run of the slow pipeline
    # (the UI starts the embedded Temporal server and a worker, as `mstore run` does)
    page.goto("/?kind=image")
    page.get_by_role("link", name="Try a pipeline on these").click()
    expect(page.locator("form.start input[name=q]")).to_have_value("kind:image")
    page.select_option("form.start select[name=pipeline]", "slowthumbs")
    page.check("form.start input[value=production]")
    shot(page, "runs-start")
    with page.expect_navigation(url=re.compile(r"/run/r\d"), timeout=90_000):
        page.click("form.start button")

    run_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator("dl.facts").first).to_contain_text("slowthumbs (production)")

    # the run page: results appear without a reload
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    before = page.locator("#panel-gallery img").count()
    page.wait_for_function(
        f"() => document.querySelectorAll('#panel-gallery img').length > {before}",
        timeout=60_000)
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "run-live")

    # the dashboard: the progress bar and throughput move without a reload
    page.goto("/runs")
    row = page.locator(f"tr[data-run='{run_id}']")
    expect(row).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    first = int(row.locator("progress").get_attribute("value") or 0)
    page.wait_for_function(
        f"() => +document.querySelector(\"tr[data-run='{run_id}'] progress\").value > {first}",
        timeout=60_000)
    expect(row.locator("[data-field=throughput]")).not_to_have_text("0.00/s")
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "runs-live")

    # pause and resume it from its page, then stop it while it goes
    total = int(row.locator("progress").get_attribute("max") or 0)
    assert int(row.locator("progress").get_attribute("value") or 0) < total
    page.goto(f"/run/{run_id}")
    page.get_by_role("button", name="pause").click()
    expect(page.locator("[data-run-state]")).to_have_text("paused")
    page.get_by_role("button", name="resume").click()
    expect(page.locator("[data-run-state]")).to_have_text("running")
    page.get_by_role("button", name="cancel").click()
    page.wait_for_url(re.compile(f"/run/{run_id}$"))
    expect(page.locator("[data-run-state]")).to_have_text("cancelled", timeout=60_000)
    shot(page, "run-cancelled")
    view = mstore_proc("show", run_id, "--json", store=world.store).json()
    assert view["state"] == "cancelled" and view["done"] < view["total"]
    # the UI process itself never loaded the Temporal SDK: its buttons ran `mstore`
    maps = Path(f"/proc/{world.ui.proc.pid}/maps").read_text()
    assert "temporalio" not in maps and "temporal_sdk" not in maps
