"""Names mstore writes are taken exactly; the names sync tools really write beside them are
told apart, with the tool that wrote them and, for a conflict copy, its original."""

from __future__ import annotations

import pytest

from mstore.store.foreign import identify
from mstore.store.storenames import is_lane, is_loose_name, is_pack_name, segment_seq

HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize(("name", "tool", "copy_of"), [
    (f"{HEX}.sync-conflict-20240101-120000-ABCDEFG.pack", "Syncthing", f"{HEX}.pack"),
    ("0000000003.sync-conflict-20231224-235959-Q2ZRW7L.seg", "Syncthing", "0000000003.seg"),
    (f"{HEX}.sync-conflict-20240101-120000-ABCDEFG", "Syncthing", HEX),  # a loose object
    ("0000000003.sync-conflict-20140101-120000.seg", "Syncthing", "0000000003.seg"),  # old
    (".syncthing.0000000004.seg.tmp", "Syncthing", None),
    ("~syncthing~0000000004.seg.tmp", "Syncthing", None),
    (".stfolder", "Syncthing", None),
    (".stversions", "Syncthing", None),
    ("0000000003 (nas's conflicted copy 2024-01-01).seg", "Dropbox", "0000000003.seg"),
    ("0000000003 (nas's conflicted copy 2024-01-01 (1)).seg", "Dropbox", "0000000003.seg"),
    ("0000000003 (Case Conflict).seg", "Dropbox", "0000000003.seg"),
    (".dropbox.cache", "Dropbox", None),
    (".dropbox", "Dropbox", None),
    ("0000000003 (conflicted copy 2018-04-10 093612).seg", "Nextcloud", "0000000003.seg"),
    ("0000000003_conflict-20180410-093612.seg", "ownCloud", "0000000003.seg"),
    (".0000000003.seg.~5b2a", "Nextcloud/ownCloud", None),
    (".sync_2a8e1f3c0d4b.db", "Nextcloud/ownCloud", None),
    (".sync_2a8e1f3c0d4b.db-wal", "Nextcloud/ownCloud", None),
    ("._sync_2a8e1f3c0d4b.db", "Nextcloud/ownCloud", None),
    (".owncloudsync.log", "Nextcloud/ownCloud", None),
    (f"{HEX}.pack.!sync", "Resilio Sync", None),
    (".sync", "Resilio Sync", None),
    ("0000000003.Conflict.seg", "Resilio Sync", "0000000003.seg"),
    (f"{HEX}.pack.rsls", "Resilio Sync", None),
    (".0000000003.seg.Xa12Bc", "rsync", None),
    (f".{HEX}.pack.q8ZtR1", "rsync", None),
    (".0000000003.seg.4711-8812345.tmp", "mstore", None),
    ("0000000003 (1).seg", "Google Drive", "0000000003.seg"),
    (".DS_Store", "the operating system", None),
    ("._0000000003.seg", "the operating system", None),
    (f"{HEX}.pack.part", "a download or copy tool", None),
    ("0000000003.seg.partial", "a download or copy tool", None),
    ("notes.txt", "unknown", None),
])
def test_real_names_of_sync_tools_are_told_apart(name: str, tool: str, copy_of: str | None
                                                 ) -> None:
    got_tool, _what, got_copy = identify(name)
    assert (got_tool, got_copy) == (tool, copy_of)


def test_only_exact_names_are_mstore_files() -> None:
    assert is_pack_name(f"{HEX}.pack")
    assert not is_pack_name(f"{HEX}.sync-conflict-20240101-120000-ABCDEFG.pack")
    assert not is_pack_name(f"{HEX.upper()}.pack") and not is_pack_name(f"{HEX}.pack\n")
    assert segment_seq("0000000012.seg") == 12
    assert segment_seq("0000000012.seg\n") is None
    assert segment_seq("٠٠٠٠٠٠٠٠١٢.seg") is None  # Arabic-Indic digits are digits to \d
    assert segment_seq("0000000012 (1).seg") is None
    assert is_loose_name(HEX, HEX[:4]) and not is_loose_name(HEX, "ffff")
    assert is_lane("0123456789ab") and is_lane("0123456789ab.w1")
    assert not is_lane("0123456789ab\n") and not is_lane(".stversions")
