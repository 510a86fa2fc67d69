"""The search page in a real headless Chromium: one box over text and catalog terms,
results with highlighted snippets and thumbnails, and the document's text on its page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_browser import (  # noqa: F401 - browser is a fixture
    browser,
    images_loaded,
    shot,
    watched_page,
)
from tests.integration.test_run_reading import run_all
from tests.integration.test_search import searched_store
from tests.integration.ui_server import UiServer


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    base = tmp_path_factory.mktemp("search-ui")
    archive = base / "archive"
    (archive / "photos").mkdir(parents=True)
    Image.new("RGB", (64, 48), (30, 90, 160)).save(archive / "photos" / "harbour-view.jpg")
    _, store = searched_store(base)
    run_all(store, "photos")
    server = UiServer(store)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, ui: UiServer) -> Iterator[Page]:  # noqa: F811
    with watched_page(browser, ui.url, console=False) as pg:
        yield pg


def test_one_box_finds_words_in_documents_and_names(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Search").click()
    page.get_by_label("search").fill("harbour")
    page.get_by_role("button", name="Search").click()
    hits = page.locator("li.hit")
    # four times in a short note, once in the letter, and a photo by its file name
    expect(hits).to_have_count(3)
    expect(hits.nth(0).locator(".caption")).to_have_text("boats.txt")
    expect(hits.nth(0).locator(".snippet mark").first).to_have_text("harbour")
    letter = page.locator("li.hit", has_text="letter.pdf")
    expect(letter.locator(".snippet mark")).to_have_text("harbour")
    expect(letter.locator(".where")).to_contain_text("page 3")
    photo = page.locator("li.hit", has_text="harbour-view.jpg")
    expect(photo.locator(".where")).to_contain_text("file name")
    assert images_loaded(page, "li.hit img") == 1  # the photo's thumbnail
    shot(page, "search")


def test_catalog_terms_narrow_a_text_search(page: Page) -> None:
    page.goto("/search?q=" + "cafe kind:document")
    expect(page.locator("li.hit")).to_have_count(1)
    expect(page.locator("li.hit .caption")).to_have_text("letter.pdf")
    expect(page.locator("li.hit .snippet mark")).to_have_text("café")


def test_a_bad_query_says_why(page: Page) -> None:
    page.goto("/search?q=text:")
    expect(page.locator("pre.error")).to_contain_text("text: needs a value")


def test_the_document_text_page_by_page(page: Page) -> None:
    page.goto("/search?q=" + '"the garden is blooming"')
    page.locator("li.hit .caption").click()
    panel = page.locator("#panel-doctext")
    expect(panel.locator(".doctext-page")).to_have_count(2)
    expect(panel.locator("#page-1 pre")).to_contain_text("the garden is blooming")
    expect(panel.locator("#page-3 pre")).to_contain_text("harbour boat")
    expect(panel).to_contain_text("pages without a text layer: 2")
    shot(page, "asset-doctext")


def test_what_was_typed_is_shown_as_text(page: Page) -> None:
    page.goto("/search?q=" + "%3Cscript%3Ealert(1)")
    expect(page.locator("p.summary")).to_contain_text("0 matches for <script>alert(1)")
