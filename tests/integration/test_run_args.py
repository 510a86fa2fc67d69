"""``mstore run`` refuses bad requests before anything is recorded or started: one line on
stderr, a documented exit code, no run in the log, no server or worker started.

The store's ``[temporal] address`` points at a port nothing listens on, so a request
that got past the checks would fail differently (and leave a run behind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mstore.errors import EXIT_UNREACHABLE
from mstore.tools.registry import Registry
from tests.helpers import mstore
from tests.integration.temporal_env import make_store

DEAD = 'address = "127.0.0.1:9"\n'  # the discard port: nothing answers there


@pytest.fixture(scope="module")
def store(archive, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    base = tmp_path_factory.mktemp("runargs")
    rs = make_store(base, archive[0], None, temporal_toml=DEAD)
    assert mstore("collection", "create", "vac", "--query", "path:2019/vacation/",
                  store=rs.path).code == 0
    return rs.path


def nothing_started(store: Path) -> None:
    assert mstore("log", "--json", store=store).json_lines() == []
    assert not (store / "local" / "temporal" / "worker.pid").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--sample", "-5"], "at least 1 unit"),
    (["--sample", "0"], "at least 1 unit"),
    (["--sample", "150%"], "at most 100"),
    (["--sample", "-5%"], "above 0"),
    (["--sample", "0%"], "above 0"),
    (["--sample", "nan%"], "above 0"),
    (["--sample", "many"], "expected N (units) or P%"),
    (["--max-units", "-1"], "--max-units -1: must be at least 1"),
    (["--max-units", "0"], "--max-units 0: must be at least 1"),
    (["--max-concurrency", "0"], "--max-concurrency 0: must be at least 1"),
    (["--max-concurrency", "100000"], "must be at most 1,000"),
    (["--max-units", "99999999999999999999"], "must be at most"),
    (["--max-bytes", "lots"], "--max-bytes lots: 'lots' is not a size"),
    (["--max-bytes", "5XB"], "unknown size unit 'XB'"),
    (["--max-bytes", "0"], "--max-bytes 0: must be at least 1 byte"),
    (["--max-bytes", "0.1"], "--max-bytes 0.1: must be at least 1 byte"),
    (["--production", "--sandbox"], "exclude each other"),
    (["--production", "--sample", "5"], "--sample is for sandbox runs"),
    (["--param", "thumbnail.size=99999999999999999999"], "out of range"),
    (["--param", "thumbnail.size=-1"], "size: -1 is out of range (16..4096)"),
    (["--param", "thumbnail.size=big"], "is not a int"),
    (["--param", "thumbnail.colour=red"], "unknown params ['colour']"),
    (["--param", "nostep.size=1"], "no step ['nostep']"),
    (["--on", "nosuch"], "no collection 'nosuch'"),
    (["--on", "@nosuch"], "no collection 'nosuch'"),
    (["--on", "vac", "kind:image"], "a collection (--on) or a query, not both"),
])
def test_bad_run_requests_are_one_line_usage_errors(store: Path, args: list[str],
                                                     message: str) -> None:
    r = mstore("run", "photos", *args, store=store)
    assert r.code == 2, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mstore: ") and message in lines[0], r.err
    assert "Traceback" not in r.err and r.out == ""
    nothing_started(store)


@pytest.mark.parametrize("args", [["no-such-word-anywhere"], ["kind:text"],
                                  ["--production", "path:nowhere/"],
                                  ["--production", "--max-bytes", "1"]])
def test_a_selection_of_no_units_starts_nothing(store: Path, args: list[str]) -> None:
    """0 units (a query matching nothing, or nothing the pipeline applies to: photos over
    text files) is "nothing found": exit 1, one line, no run recorded."""
    r = mstore("run", "photos", *args, store=store)
    assert r.code == 1, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mstore: nothing to run: "), r.err
    assert ("image" in lines[0] or "--max-bytes 1;" in lines[0]) and r.out == ""
    nothing_started(store)


def test_an_unreachable_server_records_no_run(store: Path) -> None:
    """A valid request whose configured server does not answer leaves no run behind."""
    r = mstore("run", "photos", "--on", "vac", store=store)
    assert r.code == EXIT_UNREACHABLE and "does not answer" in r.err, (r.out, r.err)
    assert len(r.err.strip().splitlines()) == 1
    nothing_started(store)


def test_a_dry_run_plans_and_starts_nothing(store: Path) -> None:
    """--dry-run / -n: every check of a real run, then what it would be — its units after
    the sample and caps, its steps pinned with their params — and nothing recorded, no
    object stored, no server asked (this store's does not answer)."""
    objects = sorted(p.name for p in (store / "objects").rglob("*") if p.is_file())
    r = mstore("run", "photos", "--on", "vac", "--dry-run", store=store)
    assert r.code == 0, (r.out, r.err)
    first, *rest = r.out.splitlines()
    steps = [line for line in rest if line.startswith("  ") and line[2] != " "]
    images = int(mstore("find", "--count", "path:2019/vacation/", "kind:image",
                        store=store).out)
    assert 0 < images < 50  # the photos pipeline's sandbox sample: 50 units
    # each step's cost below it; no run has computed anything in this store yet
    assert [line.strip() for line in rest if line.startswith(" " * 14)] == [
        f"reuse 0, compute {images}, time unknown (no earlier run computed it)"] * 3
    assert rest[-1] == "no estimate of the time: a step no earlier run computed"
    assert first == (f"dry run: photos, sandbox, sample 50: {images} of {images} units  "
                     "(nothing recorded or started)")
    versions = {t: Registry.for_store(None).get(t).version for t in ("metadata", "thumbnail",
                                                                     "phash")}
    assert [line.split()[:2] for line in steps] == [[t, f"{t}@{v}"] for t, v in versions.items()]
    assert "size=128" in steps[1]  # the sandbox's cheaper params, as the run would have
    j = mstore("run", "photos", "-n", "--production", "--max-units", "2", "--json",
               store=store).json()
    assert (j["dry_run"], j["policy"], j["units"], j["sample"]) == (True, "production", 2, None)
    assert j["selected"] > 2 and [s["name"] for s in j["steps"]] == [
        "metadata", "thumbnail", "phash"]
    assert j["steps"][1]["params"]["size"] == 256 and j["steps"][1]["resource"] == "cpu"
    # the checks are the real run's: a bad request or nothing to run exits as it would
    assert mstore("run", "photos", "-n", "--sample", "0", store=store).code == 2
    assert mstore("run", "photos", "-n", "path:nowhere/", store=store).code == 1
    follow = mstore("run", "photos", "-n", "--follow", store=store)
    assert follow.code == 2 and "--dry-run starts nothing to --follow" in follow.err
    nothing_started(store)
    assert sorted(p.name for p in (store / "objects").rglob("*") if p.is_file()) == objects
