"""Cataloging the fixture archive: what ``add`` records and what ``find``/``show`` answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.archive import Manifest
from tests.helpers import mstore

# as root, mode-000 entries are readable: those reasons only show for an unprivileged user
ROOT_READABLE = {"unreadable", "unreadable-dir"}


def jp(rel: str) -> str:
    """A manifest path as it appears in mstore's JSON ("root-name/relative", \\xNN escapes)."""
    return "archive/" + os.fsencode(rel).decode("utf-8", "backslashreplace")


@pytest.fixture(scope="module")
def rows(cataloged: tuple[Path, Path, Manifest]) -> list[dict]:
    store, _, _ = cataloged
    r = mstore("find", "--json", store=store)
    assert r.code == 0
    return r.json_lines()


@pytest.fixture(scope="module")
def by_path(rows: list[dict]) -> dict[str, dict]:
    return {p: row for row in rows for p in row["paths"]}


def test_every_file_is_an_asset_of_the_right_kind(cataloged, by_path) -> None:  # noqa: ANN001
    _, _, manifest = cataloged
    for rel, kind in manifest.files.items():
        assert jp(rel) in by_path, f"{rel!r} was not cataloged"
        assert by_path[jp(rel)]["kind"] == kind, rel


def test_clutter_is_ignored(cataloged, by_path) -> None:  # noqa: ANN001
    _, _, manifest = cataloged
    assert manifest.ignored
    for rel in manifest.ignored:
        assert jp(rel) not in by_path, rel


def test_duplicates_are_one_asset_with_several_paths(cataloged, by_path) -> None:  # noqa: ANN001
    _, _, manifest = cataloged
    assert manifest.duplicates
    for group in manifest.duplicates:
        ids = {by_path[jp(p)]["id"] for p in group}
        assert len(ids) == 1, group
        assert sorted(by_path[jp(group[0])]["paths"]) == sorted(jp(p) for p in group)


def test_hostile_entries_become_recorded_errors(cataloged) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    r = mstore("find", "error:", "--json", store=store)
    errors = {p: row["error"] for row in r.json_lines() for p in row["paths"]}
    expected = {p: why for p, why in manifest.hostile_errors.items() if why not in ROOT_READABLE}
    assert expected
    for rel, why in expected.items():
        assert jp(rel) in errors, f"no error recorded for {rel!r} ({why})"
        assert errors[jp(rel)] == why, rel
    status = mstore("status", "--json", store=store).json()
    assert status["errors"] >= len(expected)


def test_bad_content_is_an_asset_with_a_probe_error(cataloged, by_path) -> None:  # noqa: ANN001
    _, _, manifest = cataloged
    assert manifest.probe_errors
    for rel, why in manifest.probe_errors.items():
        row = by_path[jp(rel)]
        assert row["id"] and row["error"], rel
        if why == "truncated":  # a cut copy is flagged although its headers are whole
            assert row["error"].endswith(": truncated file"), (rel, row["error"])
            assert row["kind"] == manifest.files[rel]


def test_documents_are_a_kind_of_their_own(cataloged, by_path) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    pdfs = {jp(p) for p, kind in manifest.files.items() if kind == "document"}
    assert pdfs
    found = mstore("find", "kind:document", "--json", store=store).json_lines()
    assert {p for row in found for p in row["paths"]} == pdfs
    status = mstore("status", "--json", store=store).json()
    assert status["by_kind"]["document"] == len(pdfs)
    scan = mstore("show", "archive/documents/scan.pdf", store=store).out
    assert "pages      3" in scan and "text layer no" in scan


def test_takeout_sidecars_lend_time_and_place_and_say_so(cataloged, by_path) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    lent = [p for p, e in manifest.expected.items() if e.get("taken_source") == "sidecar"]
    assert lent
    with_sidecar = {p for row in mstore("find", "has:sidecar", "--json", store=store)
                    .json_lines() for p in row["paths"]}
    for rel in lent:
        assert jp(rel) in with_sidecar, rel
        row = by_path[jp(rel)]
        assert row["taken"] == manifest.expected[rel]["taken"][:19], rel
        meta = mstore("show", row["id"], "--json", store=store).json()["meta"]
        sidecars = {s for s, media in manifest.sidecars.items() if media == rel}
        if sidecars:  # an edited copy borrows its original's, which describes the original
            assert meta["sidecar_path"] in {jp(s) for s in sidecars}, rel
        human = mstore("show", row["id"], store=store).out
        assert "(from sidecar archive/" in human
    for sidecar, media in manifest.sidecars.items():  # and each JSON names what it describes
        if sidecar.endswith(".json"):
            shown = mstore("show", by_path[jp(sidecar)]["id"], "--json", store=store).json()
            assert {"relation": "sidecar-of", "root": "archive", "path": media,
                    "asset": by_path[jp(media)]["id"]} in shown["related"], sidecar


def test_probed_metadata(cataloged, by_path) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    checked = 0
    for rel, exp in manifest.expected.items():
        shown = mstore("show", by_path[jp(rel)]["id"], "--json", store=store).json()
        meta = shown["meta"]
        for key, want in exp.items():
            if key == "gps":
                if want is None:
                    assert meta.get("gps_lat") is None, rel
                else:
                    assert meta["gps_lat"] == pytest.approx(want[0], abs=1e-4), rel
                    assert meta["gps_lon"] == pytest.approx(want[1], abs=1e-4), rel
            elif key == "camera":
                row = by_path[jp(rel)]
                assert (row["camera"] or None) == want, rel
            elif key == "duration" and want is not None:
                assert meta["duration"] == pytest.approx(want, abs=0.25), rel
            elif key == "mime":
                assert shown["mime"] == want, rel
            else:
                assert meta.get(key) == want, (rel, key)
            checked += 1
    assert checked >= 10


def test_links_inside_the_archive_are_links_not_copies(cataloged, by_path) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    assert manifest.symlinks
    for link, target in manifest.symlinks.items():
        # never a path of the asset, so never an "exact duplicate" of its target
        assert jp(link) not in by_path
        asset = by_path[jp(target)]
        assert jp(link) not in asset["paths"]
        shown = mstore("show", asset["id"], "--json", store=store).json()
        assert [(lk["path"], lk["target"]) for lk in shown["links"]] == [(link, target)]
        assert all(p["path"] != link for p in shown["paths"])
        # the link itself: where it points and what that holds
        at = mstore("show", "archive/" + link, "--json", store=store).json()
        assert at["link"] == {"path": target, "asset": asset["id"]}
        assert [h["event"] for h in at["history"]] == ["link"]
        human = mstore("show", "archive/" + link, store=store).out
        assert f"-> archive/{target}" in human


def test_live_pairs_and_sidecars_are_linked(cataloged, by_path) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    assert manifest.live_pairs and manifest.sidecars
    live = {p for row in mstore("find", "has:live", "--json", store=store).json_lines()
            for p in row["paths"]}
    for image, video in manifest.live_pairs:
        assert jp(image) in live and jp(video) in live
        shown = mstore("show", by_path[jp(image)]["id"], "--json", store=store).json()
        assert any(r["relation"] == "live-pair" and "archive/" + r["path"] == jp(video)
                   for r in shown["related"])
    for sidecar, media in manifest.sidecars.items():
        shown = mstore("show", by_path[jp(media)]["id"], "--json", store=store).json()
        assert any(r["relation"] == "sidecar" and "archive/" + r["path"] == jp(sidecar)
                   for r in shown["related"]), (sidecar, shown["related"])
    assert manifest.motion_photos  # a picture carrying its own video is live on its own
    for rel in manifest.motion_photos:
        assert jp(rel) in live, rel
        assert "motion photo" in mstore("show", by_path[jp(rel)]["id"], store=store).out


def test_rescan_of_an_unchanged_archive_changes_nothing(cataloged) -> None:  # noqa: ANN001
    store, _, manifest = cataloged
    before = mstore("find", "--json", store=store).out
    r = mstore("add", "--json", store=store)
    s = r.json()
    assert (s["new"], s["changed"], s["moved"], s["missing"]) == (0, 0, 0, 0)
    assert s["unchanged"] >= len(manifest.files) - len(manifest.duplicates)
    assert s["bytes_hashed"] == 0
    assert mstore("find", "--json", store=store).out == before


def test_moves_changes_and_deletions(fresh_store: tuple[Path, Path]) -> None:
    store, root = fresh_store
    assert mstore("add", store=store).code == 0
    rows = [r for r in mstore("find", "kind:text", "--json", store=store).json_lines()
            if len(r["paths"]) == 1]
    moved, changed, deleted = (Path(root, r["paths"][0].split("/", 1)[1]) for r in rows[:3])
    old_ids = [r["id"] for r in rows[:3]]
    new_place = root / "elsewhere" / moved.name
    new_place.parent.mkdir()
    moved.rename(new_place)
    changed.write_bytes(changed.read_bytes() + b"one more line\n")
    deleted.unlink()
    s = mstore("add", "--json", store=store).json()
    assert (s["moved"], s["changed"], s["missing"], s["new"]) == (1, 1, 1, 0)
    # moved: same asset, new path, old path in its history
    shown = mstore("show", old_ids[0], "--json", store=store).json()
    current = [p["path"] for p in shown["paths"] if p["current"]]
    assert current == [os.fsdecode(new_place.relative_to(root))]
    gone = [p for p in shown["paths"] if not p["current"]]
    assert [h["event"] for h in gone[0]["history"]] == ["seen", "gone"]
    # changed in place: a new asset at the same path; the old content is missing
    shown = mstore("show", str(changed), "--json", store=store).json()
    assert shown["id"] != old_ids[1]
    events = shown["paths"][0]["history"]
    assert [(e["event"], e["asset"]) for e in events] == [("seen", old_ids[1]),
                                                        ("seen", shown["id"])]
    missing = {r["id"] for r in mstore("find", "missing:", "--json", store=store).json_lines()}
    assert missing == {old_ids[1], old_ids[2]}
    # a vanished file keeps its history
    shown = mstore("show", old_ids[2], "--json", store=store).json()
    assert shown["missing"] and shown["paths"][0]["history"][-1]["event"] == "gone"


def test_reindex_gives_identical_answers(cataloged, tmp_path: Path) -> None:  # noqa: ANN001
    import shutil

    from tests.helpers import catalog_answers

    store, _, _ = cataloged
    copy = tmp_path / "copy"
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns("local"))
    before = catalog_answers(store)
    assert mstore("reindex", store=copy).code == 0
    assert catalog_answers(copy) == before
    assert mstore("fsck", store=copy).code == 0
