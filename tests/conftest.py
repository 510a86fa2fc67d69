"""Fixtures: a generated archive (made read-only for the whole session), stores over it and
a second host over real ssh."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.archive import Manifest, build_archive, listing, make_readonly, make_writable
from tests.fixtures.sshd import SshHost, start_ssh_host
from tests.helpers import mstore


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Manifest]]:
    """The shared fixture archive, read-only; the session checks it was never modified."""
    root = tmp_path_factory.mktemp("archive-ro") / "archive"
    root.mkdir()
    manifest = build_archive(root, hostile=True, seed=0)
    make_readonly(root)
    before = listing(root)
    yield root, manifest
    after = listing(root)
    make_writable(root)
    assert after == before, "the archive was modified"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cataloged(archive: tuple[Path, Manifest], tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, Path, Manifest]:
    """A store (outside the archive) after one ``mstore add``: (store, archive root, manifest).
    Tests must not modify it; use ``fresh_store`` for that."""
    root, manifest = archive
    store = tmp_path_factory.mktemp("store") / "st"
    assert mstore("init", "--store", store, root).code == 0
    r = mstore("add", "--json", store=store)
    assert r.code == 0, r.err
    return store, root, manifest


@pytest.fixture
def writable_archive(tmp_path: Path) -> tuple[Path, Manifest]:
    """A private, writable archive for tests that move, change and delete files."""
    root = tmp_path / "archive"
    root.mkdir()
    return root, build_archive(root, hostile=False, seed=1)


@pytest.fixture
def fresh_store(tmp_path: Path, writable_archive: tuple[Path, Manifest]) -> tuple[Path, Path]:
    root, _ = writable_archive
    store = tmp_path / "store"
    assert mstore("init", "--store", store, root).code == 0
    return store, root


@pytest.fixture(scope="session")
def ssh_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHost]:
    """A second host over real ssh to 127.0.0.1 (tests/fixtures/sshd.py), for the session."""
    host = start_ssh_host(tmp_path_factory.mktemp("sshd"))
    yield host
    host.close()
