"""The web UI over names as long as the OS allows: review marks on an exact-duplicate group
whose paths are ~450 bytes, and long labels on the asset page (the index keys them by a
bounded form, docs/format.md §6.1)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mstore.ui.app import create_app
from tests.helpers import mstore
from tests.integration.test_run_reading import run_all
from tests.integration.test_store_robust import _jpeg, _write_at_depth

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_review_marks_and_labels_with_long_names(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    copies = [_write_at_depth(root, [side * 200, side * 245 + b".jpg"], _jpeg(9))
              for side in (b"a", b"b")]
    assert all(440 < len(c) < 460 for c in copies)
    store = tmp_path / "st"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", store=store).code == 0
    [row] = mstore("find", "--json", store=store).json_lines()
    aid = row["id"]
    long_key, long_value = "note-" + "k" * 700, "v" * 5000
    assert mstore("label", aid, "--set", f"{long_key}={long_value}", store=store).code == 0
    run_all(store, "dedupe")
    with TestClient(create_app(store), base_url="http://localhost:8765") as client:
        page = client.get("/tool/duplicates/review")
        assert page.status_code == 200
        groups = re.findall(r'data-group="([0-9a-f]+)"', page.text)
        assert len(groups) == 1, "one exact group: one content at two long paths"
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        r = client.post("/tool/duplicates/review/mark", data={"csrf": token, "group": groups[0],
                                                              "m0": "keep", "m1": "not-keep"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        page = client.get("/tool/duplicates/review").text
        assert 'data-mark="keep"' in page and 'data-mark="not-keep"' in page
        asset_page = client.get(f"/asset/{aid}")
        assert asset_page.status_code == 200
        text = html.unescape(asset_page.text)
        assert long_key in text and long_value in text
        client.app.state.ui.close()  # type: ignore[attr-defined]
    labels = {lab["key"]: lab["value"]
              for lab in mstore("show", aid, "--json", store=store).json()["labels"]}
    marks = {k.removeprefix("keep-path:"): v for k, v in labels.items()
             if k.startswith("keep-path:")}
    assert sorted(marks.values()) == ["keep", "not-keep"]
    assert sorted(marks) == sorted(f"{root.name}/{c.decode()}" for c in copies)
    assert labels[long_key] == long_value
    assert mstore("fsck", store=store).code == 0
