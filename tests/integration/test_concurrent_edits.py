"""Two copies of one store edit the same label, person name and collection; each copy's
new segments are then copied to the other (all a sync does), in both orders and with the
index applying them at different moments. Both sides must then answer alike, with the
latest claim by (hlc, lane) — docs/format.md §3.4 — including when the two claims carry the
same hlc (the same wall-clock millisecond on both machines): the machine id decides."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mstore.model.records import (
    CollectionDefined,
    Label,
    Record,
    RunStarted,
    RunState,
    StepSpec,
    UnitDone,
)
from mstore.query.people import NAME_KEY
from mstore.store.store import Store
from tests.fixtures.faces import faces_archive
from tests.helpers import machine_id, mstore

if TYPE_CHECKING:
    from tests.integration.temporal_env import RunStore

pytest_plugins = ["tests.integration.temporal_env"]


def clone(src: Path, dst: Path) -> None:
    """What a clone is: objects/, records/ and config.toml, without local/."""
    dst.mkdir()
    shutil.copytree(src / "objects", dst / "objects")
    shutil.copytree(src / "records", dst / "records")
    shutil.copy2(src / "config.toml", dst / "config.toml")


def new_files(src: Path, dst: Path) -> list[Path]:
    """The files under objects/ and records/ of ``src`` that ``dst`` lacks (relative)."""
    out = []
    for top in ("objects", "records"):
        for p in sorted((src / top).rglob("*")):
            rel = p.relative_to(src)
            if p.is_file() and not (dst / rel).exists():
                out.append(rel)
    # objects first, as a writer stores them before the segments that name them
    return sorted(out, key=lambda r: (r.parts[0] != "objects", str(r)))


def copy_files(src: Path, dst: Path, files: list[Path]) -> None:
    for rel in files:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)


def write_stamped(store: Path, records: list[Record]) -> None:
    """Records with the hlc they carry (not stamped now): how two machines end up with one
    stamp — their clocks read the same millisecond."""
    st = Store(store)
    try:
        writer, lock = st.lane_writer("cli")
        try:
            writer.extend(records)
            writer.flush()
        finally:
            lock.release()
    finally:
        st.close()


def ok(*args: str, store: Path) -> str:
    r = mstore(*args, store=store)
    assert r.code == 0, (args, r.out, r.err)
    return r.out


def found(store: Path, query: str) -> list[str]:
    r = mstore("find", query, "--json", store=store)
    assert r.code in (0, 1) and not r.err.strip(), r.err
    return sorted(row["id"] for row in r.json_lines())


def answers(store: Path, asset: str, colls: list[str], terms: list[str]) -> dict:
    """What a person reads about the edited things on one side."""
    listing = [json.loads(line) for line in
               ok("collection", "list", "--json", store=store).splitlines()]
    for c in listing:
        c.pop("defined_ms", None)  # when the winning claim was made: compared by query below
    return {
        "labels": json.loads(ok("label", asset, "--json", store=store))["labels"],
        "collections": sorted(listing, key=lambda c: c["name"]),
        "members": {c: sorted(m["id"] for m in json.loads(
            ok("collection", "show", c, "--json", store=store))["members"]) for c in colls},
        "find": {t: found(store, t) for t in terms},
        "people": json.loads(ok("people", "--json", store=store))["people"],
    }


def exchange(a: Path, b: Path) -> None:
    """Sync both ways, applying in different orders: ``a`` takes ``b``'s new files one at a
    time and reads after each (so its index applies them one by one, after its own);
    ``b`` takes all of ``a``'s at once (applied after its own, in lane order)."""
    to_a, to_b = new_files(b, a), new_files(a, b)
    for rel in to_a:
        copy_files(b, a, [rel])
        if rel.parts[0] == "records":
            mstore("find", "--json", store=a)
    copy_files(a, b, to_b)


@pytest.fixture
def two_sides(tmp_path: Path) -> tuple[Path, Path, str]:
    """A cataloged store ``a`` and its clone ``b``, each with its own machine id."""
    root = tmp_path / "archive"
    faces_archive(root)
    a, b = tmp_path / "a", tmp_path / "b"
    ok("init", "--store", str(a), str(root), store=None)
    ok("add", store=a)
    clone(a, b)
    asset = found(a, "kind:image")[0]
    assert machine_id(a) != machine_id(b)
    return a, b, asset


def later_stamp() -> int:
    """An hlc later than every stamp either side made so far (a minute ahead)."""
    return (int(time.time() * 1000) + 60_000) << 16


def test_same_edits_on_two_copies_merge_to_the_latest_claim(two_sides) -> None:  # noqa: ANN001
    a, b, asset = two_sides
    # the same label and collection edited on both sides, b's edits made last
    ok("label", asset, "--set", "rating=3", store=a)
    ok("collection", "create", "fav", "--query", "kind:image", store=a)
    ok("label", asset, "--set", "rating=5", store=b)
    ok("collection", "create", "fav", "--query", "kind:video", store=b)
    # ... and a collection that b makes and a makes and deletes after it
    ok("collection", "create", "old", "--query", "kind:image", store=b)
    ok("collection", "create", "old", "--query", "kind:video", store=a)
    ok("collection", "delete", "old", store=a)
    exchange(a, b)

    terms = ["label:rating=3", "label:rating=5", "label:rating"]
    got_a = answers(a, asset, ["fav"], terms)
    got_b = answers(b, asset, ["fav"], terms)
    assert got_a == got_b
    assert [(lab["key"], lab["value"]) for lab in got_a["labels"]] == [("rating", "5")]
    assert [(c["name"], c["query"]) for c in got_a["collections"]] == [("fav", "kind:video")]
    assert got_a["members"]["fav"] == found(a, "kind:video")
    assert got_a["find"] == {"label:rating=3": [], "label:rating=5": [asset],
                             "label:rating": [asset]}


def test_claims_with_the_same_stamp_are_decided_by_the_machine_id(two_sides) -> None:  # noqa: ANN001
    a, b, asset = two_sides
    hlc = later_stamp()
    winner = "a" if machine_id(a) > machine_id(b) else "b"
    for side, store in (("a", a), ("b", b)):
        write_stamped(store, [
            Label(hlc=hlc, asset=asset, key="pick", value=f"by-{side}"),
            CollectionDefined(hlc=hlc, name="tie", query="kind:image" if side == "a"
                              else "kind:video"),
        ])
    exchange(b, a)  # this time b takes a's files one by one, a takes b's at once

    terms = ["label:pick=by-a", "label:pick=by-b"]
    got_a = answers(a, asset, ["tie"], terms)
    got_b = answers(b, asset, ["tie"], terms)
    assert got_a == got_b
    assert [(lab["key"], lab["value"]) for lab in got_a["labels"]] == [("pick", f"by-{winner}")]
    want_query = "kind:image" if winner == "a" else "kind:video"
    assert [(c["name"], c["query"]) for c in got_a["collections"]] == [("tie", want_query)]
    assert got_a["find"][f"label:pick=by-{winner}"] == [asset]
    assert got_a["members"]["tie"] == found(a, want_query)

    # a reindex (every lane applied afresh, in lane order) agrees with both
    ok("reindex", store=b)
    assert answers(b, asset, ["tie"], terms) == got_a


def test_a_person_named_on_two_copies_has_one_name_on_both(run_store, tmp_path: Path
                                                            ) -> None:  # noqa: ANN001
    root = tmp_path / "faces"
    faces_archive(root)
    rs: RunStore = run_store(over=root)
    v = rs.run_and_wait("people", "--production", timeout=240)
    assert v.state == "completed", (v.failures, rs.worker_logs())
    rs.stop_workers()
    a, b = rs.path, tmp_path / "b"
    clone(a, b)
    people = json.loads(ok("people", "--json", store=a))["people"]
    assert len(people) >= 2, people
    first, second = people[0]["id"], people[1]["id"]

    # a plain rename on both sides, b's last; then names given in the same millisecond
    ok("people", "name", first, "Ada", store=a)
    ok("people", "name", first, "Grace", store=b)
    hlc = later_stamp()
    for side, store in (("a", a), ("b", b)):
        st = Store(store)
        try:
            from mstore.services.people import load, name_changes

            with st.reader() as r:
                (change,) = name_changes(load(r), second, f"eileen-{side}")
        finally:
            st.close()
        write_stamped(store, [Label(hlc=hlc, asset=change.asset, key=change.key,
                                    value=change.value, about=change.about)])
    assert change.key == NAME_KEY + second
    exchange(a, b)

    winner = "a" if machine_id(a) > machine_id(b) else "b"
    terms = [f"person:{first}", f"person:{second}", "person:Grace", "person:Ada",
             f"person:eileen-{winner}"]
    asset = found(a, f"person:{first}")[0]
    got_a, got_b = answers(a, asset, [], terms), answers(b, asset, [], terms)
    assert got_a == got_b
    names = {p["id"]: p["name"] for p in got_a["people"]}
    assert names[first] == "Grace" and names[second] == f"eileen-{winner}"
    assert got_a["find"]["person:Ada"] == []
    assert got_a["find"]["person:Grace"] == got_a["find"][f"person:{first}"] != []


def test_labels_and_collections_of_an_index_made_before_still_read(two_sides) -> None:  # noqa: ANN001
    """An index made before claims kept their lane holds the bare record: it still reads,
    and a later claim replaces it."""
    import msgspec

    from mstore.store import keys

    a, _b, asset = two_sides
    st = Store(a)
    try:
        idx = st.index
        enc = msgspec.msgpack.Encoder()
        with idx.write() as txn:
            txn.put(keys.label_key(asset, "old", ""), enc.encode(
                Label(hlc=5 << 16, asset=asset, key="old", value="kept")), db=idx.db["labels"])
            txn.put(keys.collection_key("olden"), enc.encode(
                CollectionDefined(hlc=5 << 16, name="olden", query="kind:image")),
                db=idx.db["collections"])
    finally:
        st.close()
    labels = json.loads(ok("label", asset, "--json", store=a))["labels"]
    assert [(lab["key"], lab["value"]) for lab in labels] == [("old", "kept")]
    assert found(a, "label:old=kept") == [asset]
    assert ok("collection", "show", "olden", store=a).startswith("collection olden: dynamic")
    ok("label", asset, "--set", "old=new", store=a)
    labels = json.loads(ok("label", asset, "--json", store=a))["labels"]
    assert [(lab["key"], lab["value"]) for lab in labels] == [("old", "new")]


def test_run_state_and_coverage_with_the_same_stamp_agree_on_both_sides(tmp_path: Path
                                                                         ) -> None:
    """A run steered from two machines (paused on one, cancelled on the other) and a unit
    recorded by workers on both, in the same millisecond: one state and one coverage on
    both sides, the machine id deciding."""
    import msgspec

    root = tmp_path / "archive"
    faces_archive(root)
    a, b = tmp_path / "a", tmp_path / "b"
    ok("init", "--store", str(a), str(root), store=None)
    ok("add", store=a)
    units = found(a, "kind:image")
    run = "r20240101-120000-abcd"
    st = Store(a)
    try:
        oid = st.objects.put(msgspec.msgpack.encode(units))
    finally:
        st.close()
    write_stamped(a, [RunStarted(
        hlc=later_stamp() - (1 << 16), run=run, pipeline="thumbs", policy="sandbox",
        steps=[StepSpec(name="thumb", tool="thumbnail", version="1")], selection="kind:image",
        units_object=oid, total=len(units))])
    clone(a, b)
    hlc = later_stamp()
    write_stamped(a, [RunState(hlc=hlc, run=run, state="paused"),
                      UnitDone(hlc=hlc, run=run, step="thumb", unit=units[0], status="done")])
    write_stamped(b, [RunState(hlc=hlc, run=run, state="cancelled"),
                      UnitDone(hlc=hlc, run=run, step="thumb", unit=units[0], status="failed",
                               error="cannot decode")])
    exchange(a, b)

    def seen(store: Path) -> tuple[list, dict]:
        return ([json.loads(line) for line in ok("log", "--json", store=store).splitlines()],
                json.loads(ok("show", run, "--json", store=store)))

    assert seen(a) == seen(b)
    show = seen(a)[1]
    if machine_id(a) > machine_id(b):
        assert (show["state"], show["done"], show["failed"]) == ("paused", 1, 0)
    else:
        assert (show["state"], show["done"], show["failed"]) == ("cancelled", 0, 1)
