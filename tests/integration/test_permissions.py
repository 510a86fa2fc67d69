"""Permission errors, seen as an unprivileged user (root reads mode-000 files)."""

from __future__ import annotations

import pwd
import shutil
from pathlib import Path

from tests.fixtures.archive import build_archive, listing, make_readonly, make_writable
from tests.integration.unprivileged import NOBODY, open_up, run_as_nobody, shown


def test_unreadable_files_and_dirs_become_errors_as_nobody(
        nobody_python: list[str], tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    manifest = build_archive(root, hostile=True, seed=3)
    make_readonly(root)
    open_up(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    shutil.chown(store, NOBODY)
    before = listing(root)
    try:
        r = run_as_nobody(nobody_python, "init", "--store", store / "st", root)
        assert r.code == 0, r.err
        r = run_as_nobody(nobody_python, "--store", store / "st", "add", "--json")
        assert r.code == 0, r.err
        errors = run_as_nobody(nobody_python, "--store", store / "st", "find", "error:",
                               "--json")
        by_path = {row["paths"][0].split("/", 1)[1]: row["error"] for row in errors.json_lines()}
        unreadable = [shown(p) for p, why in manifest.hostile_errors.items()
                      if why.startswith("unreadable")]
        assert unreadable, "the fixture archive has unreadable entries"
        for p in unreadable:
            assert p in by_path, f"{p} not reported; errors: {sorted(by_path)}"
            assert by_path[p].startswith("unreadable")
        # everything readable was still cataloged (files owned by root: no O_NOATIME for nobody)
        rows = run_as_nobody(nobody_python, "--store", store / "st", "find", "--json")
        paths = {p.split("/", 1)[1] for row in rows.json_lines() for p in row["paths"]}
        missing = [f for f in manifest.files if shown(f) not in paths]
        assert not missing, missing[:5]
    finally:
        assert listing(root) == before
        make_writable(root)


def test_a_folder_that_can_be_read_again_is_not_an_error_any_more(
        nobody_python: list[str], tmp_path: Path) -> None:
    """An unreadable folder is an error, and its cataloged files are not recorded missing
    (nobody can tell); readable again, its files are seen and the error goes (it stayed)."""
    root = tmp_path / "archive"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "a.txt").write_text("in the folder\n")
    (root / "open.txt").write_text("beside it\n")
    open_up(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    shutil.chown(store, NOBODY)
    st = [nobody_python, "--store", store / "st"]
    try:
        assert run_as_nobody(nobody_python, "init", "--store", store / "st", root).code == 0
        assert run_as_nobody(*st, "add").code == 0
        (root / "locked").chmod(0o000)
        r = run_as_nobody(*st, "add", "--json")
        assert (r.code, r.json()["missing"], r.json()["errors"]) == (0, 0, 1), r.err
        errors = run_as_nobody(*st, "find", "error:", "--json").json_lines()
        assert [(e["paths"][0], e["error"]) for e in errors] == [
            ("archive/locked", "unreadable-dir")]
        (root / "locked").chmod(0o755)
        r = run_as_nobody(*st, "add", "--json")
        assert (r.code, r.json()["missing"], r.json()["errors"]) == (0, 0, 0), r.err
        assert run_as_nobody(*st, "find", "error:").code == 1
        assert run_as_nobody(*st, "status", "--json").json()["errors"] == 0
    finally:
        (root / "locked").chmod(0o755)


def test_nobody_is_a_real_unprivileged_user() -> None:
    assert pwd.getpwnam(NOBODY).pw_uid != 0
