"""fsck can be trusted: every object a record names is checked, what it quarantined stays
reported, and a run writing meanwhile is neither broken nor reported as damage. And the
processes around a store are what they claim to be: pid files name only the process
mstore started, and the workers of a killed ``mstore add`` end with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mstore.store import index_runs
from mstore.store.objects import read_pack_directory
from mstore.store.segments import list_segments
from mstore.store.store import Store
from tests.helpers import REPO, mstore, mstore_proc, proc_stat
from tests.integration.test_run_reading import run_all

# the fixtures temporal_server and run_store
pytest_plugins = ["tests.integration.temporal_env"]


@pytest.fixture
def added(fresh_store: tuple[Path, Path]) -> tuple[Path, Path]:
    """A store after one ``mstore add`` of a writable archive."""
    assert mstore("add", store=fresh_store[0]).code == 0
    return fresh_store


def _fsck(store: Path, *args: str) -> tuple[int, dict]:
    r = mstore_proc("fsck", "--json", *args, store=store)
    assert "Traceback" not in r.err, r.err
    return r.code, json.loads(r.out)


def _named_objects(store: Path, run: str) -> dict[str, list[dict]]:
    """What the index says names objects: thumbnail payloads, the run's unit list, the
    frozen collection's member list (object id -> what names it)."""
    st = Store(store)
    try:
        idx = st.index
        out: dict[str, list[dict]] = {}
        with idx.read() as txn:
            for a in index_runs.run_artifacts(idx, txn, run):
                if a.payload:
                    out.setdefault(a.payload, []).append(
                        {"record": "artifact", "id": a.id, "kind": a.kind, "run": a.run})
            started = index_runs.run_info(idx, txn, run).started
            out.setdefault(started.units_object, []).append({"record": "run", "run": run})
            coll = index_runs.collection(idx, txn, "picked")
            if coll is not None:
                out.setdefault(coll.members_object, []).append(
                    {"record": "collection", "name": "picked"})
        return {o: _sorted(ns) for o, ns in out.items()}
    finally:
        st.close()


def _sorted(namers: list[dict]) -> list[dict]:
    return sorted(namers, key=lambda n: json.dumps(n, sort_keys=True))


def _missing(rep: dict) -> dict[str, list[dict]]:
    return {m["object"]: _sorted(m["named_by"]) for m in rep["missing"]}


def _objects_on_disk(store: Path) -> tuple[int, int]:
    """(loose objects, objects in packs) as the files say."""
    loose = [p for p in (store / "objects").glob("??/??/*") if len(p.name) == 64]
    packed = sum(len(read_pack_directory(p)) for p in (store / "objects" / "packs").glob("*.pack"))
    return len(loose), packed


def test_fsck_reports_every_missing_object_a_record_names(added: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    store, _ = added
    run = run_all(store, "dedupe")
    ids = mstore("find", "kind:image", "--json", store=store).json_lines()
    picks = tmp_path / "picks.txt"
    picks.write_text("\n".join(r["id"] for r in ids[:3]) + "\n")
    assert mstore("collection", "create", "picked", "--assets", picks, store=store).code == 0
    named = _named_objects(store, run)
    assert sum(n["record"] == "artifact" for ns in named.values() for n in ns) >= 5

    # a healthy store: --full counts and rehashes the packed objects too
    code, rep = _fsck(store, "--full")
    assert code == 0 and rep["clean"], rep
    loose, packed = _objects_on_disk(store)
    assert packed > 0 and rep["objects"] == loose + packed, rep
    assert (rep["loose"], rep["packed"]) == (loose, packed)
    human = mstore_proc("fsck", "--full", store=store)
    assert f"{loose + packed} objects ({loose} loose, {packed} in " in human.out

    # every pack deleted (and any loose object): what reads them fails, and so does fsck
    for p in [*(store / "objects" / "packs").glob("*.pack"), *(store / "objects").glob("??/??/*")]:
        p.unlink()
    thumb = next(n["id"] for ns in named.values() for n in ns if n.get("kind") == "thumbnail")
    assert mstore_proc("cat", thumb, store=store).code == 5
    for args in ((), ("--full",), ()):  # and again: nothing was "fixed" by reporting it
        code, rep = _fsck(store, *args)
        assert code == 5 and not rep["clean"]
        assert _missing(rep) == named
        assert rep["quarantined"] == []
    human = mstore_proc("fsck", store=store)
    assert human.code == 5
    [(oid, art)] = [(o, ns[0]) for o, ns in named.items() if ns[0].get("id") == thumb]
    assert (f"damage: missing object {oid}: payload of artifact {thumb} (thumbnail, run {run})"
            in human.out)
    units = next(o for o, ns in named.items() if ns[0]["record"] == "run")
    assert f"damage: missing object {units}: unit list of run {run}" in human.out
    members = next(o for o, ns in named.items() if ns[0]["record"] == "collection")
    assert f"damage: missing object {members}: member list of collection 'picked'" in human.out


def test_a_damaged_pack_keeps_its_intact_objects_and_its_loss_stays_reported(
        added: tuple[Path, Path]) -> None:
    store, _ = added
    run = run_all(store, "dedupe")
    named = _named_objects(store, run)
    thumbs = {o: ns[0]["id"] for o, ns in named.items() if ns[0].get("kind") == "thumbnail"}
    packs = list((store / "objects" / "packs").glob("*.pack"))
    # one byte of one thumbnail's payload flipped inside its pack
    victim, pack, off = next((o, p, off) for p in packs for o, off, _ln in read_pack_directory(p)
                             if o in thumbs)
    data = bytearray(pack.read_bytes())
    data[off + 10] ^= 0xFF
    pack.write_bytes(bytes(data))
    others = [a for o, a in thumbs.items() if o != victim]

    code, rep = _fsck(store, "--full")
    assert code == 5
    assert rep["quarantined"] == [f"objects/packs/{pack.name}"]
    assert (store / "local" / "quarantine" / "objects" / "packs" / pack.name).exists()
    # the other payloads of that pack are still readable
    for art in others:
        assert mstore_proc("cat", art, store=store).code == 0, art
    assert mstore_proc("cat", thumbs[victim], store=store).code == 5
    assert len(rep["salvaged"]) == 1
    assert _missing(rep) == {victim: named[victim]}

    # the next check, fast or full, still says what is missing
    for args in ((), ("--full",)):
        code, rep = _fsck(store, *args)
        assert code == 5 and [m["object"] for m in rep["missing"]] == [victim], rep
        assert rep["quarantined"] == []


def test_a_quarantined_segment_stays_reported_until_restored_or_given_up(
        added: tuple[Path, Path], tmp_path: Path) -> None:
    store, _ = added
    asset = mstore("find", "kind:image", "--json", store=store).json_lines()[0]["id"]
    for i in range(2):  # two more segments: one to restore, one to give up
        assert mstore("label", asset, "--set", f"k{i}=v", store=store).code == 0
    segs = list(list_segments(store / "records"))
    assert len(segs) >= 3

    def damage(seg: Path) -> bytes:
        good = seg.read_bytes()
        seg.write_bytes(good[:-5] + bytes(b ^ 0xFF for b in good[-5:]))
        return good

    restore, give_up = segs[-1].path, segs[-2].path
    good = damage(restore)
    code, rep = _fsck(store)
    rel = str(restore.relative_to(store))
    assert code == 5 and rep["quarantined"] == [rel]
    assert not restore.exists()
    assert mstore_proc("reindex", store=store).code == 0
    for _ in range(2):  # after a reindex too: its records are still missing
        code, rep = _fsck(store)
        assert code == 5 and rep["quarantined"] == []
        assert [p for p in rep["problems"] if "quarantine" in p] == [
            f"segment {rel} is in local/quarantine/: its records are missing; put a good copy "
            "back (from a backup or another machine), or delete the quarantined file to "
            "accept the loss"]

    restore.write_bytes(good)  # a good copy is back: nothing is missing
    code, rep = _fsck(store)
    assert code == 0 and rep["clean"], rep

    damage(give_up)
    assert _fsck(store)[0] == 5
    assert mstore_proc("reindex", store=store).code == 0
    assert _fsck(store)[0] == 5
    (store / "local" / "quarantine" / give_up.relative_to(store)).unlink()  # loss accepted
    code, rep = _fsck(store)
    assert code == 0 and rep["clean"], rep


WRITER = """
import os, sys, time
from pathlib import Path
from mstore.model.meta import Meta
from mstore.model.records import ArtifactMade, AssetRecorded, PathSeen
from mstore.store.objects import object_id
from mstore.store.store import Store

store = Store(Path(sys.argv[1]))
stop = Path(sys.argv[2])
writer, lock = store.lane_writer("w*")
i = 0
while not stop.exists():
    body = f"writer {os.getpid()} record {i}".encode()
    aid = object_id(body)
    payload = store.objects.put(body + b" payload")
    writer.append(AssetRecorded(hlc=writer.now(), id=aid, size=len(body),
                                meta=Meta(kind="text", mime="text/plain")))
    writer.append(PathSeen(hlc=writer.now(), root="w", path=f"f{i}".encode(), asset=aid,
                           size=len(body), mtime_ns=i, inode=i))
    writer.append(ArtifactMade(hlc=writer.now(), id=object_id(b"art" + body), kind="note",
                               run="r1", step="s", tool="t", version="1", asset=aid,
                               payload=payload))
    writer.flush()  # one segment per round, applied to the index like a worker's
    i += 1
    print(i, flush=True)
lock.release()
store.close()
"""


def test_fsck_while_a_writer_appends_segments(added: tuple[Path, Path], tmp_path: Path) -> None:
    store, _ = added
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(stop)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "1", writer.stderr.read()
        for _ in range(4):
            before = len(list((store / "records").glob("*.w*/*.seg")))
            r = mstore_proc("fsck", store=store)
            after = len(list((store / "records").glob("*.w*/*.seg")))
            assert r.code == 0 and r.out.endswith("clean\n"), r.out + r.err
            assert after > before, "the writer did not write while fsck ran"
    finally:
        stop.touch()
        writer.wait(timeout=30)
    assert writer.returncode == 0, writer.stderr.read()
    code, rep = _fsck(store, "--full")
    assert code == 0 and rep["clean"], rep


# a writer in progress: temp entries named for their owner, as docs/format.md section 4 says
TEMP_OWNER = """
import os, sys
from pathlib import Path
start = open("/proc/self/stat", "rb").read().rsplit(b")", 1)[1].split()[19].decode()
def temp_name(stem):
    return f"{stem}.{os.getpid()}-{start}.tmp"
tmp = Path(sys.argv[1])
scratch = tmp / "work" / temp_name("run1-0-1234")
(scratch / "thumbnail").mkdir(parents=True)
(scratch / "thumbnail" / "out.webp").write_bytes(b"half written")
(tmp / temp_name("0000000007.seg")).write_bytes(b"half a segment")
print(scratch.name, flush=True)
sys.stdin.read()  # lives until the test closes stdin
"""


def test_fsck_removes_only_temp_files_whose_owner_is_dead(tmp_path: Path) -> None:
    archive = tmp_path / "a"
    archive.mkdir()
    (archive / "x.txt").write_text("x\n")
    store = tmp_path / "st"
    assert mstore("init", "--store", store, archive).code == 0
    tmp = store / "local" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)

    def owner() -> tuple[subprocess.Popen, str]:
        p = subprocess.Popen([sys.executable, "-c", TEMP_OWNER, str(tmp)], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return p, p.stdout.readline().strip()

    live, live_scratch = owner()
    dead, dead_scratch = owner()
    dead.stdin.close()
    dead.wait()
    (tmp / f"0000000003.seg.{dead.pid}.tmp").write_bytes(b"old-style name")
    # this process's pid with another start time: a dead writer whose pid was reused
    (tmp / f"0000000004.seg.{os.getpid()}-1.tmp").write_bytes(b"reused pid")
    (tmp / "README.txt").write_text("names no owner: left alone\n")
    try:
        code, rep = _fsck(store)
        assert code == 0 and rep["temp_removed"] == 4, rep
        assert (tmp / "work" / live_scratch / "thumbnail" / "out.webp").exists()
        assert not (tmp / "work" / dead_scratch).exists()
        left = sorted(p.name for p in tmp.iterdir())
        assert left == sorted(["README.txt", "work", f"0000000007.seg.{live.pid}-"
                               + _start(live.pid) + ".tmp"])
    finally:
        live.stdin.close()
        live.wait()


def _start(pid: int) -> str:
    return proc_stat(pid)[19].decode()


# --------------------------------------------------------------------------- runs


def test_fsck_during_a_run_neither_breaks_it_nor_reports_damage(run_store) -> None:  # noqa: ANN001
    rs = run_store(workers=1)
    name = rs.noop_pipeline("slow", sleep=0.25)
    run_id = rs.run(name, "--production")
    rs.wait(run_id, lambda v: v.done >= 2)
    # the worker's scratch directory: the worker empties it but never removes it
    work = rs.path / "local" / "tmp" / "work"
    deadline = time.monotonic() + 30
    while not work.is_dir():
        assert time.monotonic() < deadline, "the worker made no scratch directory"
        time.sleep(0.05)
    inode = work.stat().st_ino
    for _ in range(2):
        r = mstore_proc("fsck", store=rs.path)
        assert r.code == 0 and r.out.endswith("clean\n"), r.out + r.err
    assert work.stat().st_ino == inode, "fsck removed the running worker's scratch directory"
    assert rs.view(run_id).state == "running", "the run ended before fsck: nothing was tested"
    v = rs.wait_end(run_id, timeout=180)
    assert v.state == "completed" and v.failed == 0, (v.as_dict(), rs.worker_logs())
    r = mstore_proc("fsck", "--full", store=rs.path)
    assert r.code == 0, r.out + r.err


def test_pid_files_name_only_the_process_mstore_started(run_store) -> None:  # noqa: ANN001
    rs = run_store(workers=0)
    rs.write_pipeline("fast", "name = 'fast'\n[[steps]]\nname = 'noop'\ntool = 'noop'\n")
    pidfile = rs.path / "local" / "temporal" / "worker.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    unrelated = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        pidfile.write_text(f"{unrelated.pid}\n")
        run_id = rs.run("fast", "--production")  # starts its own worker
        worker = mstore_proc("server", "status", "--json", store=rs.path).json()["worker_pid"]
        assert worker not in (0, unrelated.pid)
        v = rs.wait_end(run_id)
        assert v.state == "completed" and v.done == v.total > 0, rs.worker_logs()
        r = mstore_proc("server", "stop", store=rs.path)
        assert r.code == 0 and "worker" in r.out, r.out + r.err
        _wait_gone([worker])
        assert unrelated.poll() is None

        # a pid file naming it, old style or new with another start time: never signalled
        for text in (f"{unrelated.pid}\n",
                     json.dumps({"pid": unrelated.pid, "start": "1", "argv": ["sleep", "600"]})):
            pidfile.write_text(text)
            st = mstore_proc("server", "status", "--json", store=rs.path)
            assert st.json()["worker_pid"] == 0, text
            r = mstore_proc("server", "stop", store=rs.path)
            assert r.code == 0 and "worker" not in r.out, r.out
            assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait()


# --------------------------------------------------------------------------- add's pool


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = proc_stat(name)
            except OSError:
                continue
            if fields[0] != b"Z":
                out[int(name)] = (int(fields[1]), fields[19].decode())
    return out


def _descendants(roots: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The live processes among ``roots`` (pid, start) and all their descendants."""
    procs = _processes()
    found = {r for r in roots if procs.get(r[0], (0, ""))[1] == r[1]}
    while True:
        more = {(pid, st) for pid, (ppid, st) in procs.items()
                if any(ppid == f[0] for f in found)} - found
        if not more:
            return found
        found |= more


def _wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(p in _processes() for p in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.05)


def test_killing_add_ends_its_pool_workers(tmp_path: Path) -> None:
    # sparse files: enough hashing to keep the pool busy for seconds, on no disk space
    archive = tmp_path / "a"
    archive.mkdir()
    for i in range(64):
        with open(archive / f"big{i:02d}.bin", "wb") as f:
            f.truncate(256 << 20)
            f.seek(-8, os.SEEK_END)
            f.write(i.to_bytes(8, "big"))
    store = tmp_path / "st"
    assert mstore("init", "--store", store, archive).code == 0
    add = subprocess.Popen([sys.executable, "-m", "mstore", "--store", str(store), "add"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        root = {(add.pid, _processes()[add.pid][1])}
        deadline = time.monotonic() + 60
        while True:  # until a pool worker (a child of the forkserver) exists
            tree = _descendants(root)
            children = {p for p in tree if _processes().get(p[0], (0,))[0] == add.pid}
            if tree - children - root:
                break
            assert add.poll() is None, "add ended before its pool was seen"
            assert time.monotonic() < deadline, "no pool worker appeared"
            time.sleep(0.01)
        tree = _descendants(root) - root
        add.kill()  # SIGKILL to the main pid only, like a crash or the OOM killer
        add.wait()
        deadline = time.monotonic() + 10
        while left := _descendants(tree):
            assert time.monotonic() < deadline, f"still running after add died: {left}"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(add.pid, signal.SIGKILL)
        shutil.rmtree(archive, ignore_errors=True)
