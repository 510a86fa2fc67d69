"""Remote locations as a person writes them, and config.toml edits that keep the rest."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mstore.errors import UsageError
from mstore.sync.remotes import drop_tables
from mstore.sync.url import parse


@pytest.mark.parametrize(("url", "host", "user", "port", "path"), [
    ("ssh://nas.lan/volume1/store", "nas.lan", "", 0, "/volume1/store"),
    ("ssh://me@nas.lan:2222/volume1/st%20ore", "nas.lan", "me", 2222, "/volume1/st ore"),
    ("ssh://nas/~/store", "nas", "", 0, "~/store"),
    ("nas.lan:/volume1/store", "nas.lan", "", 0, "/volume1/store"),
    ("me@nas.lan:store", "nas.lan", "me", 0, "store"),
])
def test_ssh_locations(url: str, host: str, user: str, port: int, path: str) -> None:
    loc = parse(url)
    assert (loc.is_ssh, loc.host, loc.user, loc.port, loc.path) == (True, host, user, port, path)


def test_paths_are_local_even_with_a_colon(tmp_path: Path) -> None:
    for url, want in (("/mnt/a:b/store", "/mnt/a:b/store"), ("./x:y", str(tmp_path / "x:y")),
                      ("rel/store", str(tmp_path / "rel/store"))):
        loc = parse(url, base=tmp_path)
        assert not loc.is_ssh and loc.path == want


@pytest.mark.parametrize("url", ["", "ftp://nas/x", "ssh://", "ssh://nas", "ssh://nas:99999/x",
                                 "a\0b"])
def test_bad_locations_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        parse(url)


def test_dropping_a_table_keeps_every_other_line() -> None:
    text = '''# mine
[store]
format = 1  # keep

[remotes."nas"]
url = "ssh://nas/x"
mstore = "/opt/mstore"

[remotes.other]
url = "/mnt/other"

[catalog]
extra_ignore = ["*.tmp",
  "[not a header]"]
'''
    out = drop_tables(text, lambda parts: parts[:2] == ("remotes", "nas"))
    assert tomllib.loads(out) == {
        "store": {"format": 1}, "remotes": {"other": {"url": "/mnt/other"}},
        "catalog": {"extra_ignore": ["*.tmp", "[not a header]"]}}
    assert "# mine" in out and "format = 1  # keep" in out


def test_names_from_the_other_side_never_become_paths(tmp_path: Path) -> None:
    """A remote that sends a pack named like a path, or a segment of a lane that is not
    one, gets each refused; nothing is written outside the store."""
    from mstore.store.layout import Layout
    from mstore.store.segments import encode_segment
    from mstore.sync.items import PackItem, SegmentItem
    from mstore.sync.receive import Receiver

    store = tmp_path / "deep" / "store"
    for d in ("objects/packs", "records", "local/tmp"):
        (store / d).mkdir(parents=True)
    seg = encode_segment("../../x", 1, [])
    got = Receiver(Layout(store)).take([
        PackItem("../../../escaped", 3, iter((b"abc",))),
        SegmentItem("../../x", 1, seg),
        SegmentItem("0123456789ab", 10**12, encode_segment("0123456789ab", 10**12, [])),
    ])
    assert got.segments == 0 and got.objects == 0 and len(got.rejected) == 3
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []
