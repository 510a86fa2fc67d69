"""Moving a store between machines (docs/sync.md): two copies of one store on this machine,
each with its own machine id and its own path to the archive, as two hosts would have.

Runs execute in this process (as the worker's activities would, test_run_reading's
DirectRun), so results differ between the copies; the transfers are real: local-path
remotes here, ssh in test_sync_ssh.py.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from tests.fixtures.archive import build_archive
from tests.helpers import machine_id, mstore, mstore_on_terminal, mstore_proc
from tests.integration.test_run_reading import run_all


def answers(store: Path, run_ids: list[str]) -> dict:
    """What a person reads on either side: find, log, and each run's show."""
    find = mstore("find", "--json", store=store)
    log = mstore("log", "--json", store=store)
    assert find.code == 0 and log.code == 0, find.err + log.err
    shows = {}
    for rid in run_ids:
        r = mstore("show", rid, "--json", "--limit", "1000", store=store)
        assert r.code == 0, r.err
        shows[rid] = r.json()
    return {"find": find.json_lines(), "log": log.json_lines(), "show": shows}


@pytest.fixture(scope="module")
def host_a(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Host A: an archive, a store over it, a production photos run. (store, archive, run)"""
    base = tmp_path_factory.mktemp("host-a")
    archive = base / "archive"
    archive.mkdir()
    build_archive(archive, hostile=False, seed=3)
    store = base / "store"
    assert mstore("init", "--store", store, archive).code == 0
    assert mstore("add", store=store).code == 0
    run = run_all(store, "photos")
    run_all(store, "video", selection="kind:video")  # payloads of other kinds than thumbnail
    return store, archive, run


def clone_b(host_a: tuple[Path, Path, str], tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    """Host B: its own path to the same archive (a copy), and a clone of A's store."""
    a_store, a_archive, _ = host_a
    b_archive = tmp_path / "mnt" / "archive"
    shutil.copytree(a_archive, b_archive)
    b_store = tmp_path / "b-store"
    r = mstore("clone", a_store, b_store, "--root", f"archive={b_archive}", *extra)
    assert r.code == 0, r.err
    return b_store, b_archive


def test_clone_answers_like_its_source(host_a, tmp_path: Path) -> None:  # noqa: ANN001
    a_store, _, run = host_a
    b_store, b_archive = clone_b(host_a, tmp_path, "--json")
    assert answers(b_store, [run]) == answers(a_store, [run])
    assert machine_id(b_store) != machine_id(a_store)
    # its own archive path, and the source as origin; nothing of A's local/ came along
    cfg = tomllib.loads((b_store / "config.toml").read_text())
    assert cfg["roots"] == {"archive": str(b_archive)}
    assert cfg["remotes"] == {"origin": {"url": str(a_store)}}
    assert mstore("fsck", store=b_store).code == 0
    # every payload arrived: a thumbnail reads the same on both sides
    thumb = next(a for a in answers(a_store, [run])["show"][run]["recent_artifacts"]
                 if a["kind"] == "thumbnail")
    ca, cb = (mstore("cat", thumb["id"], store=s) for s in (a_store, b_store))
    assert ca.code == cb.code == 0 and ca.out == cb.out
    # B catalogs its own path to the archive: same assets, nothing new or missing
    add = mstore("add", "--json", store=b_store)
    assert add.code == 0, add.err
    summary = add.json()
    assert summary["new"] == 0 and summary["missing"] == 0, summary


def test_runs_on_both_sides_sync_to_the_same_answers(host_a, tmp_path: Path) -> None:  # noqa: ANN001
    a_src, _, run = host_a
    # a copy of host A of its own, as this test writes on it
    a_store = tmp_path / "a-store"
    assert mstore("clone", a_src, a_store).code == 0
    b_store = tmp_path / "b-store"
    assert mstore("clone", a_store, b_store).code == 0
    on_a = run_all(a_store, "dedupe")
    on_b = run_all(b_store, "photos", selection="kind:image", policy="sandbox", sample="5")
    r = mstore("sync", "--json", store=b_store)
    assert r.code == 0, r.err
    out = r.json()
    assert out["pull"]["segments"] >= 1 and out["push"]["segments"] >= 1
    assert out["pull"]["rejected"] == out["push"]["rejected"] == []
    ids = [run, on_a, on_b]
    assert answers(a_store, ids) == answers(b_store, ids)
    # nothing left to move either way
    again = mstore("sync", "--json", store=b_store).json()
    assert again["pull"]["planned"] == again["push"]["planned"] == {
        "objects": 0, "bytes": 0, "segments": 0}


def test_partial_pull_has_records_and_only_the_kinds_asked_for(host_a, tmp_path: Path
                                                               ) -> None:  # noqa: ANN001
    a_store, _, run = host_a
    laptop = tmp_path / "laptop"
    r = mstore("clone", a_store, laptop, "--kinds", "thumbnail", "--json")
    assert r.code == 0, r.err
    assert r.json()["kinds"] == ["thumbnail"]
    # the catalog and the run are all there, without the archive
    assert answers(laptop, [run]) == answers(a_store, [run])
    log = answers(a_store, [run])["log"]
    video = next(x["id"] for x in log if x["pipeline"] == "video")
    arts = answers(a_store, [run, video])["show"]
    thumb = next(a for a in arts[run]["recent_artifacts"] if a["kind"] == "thumbnail")
    other = next(a for a in arts[video]["recent_artifacts"]
                 if a["kind"] != "thumbnail" and a.get("payload"))
    assert mstore("cat", thumb["id"], store=laptop).code == 0
    # a payload of another kind is not here, and the message says where it is
    miss = mstore("cat", other["id"], store=laptop)
    assert miss.code == 5
    assert "origin" in miss.err and f"--kinds {other['kind']}" in miss.err, miss.err
    # a later pull keeps the copy partial; --all makes it whole
    again = mstore("pull", "--json", store=laptop).json()
    assert again["kinds"] == ["thumbnail"] and again["pull"]["objects"] == 0
    whole = mstore("pull", "--all", "--json", store=laptop).json()
    assert whole["kinds"] is None and whole["pull"]["objects"] > 0
    assert mstore("cat", other["id"], store=laptop).code == 0


def test_an_object_damaged_on_the_way_is_refused(host_a, tmp_path: Path) -> None:  # noqa: ANN001
    a_src, _, run = host_a
    a_store = tmp_path / "a"
    assert mstore("clone", a_src, a_store).code == 0
    # flip a byte inside one packed payload, leaving the pack's name and directory as they were
    pack = sorted((a_store / "objects" / "packs").glob("*.pack"))[0]
    data = bytearray(pack.read_bytes())
    data[60] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    b_store = tmp_path / "b"
    r = mstore("clone", a_store, b_store)
    assert r.code == 5, r.err
    assert "does not match its id" in r.err and r.err.count("\n") == 1
    # every other object and every record arrived; the damaged one did not
    r = mstore("fsck", store=b_store)
    assert "missing" in r.out + r.err


def test_remote_commands(tmp_path: Path, host_a) -> None:  # noqa: ANN001
    a_store = host_a[0]
    b = tmp_path / "b"
    assert mstore("clone", a_store, b).code == 0
    cfg = b / "config.toml"
    cfg.write_text(cfg.read_text() + "\n# a note of mine\n")
    assert mstore("remote", "add", "nas", "ssh://nas.lan:2222/volume1/store", store=b).code == 0
    assert mstore("remote", "add", "nas", "/x", store=b).code == 2
    assert mstore("remote", "add", "bad name", "/x", store=b).code == 2
    listed = [json.loads(x) for x in mstore("remote", "list", "--json", store=b).out.split("\n")
              if x]
    assert [(x["name"], x["url"]) for x in listed] == [
        ("origin", str(a_store)), ("nas", "ssh://nas.lan:2222/volume1/store")]
    assert mstore("remote", "remove", "nas", store=b).code == 0
    assert "a note of mine" in cfg.read_text() and "nas" not in cfg.read_text()
    assert mstore("remote", "remove", "nas", store=b).code == 2
    # a remote that is not a store, and no remote at all
    assert mstore("remote", "add", "void", str(tmp_path / "void"), store=b).code == 0
    r = mstore("pull", "void", store=b)
    assert r.code == 10 and "not an mstore store" in r.err and r.err.count("\n") == 1
    r = mstore("push", "nowhere", store=b)
    assert r.code == 2 and "no remote named 'nowhere'" in r.err


def test_gc_waits_for_a_remote_that_was_not_pulled_since(host_a, tmp_path: Path
                                                         ) -> None:  # noqa: ANN001
    a_src, archive, _ = host_a
    a_store = tmp_path / "a"
    assert mstore("clone", a_src, a_store, "--root", f"archive={archive}").code == 0
    b_store = tmp_path / "b"
    assert mstore("clone", a_store, b_store).code == 0
    assert mstore("remote", "add", "b", b_store, store=a_store).code == 0
    # sandbox results that expire as they are made (ttl < 0), on A
    run_all(a_store, "photos", policy="sandbox", sample="3", ttl_days=-1.0,
            params={"thumbnail": {"size": 96}})
    # B was never pulled: nothing is dropped, and gc says which remote it waits for (only B:
    # origin was pulled, by the clone, after they expired)
    r = mstore("gc", "--grace", "0", "--json", store=a_store)
    assert r.code == 0, r.err
    rep = r.json()
    assert rep["dropped"] == 0 and list(rep["waiting"]) == ["b"] and rep["waiting"]["b"] > 0
    assert "wait for remote 'b'" in mstore("gc", "--grace", "0", store=a_store).err
    # origin was pulled (by the clone) after they expired; once B is, gc drops them
    assert mstore("pull", "b", store=a_store).code == 0
    done = mstore("gc", "--grace", "0", "--json", store=a_store).json()
    assert done["waiting"] == {} and done["dropped"] == rep["waiting"]["b"]


WRITER = """
import sys, time
from pathlib import Path
from mstore.model.records import Label
from mstore.store.store import Store
st = Store(Path(sys.argv[1]))
ids = sys.argv[2:]
for i in range(60):  # one segment each, while the other side pulls
    st.write_records([Label(hlc=0, asset=ids[i % len(ids)], key="round", value=str(i))])
st.close()
"""


def test_a_store_being_written_syncs(host_a, tmp_path: Path) -> None:  # noqa: ANN001
    """Segments land on the sending side while a pull lists and copies: the pull takes a
    consistent part, and the next one the rest; both sides end equal."""
    import subprocess
    import sys

    a_src, _, run = host_a
    a_store = tmp_path / "a"
    assert mstore("clone", a_src, a_store).code == 0
    b_store = tmp_path / "b"
    assert mstore("clone", a_store, b_store).code == 0
    ids = [r["id"] for r in mstore("find", "--json", "--limit", "5", store=a_store).json_lines()]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(a_store), *ids],
                              cwd=Path(__file__).resolve().parents[2])
    pulls = 0
    while writer.poll() is None or pulls < 1:
        r = mstore("pull", "--json", store=b_store)
        assert r.code == 0, r.err
        assert r.json()["pull"]["rejected"] == []
        pulls += 1
    assert writer.wait() == 0
    assert mstore("pull", store=b_store).code == 0
    assert mstore("fsck", store=b_store).code == 0
    assert answers(b_store, [run]) == answers(a_store, [run])
    labels = [mstore("label", *ids, "--json", store=s).out for s in (a_store, b_store)]
    assert labels[0] == labels[1] and '"59"' in labels[0]


def test_status_names_the_remotes_and_when_they_were_synced(host_a, tmp_path: Path
                                                            ) -> None:  # noqa: ANN001
    a_store = host_a[0]
    b = tmp_path / "b"
    assert mstore("clone", a_store, b, "--kinds", "thumbnail").code == 0
    assert mstore("remote", "add", "never", tmp_path / "x", store=b).code == 0
    st = mstore("status", "--json", store=b).json()["remotes"]
    assert st["origin"]["url"] == str(a_store) and st["origin"]["kinds"] == ["thumbnail"]
    assert st["origin"]["pulled_ms"] > 0 and st["origin"]["pushed_ms"] is None
    assert st["never"] == {"url": str(tmp_path / "x"), "pulled_ms": None, "pushed_ms": None,
                           "kinds": None}
    human = mstore("status", store=b).out
    assert "remote   origin" in human and "pushed never" in human and "partial: thumbnail" in human
    assert mstore("status", "--json", store=a_store).json()["remotes"] == {}


def test_a_terminal_sees_the_transfer_progress(host_a, tmp_path: Path) -> None:  # noqa: ANN001
    """On a terminal, stderr carries one self-rewriting line while items arrive, and it is
    cleared at the end; piped, there is none (the summary alone)."""
    a_store = host_a[0]
    code, _out, seen = mstore_on_terminal("clone", a_store, tmp_path / "tty")
    assert code == 0
    assert b"\rreceiving: " in seen and b" files, " in seen and seen.endswith(b"\r\x1b[K")
    piped = mstore_proc("clone", a_store, tmp_path / "piped")
    assert piped.code == 0 and "receiving" not in piped.err
