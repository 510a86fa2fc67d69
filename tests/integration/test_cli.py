"""The command line contract: exit codes, messages, stable JSON, id prefixes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO, mstore, mstore_proc


def test_exit_codes(cataloged, tmp_path: Path) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    assert mstore("find", "kind:image", "--count", store=store).code == 0
    nothing = mstore("find", "path:no-such-thing-anywhere", store=store)
    assert nothing.code == 1 and nothing.out == ""
    assert mstore("find", "--count", "path:no-such-thing-anywhere", store=store).out == "0\n"
    # --limit 0 shows nothing: exit 1 as for no match, on a small store as on a large one
    assert (mstore("find", "--limit", "0", store=store).code,
            mstore("find", "--limit", "0", store=store).out) == (1, "")
    assert mstore("status", store=tmp_path / "nope").code == 3
    assert mstore("show", "zzzz-not-there", store=store).code == 2
    assert mstore("frobnicate").code == 2


def test_a_reader_that_stops_early_ends_the_command_quietly(cataloged) -> None:  # noqa: ANN001
    """`mstore status | head -1`: the output's pipe has no reader left. The command
    ends with 0 and nothing on stderr, whichever command printed, and from wherever
    (click printed help, a command its lines): not 1, which says nothing was found."""
    store, _, _ = cataloged
    for argv in (["status"], ["find"], ["find", "--json"], ["log"], ["--help"],
                 ["find", "--help"], ["--version"], ["help-query"]):
        read, write = os.pipe()
        os.close(read)  # every write gets EPIPE
        try:
            p = subprocess.run([sys.executable, "-m", "mstore", "--store", str(store), *argv],
                               stdout=write, stderr=subprocess.PIPE, cwd=REPO, timeout=60)
        finally:
            os.close(write)
        assert (p.returncode, p.stderr) == (0, b""), argv


def test_bad_query_names_the_bad_token(cataloged) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    r = mstore_proc("find", "kind:image", "taken:2019-13", store=store)
    assert r.code == 2
    assert "taken:2019-13" in r.err
    lines = r.err.splitlines()
    caret = next(line for line in lines if "^" in line)
    query_line = lines[lines.index(caret) - 1]
    assert query_line[caret.index("^"):].startswith("taken:2019-13")
    r = mstore_proc("find", "colour:red", store=store)
    assert r.code == 2 and "colour" in r.err


def test_deeply_nested_query_is_a_usage_error(cataloged) -> None:  # noqa: ANN001
    """3,000 nested parentheses were a RecursionError traceback: now exit 2, the message
    naming where, the query cut to a window with a caret under the group too deep."""
    store, _, _ = cataloged
    r = mstore_proc("find", "(" * 3000 + "vacation" + ")" * 3000, store=store)
    assert r.code == 2 and "Traceback" not in r.err
    message, shown, caret = r.err.splitlines()
    assert message == "mstore: parentheses nested more than 100 deep (at character 101)"
    assert len(shown) < 120 and shown[caret.index("^")] == "(" and caret.strip() == "^"
    r = mstore_proc("find", "-" * 3000 + "vacation", "--count", store=store)  # even: itself
    assert r.code == 0 and r.out == mstore("find", "vacation", "--count", store=store).out


def test_find_json_shape_limit_and_stable_order(cataloged) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    rows = mstore("find", "--json", store=store).json_lines()
    assert rows
    for row in rows:
        assert {"id", "kind", "size", "taken", "paths"} <= set(row)
        assert len(row["id"]) == 64
    assert mstore("find", "--json", store=store).json_lines() == rows
    limited = mstore("find", "--json", "--limit", "3", store=store).json_lines()
    assert limited == rows[:3]
    count = mstore("find", "--count", store=store).out.strip()
    assert int(count) == len(rows)
    # no query lists assets only; error-only entries need error:
    assert all(r["id"] for r in rows)


def test_find_keys(cataloged) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    def ids(*q: str) -> set[str]:
        return {r["id"] for r in mstore("find", "--json", *q, store=store).json_lines()}

    images = ids("kind:image")
    assert images and images <= ids()
    assert ids("kind:image", "has:gps") <= images
    assert ids("has:gps")
    assert ids("taken:2019..2021") == ids("taken:2019") | ids("taken:2020") | ids("taken:2021")
    assert ids("-kind:image") == ids() - images
    big = ids("size:>10k")
    small = ids("size:<=10k")
    assert big and small and big | small == ids() and not big & small
    heic_or_jpg = ids("ext:jpg") | ids("ext:heic")
    assert heic_or_jpg <= ids("kind:image") | ids("error:")
    # a negated term is a query word wherever it stands, never an option cluster
    # (-path would otherwise read as -p -a -t -h and print the help)
    in_2019 = ids("path:2019/")
    assert in_2019 and ids("-path:2019/") == ids() - in_2019
    assert ids("kind:image", "-path:2019/") == images - in_2019
    assert ids("-path:2019/", "--limit", "1000") == ids() - in_2019
    assert ids("--", "-(kind:image OR path:2019/)") == ids() - images - in_2019
    r = mstore("find", "-path:2019/", "--count", store=store)
    assert r.code == 0 and int(r.out) == len(ids() - in_2019)
    # a day or month of any year, over the stored table
    dated = [r for r in mstore("find", "--json", store=store).json_lines() if r["taken"]]
    days = {r["taken"][5:10] for r in dated}
    assert len(days) > 1
    for day in sorted(days)[:3]:
        assert ids(f"taken:*-{day}") == {r["id"] for r in dated if r["taken"][5:10] == day}
        month = day[:2]
        assert ids(f"taken:*-{month}") == {r["id"] for r in dated if r["taken"][5:7] == month}


def test_find_sort_orders(cataloged) -> None:  # noqa: ANN001
    """--sort KEY lists the same matches in another order: by capture time (newest first
    with -taken; no capture time last either way) or size, ties in path order."""
    store, _, _ = cataloged

    def rows(*args: str) -> list[dict]:
        r = mstore("find", "--json", *args, store=store)
        assert r.code == 0, r.err
        return r.json_lines()

    by_path = rows()
    for key, field, reverse in (("taken", "taken", False), ("-taken", "taken", True),
                                ("size", "size", False), ("-size", "size", True)):
        got = rows("--sort", key)
        assert sorted(r["id"] for r in got) == sorted(r["id"] for r in by_path)
        known = [r for r in got if r[field] is not None]
        assert got[:len(known)] == known  # the undated last
        values = [r[field] for r in known]
        assert values == sorted(values, reverse=reverse) and len(set(values)) > 1
        for a, b in zip(got, got[1:], strict=False):  # ties keep the path order
            if a[field] == b[field]:
                assert by_path.index(a) < by_path.index(b)
        # --limit N: the first N of that order, not N of the path order sorted
        assert rows("--sort", key, "--limit", "3") == got[:3]
        assert rows(f"--sort={key}", "kind:image") == [r for r in got if r["kind"] == "image"]
    assert any(r["taken"] is None for r in by_path)  # the undated case is exercised
    assert rows("--sort", "path") == by_path
    r = mstore_proc("find", "--sort", "colour", store=store)
    assert r.code == 2 and r.err == ("mstore: --sort: unknown key 'colour' (one of: path, "
                                     "taken, -taken, size, -size)\n")


def _find_bytes(store: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mstore", "--store", str(store), "find", *args],
                          capture_output=True, cwd=REPO)


def test_find_paths_for_other_tools(cataloged, tmp_path: Path) -> None:  # noqa: ANN001
    """--paths prints the matches' files as paths on this machine, every path of an
    asset with copies, in find's order; -0 ends each with NUL, so names with a newline
    or bytes that are not UTF-8 reach xargs -0 intact. Paths under a root with no
    location here are left out, with a line on stderr."""
    import os

    store, root, _ = cataloged
    rows = mstore("find", "--json", store=store).json_lines()
    listed = [p for row in rows for p in row["paths"]]
    root_name = listed[0].split("/", 1)[0]
    p = _find_bytes(store, "-0")
    assert p.returncode == 0 and p.stderr == b"" and p.stdout.endswith(b"\0")
    paths = p.stdout[:-1].split(b"\0")
    base = os.fsencode(root) + b"/"
    assert all(x.startswith(base) and os.path.isfile(x) for x in paths)
    # the files find lists, in its order ("root/relative", \xNN for bytes not UTF-8)
    assert [root_name + "/" + x[len(base):].decode("utf-8", "backslashreplace")
            for x in paths] == listed
    assert any(b"\n" in x for x in paths) and any(b"\xff" in x for x in paths)
    # a line each without -0; --limit counts matches, each printing all its paths
    p = _find_bytes(store, "--paths", "kind:image", "--limit", "3")
    images = mstore("find", "--json", "kind:image", "--limit", "3", store=store).json_lines()
    assert p.returncode == 0
    assert p.stdout.decode("utf-8", "backslashreplace").splitlines() == [
        str(root) + "/" + x.split("/", 1)[1] for row in images for x in row["paths"]]
    assert _find_bytes(store, "--paths", "path:no-such-thing-anywhere").returncode == 1
    for bad in ("--json", "--count"):
        r = mstore_proc("find", "--paths", bad, store=store)
        assert r.code == 2 and r.err == f"mstore: --paths and {bad}: choose one\n"
    # a copy of the store whose config no longer places the root: its paths left out
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    config = copy / "config.toml"
    kept = [line for line in config.read_text().splitlines()
            if not line.startswith((f"{root_name} =", f'"{root_name}" ='))]
    config.write_text("\n".join(kept) + "\n")
    r = mstore_proc("find", "--paths", store=copy)
    assert r.code == 0 and r.out == ""
    assert r.err == (f"mstore: {len(listed)} paths under archive root '{root_name}' left "
                     "out: it has no location on this machine (config.toml)\n")
    # a missing asset has no file to name: left out, said once
    archive, small = tmp_path / "small", tmp_path / "small-store"
    archive.mkdir()
    for name in ("kept.txt", "gone.txt", "gone-too.txt"):
        (archive / name).write_text(name)
    assert mstore("init", "--store", small, archive).code == 0
    assert mstore("add", store=small).code == 0
    (archive / "gone.txt").unlink()
    (archive / "gone-too.txt").unlink()
    assert mstore("add", store=small).code == 0
    r = mstore_proc("find", "--paths", store=small)
    assert (r.code, r.out) == (0, f"{archive}/kept.txt\n")
    assert r.err == ("mstore: 2 missing assets left out: their files are gone "
                     "(mstore find missing:)\n")


def test_find_near_a_place(cataloged) -> None:  # noqa: ANN001
    """near:LAT,LON[,RADIUS] and near:ASSET[,RADIUS]: the assets whose GPS position is
    within the radius (default 1 km), nearest first with their distance; the asset
    named is left out; bad values and an asset without a position are exit 2."""
    import math

    store, _, _ = cataloged
    rows = mstore("find", "has:gps", "--json", store=store).json_lines()
    pos = {}
    for row in rows:
        meta = mstore("show", row["id"], "--json", store=store).json()["meta"]
        pos[row["id"]] = (meta["gps_lat"], meta["gps_lon"])
    assert len(set(pos.values())) >= 2

    def metres(a: tuple[float, float], b: tuple[float, float]) -> float:  # law of cosines
        la, lb = math.radians(a[0]), math.radians(b[0])
        c = (math.sin(la) * math.sin(lb)
             + math.cos(la) * math.cos(lb) * math.cos(math.radians(b[1] - a[1])))
        return 6_371_008.8 * math.acos(max(-1.0, min(1.0, c)))

    def near(value: str, *more: str) -> list[tuple[str, int]]:
        r = mstore("find", f"near:{value}", *more, "--json", store=store)
        assert r.code in (0, 1), r.err
        return [(x["id"], x["match"][f"near:{value}"]["distance_m"]) for x in r.json_lines()]

    first = next(iter(pos))
    lat, lon = pos[first]
    everywhere = near(f"{lat},{lon},20000km")
    assert {a for a, _ in everywhere} == set(pos)
    assert [d for _, d in everywhere] == sorted(d for _, d in everywhere)
    for a, d in everywhere:
        assert abs(d - metres((lat, lon), pos[a])) <= 1 + 1e-4 * d
    # around an asset: the others, itself left out; a radius splits them by distance
    around = near(f"{first[:8]},20000km")
    assert {a for a, _ in around} == set(pos) - {first}
    far = max(d for _, d in around)
    cut = (min(d for _, d in around if d > 0) + far) / 2 if far else 0
    if cut:
        inside = near(f"{first[:8]},{cut / 1000:.3f}km")
        assert {a for a, _ in inside} == {a for a, d in around if d <= cut}
    assert near(f"{lat},{lon}", "kind:video") == [
        (a, d) for a, d in near(f"{lat},{lon}") if a in {
            r["id"] for r in mstore("find", "kind:video", "--json", store=store).json_lines()}]
    plain = next(r["id"] for r in mstore("find", "kind:image", "-has:gps", "--json",
                                         store=store).json_lines())
    for value, says in (("91,0", "out of range"), ("1,2,5", "not a distance"),
                        ("1,2,0km", "must be above 0"), ("paris", "near: takes LAT,LON"),
                        (plain, "has no GPS position"), ("ffff0000", "no asset starts")):
        r = mstore_proc("find", f"near:{value}", store=store)
        assert r.code == 2 and says in r.err and "Traceback" not in r.err, (value, r.err)


def test_show_by_id_prefix_path_and_json(cataloged) -> None:  # noqa: ANN001
    store, root, _ = cataloged
    row = mstore("find", "kind:image", "--json", "--limit", "1", store=store).json_lines()[0]
    by_prefix = mstore("show", row["id"][:10], "--json", store=store)
    assert by_prefix.code == 0
    d = by_prefix.json()
    assert d["id"] == row["id"] and d["kind"] == "image" and d["paths"]
    rel = row["paths"][0].split("/", 1)[1]
    assert mstore("show", str(root / rel), "--json", store=store).json()["id"] == row["id"]
    assert mstore("show", rel, "--json", store=store).json()["id"] == row["id"]
    human = mstore("show", row["id"][:10], store=store).out
    assert row["id"] in human and rel in human


def test_ambiguous_prefix_is_a_usage_error(tmp_path: Path) -> None:
    from mstore.model.meta import Meta
    from mstore.model.records import AssetRecorded, PathSeen
    from mstore.store.store import Store

    (tmp_path / "a").mkdir()
    st = Store.init(tmp_path / "s", [tmp_path / "a"])
    w = st.writer()
    for i, aid in enumerate(("abcd0" + "0" * 59, "abcd1" + "0" * 59)):
        w.append(AssetRecorded(hlc=w.now(), id=aid, size=1, meta=Meta(kind="text", mime="t")))
        w.append(PathSeen(hlc=w.now(), root="a", path=b"f%d" % i, asset=aid, size=1,
                          mtime_ns=1, inode=i))
    w.flush()
    st.close()
    r = mstore("show", "abcd", store=tmp_path / "s")
    assert r.code == 2 and "ambiguous" in r.err
    assert mstore("show", "abcd1", "--json", store=tmp_path / "s").json()["id"].startswith("abcd1")


def test_hostile_names_are_quoted_on_a_terminal(cataloged) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    out = mstore("find", store=store).out
    for line in out.splitlines():
        assert "\x1b" not in line
    assert '"' in out  # names with newlines / invalid UTF-8 are shown C-quoted
    assert "\\n" in out or "\\x" in out


def test_status_is_short_and_has_json(cataloged) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    r = mstore("status", store=store)
    assert r.code == 0 and "assets" in r.out and "last add" in r.out
    assert len(r.out.splitlines()) < 20
    j = mstore("status", "--json", store=store).json()
    assert j["assets"] == sum(j["by_kind"].values()) and j["last_add"]["finished_ms"] > 0


# what the read commands must not load: media, orchestration and web libraries, and
# what only writing or other commands need (each costs milliseconds of every start)
NOT_AT_START = (
    "PIL", "av", "pypdf", "pillow_heif", "temporalio", "hnswlib", "watchdog", "numpy",
    "starlette", "jinja2", "uvicorn", "blake3", "typing_extensions",
    "socket", "secrets", "shutil", "tempfile", "subprocess", "multiprocessing",
    "concurrent.futures", "asyncio", "click.shell_completion",
    "mstore.catalog.add", "mstore.catalog.probe", "mstore.catalog.pool", "mstore.orchestration",
    "mstore.ui", "mstore.tools", "mstore.cli.store_cmds", "mstore.cli.catalog_cmds",
    "mstore.cli.run_cmds", "mstore.cli.artifact_cmds", "mstore.cli.ui_cmd",
)


def test_read_commands_do_not_import_heavy_modules(cataloged) -> None:  # noqa: ANN001
    """`mstore status`, `show` and `find` must start fast: media, orchestration and web
    libraries, blake3 (nothing is hashed) and the modules of other commands load only
    where used. The modules are listed, not timed, so this cannot flake."""
    store, _, _ = cataloged
    aid = mstore("find", "--json", "--limit", "1", store=store).json_lines()[0]["id"]
    code = ("import sys; from mstore.cli.main import main\n"
            "try:\n    main(['--store', sys.argv[1], *sys.argv[2:]])\n"
            "except SystemExit:\n    pass\n"
            "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)")
    for argv in (["status"], ["show", aid[:10]], ["find", "kind:image", "--count"],
                 ["find", "--json", "--limit", "2", "path:*a*", "size:>1k"]):
        p = subprocess.run([sys.executable, "-c", code, str(store), *argv],
                           capture_output=True, cwd=REPO)
        assert p.returncode == 0, p.stderr.decode()
        line = p.stderr.decode().splitlines()[-1]
        assert line.startswith("MODULES ")
        loaded = set(line.split()[1:])
        heavy = sorted(m for m in loaded if m in NOT_AT_START
                       or any(m.startswith(h + ".") for h in NOT_AT_START))
        assert heavy == [], (argv, heavy)


def test_command_table_names_every_command_of_every_module() -> None:
    """Commands are imported on first use from the module COMMAND_MODULES names: a
    command missing there, or named with the wrong module, would not be found."""
    import importlib

    from mstore.cli.main import COMMAND_MODULES, cli

    defined = {}
    for module in set(COMMAND_MODULES.values()):
        for cmd in importlib.import_module(f"mstore.cli.{module}").COMMANDS:
            defined[cmd.name] = module
    assert defined == COMMAND_MODULES
    assert sorted(cli.commands) == sorted(COMMAND_MODULES)
    assert all(cli.commands[name].name == name for name in COMMAND_MODULES)


def test_init_refuses_an_existing_store(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert mstore("init", "--store", tmp_path / "s", tmp_path / "a").code == 0
    r = mstore("init", "--store", tmp_path / "s", tmp_path / "a")
    assert r.code == 2 and "already" in r.err


def test_add_outside_the_roots_is_refused(cataloged, tmp_path: Path) -> None:  # noqa: ANN001
    store, _, _ = cataloged
    r = mstore("add", str(tmp_path), store=store)
    assert r.code == 2 and "not under an archive root" in r.err
