"""``find text:``: documents and text files made here, their text read by the doctext
tool in a run, searched through the full-text index in ``local/text``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mstore.query.textsearch import catch_up, index_path
from mstore.store.store import Store
from mstore.store.textindex import TextIndex
from tests.fixtures.archive import listing, make_pdf
from tests.helpers import mstore, mstore_on_terminal
from tests.integration.test_run_reading import run_all
from tests.integration.unprivileged import nobody_python, open_up, run_as_nobody  # noqa: F401

LETTER = ["Dear Anna,\nthe garden is blooming and the roses are out",
          None,  # a scanned page: no text layer
          "See you at the caf\u00e9 on Friday.\nWe are running late with the harbour boat."]


def write_archive(archive: Path) -> None:
    (archive / "docs").mkdir(parents=True)
    (archive / "docs" / "letter.pdf").write_bytes(make_pdf(texts=LETTER))
    (archive / "docs" / "menu-latin1.txt").write_bytes(
        "Cr\u00e8me br\u00fbl\u00e9e at the CAFE\n\nOpen every day".encode("latin-1"))
    (archive / "docs" / "gruss-utf16.txt").write_bytes(
        b"\xff\xfe" + "Viele Gr\u00fc\u00dfe aus M\u00fcnchen".encode("utf-16-le"))
    (archive / "notes").mkdir()
    (archive / "notes" / "boats.txt").write_text(
        "harbour harbour harbour: the boats in the harbour\n", encoding="utf-8")


def searched_store(base: Path, run: bool = True) -> tuple[Path, Path]:
    """(archive, store): the archive cataloged, its documents and text files through the
    doctext pipeline (``run``)."""
    archive, store = base / "archive", base / "store"
    write_archive(archive)
    assert mstore("init", "--store", store, archive).code == 0
    assert mstore("add", store=store).code == 0
    if run:
        run_all(store, "doctext")
    return archive, store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return searched_store(tmp_path_factory.mktemp("search"))[1]


def find(store: Path, *query: str) -> list[dict]:
    r = mstore("find", *query, "--json", store=store)
    assert r.code in (0, 1), r.err
    return r.json_lines()


def paths(store: Path, *query: str) -> list[str]:
    return [row["paths"][0].split("/", 1)[1] for row in find(store, *query)]


def match(row: dict) -> dict:
    (m,) = row["match"].values()
    return m


def test_a_phrase_is_found_on_its_page(world: Path) -> None:
    (row,) = find(world, 'text:"the garden is blooming"')
    assert row["paths"] == ["archive/docs/letter.pdf"]
    m = match(row)
    assert m["page"] == 1 and m["kind"] == "doctext" and m["artifact"]
    assert [m["snippet"][a:b] for a, b in m["marks"]] == ["the garden is blooming"]
    (row,) = find(world, 'text:"running late"')
    assert match(row)["page"] == 3


def test_text_files_in_latin1_and_utf16(world: Path) -> None:
    assert paths(world, "text:cr\u00e8me") == ["docs/menu-latin1.txt"]
    assert paths(world, "text:m\u00fcnchen") == ["docs/gruss-utf16.txt"]


def test_case_and_diacritics_do_not_matter(world: Path) -> None:
    both = ["docs/letter.pdf", "docs/menu-latin1.txt"]
    for value in ("cafe", "CAFE", "caf\u00e9", "CAF\u00c9"):
        assert sorted(paths(world, f"text:{value}")) == both, value
    assert paths(world, "text:munchen") == ["docs/gruss-utf16.txt"]
    assert paths(world, "text:CREME") == ["docs/menu-latin1.txt"]


def test_words_are_stemmed_and_a_star_is_a_prefix(world: Path) -> None:
    assert paths(world, "text:run") == ["docs/letter.pdf"]  # "running"
    assert paths(world, "text:bloss*") == []
    assert paths(world, "text:bloom*") == ["docs/letter.pdf"]


def test_a_phrase_needs_its_words_together_and_in_order(world: Path) -> None:
    assert paths(world, 'text:"garden blooming"') == []
    assert paths(world, 'text:"blooming garden"') == []
    assert paths(world, "text:garden", "text:blooming") == ["docs/letter.pdf"]
    # words on different pages of one document: each matches, the phrase does not
    assert paths(world, "text:garden", "text:friday") == ["docs/letter.pdf"]
    assert paths(world, 'text:"roses friday"') == []


def test_results_are_ranked_best_first(world: Path) -> None:
    # four "harbour"s in a short file beat one in a longer page
    assert paths(world, "text:harbour") == ["notes/boats.txt", "docs/letter.pdf"]
    assert paths(world, "kind:text", "text:harbour") == ["notes/boats.txt"]


@pytest.mark.parametrize("query", [
    ["text:harbour"], ["text:the"], ["kind:text", "text:harbour"], ["text:cafe", "-kind:document"],
    ["text:the", "path:docs/*"], ["text:nowhere"]])
def test_a_limited_ranked_query_gives_the_first_rows_of_the_whole_answer(
        world: Path, query: list[str]) -> None:
    """A limited query led by text: reads the best hits only as far as it needs them:
    the same rows, in the same order and with the same matches, as the whole answer's."""
    whole = find(world, *query)
    for limit in (1, 2, 10):
        assert find(world, *query, "--limit", str(limit)) == whole[:limit]
    assert whole or query == ["text:nowhere"]


def test_the_grid_shows_a_ranked_query_best_first(world: Path) -> None:
    """The UI's grid (its search box) orders a text: query as find does, not by path."""
    from mstore.ui.pages.assets import grid

    st = Store(world)
    try:
        count, _, tiles = grid(st, "text:harbour", 0, 60)
    finally:
        st.close()
    assert count == 2
    assert [t["path"].split("/", 1)[1] for t in tiles] == ["notes/boats.txt", "docs/letter.pdf"]


def test_file_names_are_searched_too(world: Path) -> None:
    (row,) = find(world, "text:gruss")
    assert match(row)["kind"] == "name" and match(row)["artifact"] is None
    assert match(row)["snippet"] == "gruss-utf16.txt"


def test_text_combines_with_other_terms(world: Path) -> None:
    assert paths(world, "text:cafe", "kind:document") == ["docs/letter.pdf"]
    assert paths(world, "text:cafe", "-kind:document") == ["docs/menu-latin1.txt"]
    assert paths(world, "text:cafe", "path:docs/menu*") == ["docs/menu-latin1.txt"]
    assert sorted(paths(world, "text:munchen", "OR", "text:roses")) == [
        "docs/gruss-utf16.txt", "docs/letter.pdf"]
    assert mstore("find", "text:cafe", "--count", store=world).out.strip() == "2"


@pytest.mark.parametrize(("value", "message"), [
    ("text:", "text: needs a value"),
    ("text:*", "text: needs a word or a quoted phrase"),
    ('text:"?!"', "has no letter or digit to search for"),
])
def test_bad_values_are_one_clear_message(world: Path, value: str, message: str) -> None:
    r = mstore("find", value, store=world)
    assert r.code == 2
    first, *rest = r.err.splitlines()
    assert first.startswith("mstore: ") and message in first
    assert "Traceback" not in r.err and len(rest) == 2  # the query and a caret under it


QUERIES = ["text:cafe", "text:harbour", 'text:"the garden is blooming"', "text:gruss",
           "text:m\u00fcnchen"]


def test_the_index_deleted_is_rebuilt_with_the_same_answers(world: Path) -> None:
    before = {q: find(world, q) for q in QUERIES}
    assert all(before.values())
    shutil.rmtree(index_path(Store(world)).parent)
    assert {q: find(world, q) for q in QUERIES} == before
    assert index_path(Store(world)).exists()


def test_a_damaged_index_file_is_rebuilt(tmp_path: Path) -> None:
    archive, store = searched_store(tmp_path)
    path = index_path(Store(store))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not an SQLite database" * 100)
    r = mstore("find", "text:cafe", store=store)
    assert r.code == 0 and "text index is damaged" in r.err
    assert len(r.out.splitlines()) == 2


def test_a_later_run_reaches_the_index_incrementally(tmp_path: Path) -> None:
    archive, store = searched_store(tmp_path)
    assert paths(store, "text:lighthouse") == []
    records = Store(store).layout.records
    segments_before = len(list(records.rglob("*.seg")))  # all of them are indexed
    (archive / "docs" / "trip.pdf").write_bytes(make_pdf(texts=["The old lighthouse keeper"]))
    mstore("add", store=store)
    run_all(store, "doctext")
    new_segments = len(list(records.rglob("*.seg"))) - segments_before
    assert new_segments > 0
    # only the new segments are read: the index keeps what it had
    ti = TextIndex(index_path(Store(store)))
    docs_before = ti.document_count()
    st = Store(store)
    try:
        assert catch_up(st, ti) == new_segments
        assert ti.document_count() > docs_before
        assert catch_up(st, ti) == 0
    finally:
        st.close()
        ti.close()
    (row,) = find(store, 'text:"lighthouse keeper"')
    assert row["paths"] == ["archive/docs/trip.pdf"] and match(row)["page"] == 1


def test_a_renamed_file_is_found_by_its_new_name(tmp_path: Path) -> None:
    archive, store = searched_store(tmp_path, run=False)
    assert paths(store, "text:boats") == ["notes/boats.txt"]
    (archive / "notes" / "boats.txt").rename(archive / "notes" / "ships.txt")
    mstore("add", store=store)
    assert paths(store, "text:boats") == []
    assert paths(store, "text:ships") == ["notes/ships.txt"]


def test_reindex_drops_the_text_index_and_a_search_rebuilds_it(world: Path) -> None:
    before = {q: find(world, q) for q in QUERIES}
    path = index_path(Store(world))
    assert path.exists()
    assert mstore("reindex", store=world).code == 0
    assert not path.exists()
    assert {q: find(world, q) for q in QUERIES} == before


def test_another_users_store_is_searched_without_writing_it(
        nobody_python: list[str], tmp_path: Path) -> None:  # noqa: F811
    _, store = searched_store(tmp_path)
    as_root = find(store, "text:cafe")
    shutil.rmtree(index_path(Store(store)).parent)  # nobody builds one of its own
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(tmp_path)], check=True)
    open_up(tmp_path)
    before = listing(store)
    r = run_as_nobody(nobody_python, "--store", store, "find", "text:cafe", "--json")
    assert r.code == 0, r.err
    assert [json.loads(line) for line in r.out.splitlines()] == as_root
    assert listing(store) == before


def test_text_of_artifacts_gc_dropped_is_no_longer_found(tmp_path: Path) -> None:
    _, store = searched_store(tmp_path, run=False)
    # an expired sandbox run, searched once before gc (so the index holds its text)
    run_all(store, "doctext", policy="sandbox", sample="100%", ttl_days=-3)
    assert sorted(paths(store, "text:cafe")) == ["docs/letter.pdf", "docs/menu-latin1.txt"]
    rep = mstore("gc", "--json", store=store).json()
    assert rep["dropped"] == 4
    assert paths(store, "text:cafe") == []
    assert paths(store, "text:gruss") == ["docs/gruss-utf16.txt"]  # its name stays
    run_all(store, "doctext")  # made again: found again
    assert sorted(paths(store, "text:cafe")) == ["docs/letter.pdf", "docs/menu-latin1.txt"]


def test_a_long_first_build_shows_its_progress_on_a_terminal(tmp_path: Path) -> None:
    """The first ``text:`` search over a store of many record segments reads them all:
    on a terminal, stderr carries one self-rewriting line meanwhile, cleared before the
    answer; piped, there is none."""
    from mstore.cli.progress import IndexingLine
    from mstore.model.records import Label

    _archive, store = searched_store(tmp_path, run=False)
    st = Store(store)
    try:
        for i in range(IndexingLine.LEAST + 20):  # a segment each
            st.write_records([Label(hlc=0, asset="ab" * 32, key="note", value=str(i))])
    finally:
        st.close()
    code, out, seen = mstore_on_terminal("find", "text:boats", store=store)
    assert code == 0 and b"notes/boats.txt" in out  # found by its name
    assert b"\rindexing: " in seen and b" segments of records" in seen
    assert seen.endswith(b"\r\x1b[K")
    shutil.rmtree(index_path(Store(store)).parent)  # the index again from nothing, piped
    piped = mstore("find", "text:boats", store=store)
    assert piped.code == 0 and "boats.txt" in piped.out and "indexing" not in piped.err
