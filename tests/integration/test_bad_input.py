"""Bad input that the argument table (test_hostile_argv.py) cannot express: an error no
command expected, and config.toml values of the wrong type or from a newer mstore."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mstore.cli import main as cli_main
from mstore.errors import EXIT_INTERNAL, EXIT_NO_STORE, EXIT_UNREACHABLE, EXIT_USAGE
from tests.helpers import mstore, mstore_proc


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        cli_main.main(argv)
    return int(e.value.code), capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_exit_70(
        fresh_store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store, _ = fresh_store
    from mstore.store import store as store_mod

    def broken(*_a: object, **_k: object) -> None:  # an injected fault: a bug somewhere
        raise LookupError("a bug\nover two lines")

    monkeypatch.delenv("MSTORE_DEBUG", raising=False)
    monkeypatch.setattr(store_mod.Store, "discover", broken)
    code, err = _main(["--store", str(store), "status"], capsys)
    assert code == EXIT_INTERNAL == 70
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mstore: internal error: LookupError: a bug over two lines")
    assert "MSTORE_DEBUG=1" in err
    # asked for, the traceback is there
    monkeypatch.setenv("MSTORE_DEBUG", "1")
    with pytest.raises(LookupError):
        cli_main.main(["--store", str(store), "status"])


CONFIG_CASES = [
    ("format = 1", 'format = "1"', EXIT_USAGE, "[store] format"),
    ("format = 1", "format = 0", EXIT_USAGE, "[store] format"),
    ("[roots]", "[roots]\nextra = 5", EXIT_USAGE, '[roots] "extra"'),
    ("[roots]", '[roots]\nextra = "relative/path"', EXIT_USAGE, '[roots] "extra"'),
    ("[roots]", "[roots.sub]", EXIT_USAGE, '[roots] "sub" must be an absolute path'),
    ("extra_ignore = []", 'extra_ignore = "*.tmp"', EXIT_USAGE, "[catalog] extra_ignore"),
    ("extra_ignore = []", "extra_ignore = [1]", EXIT_USAGE, "[catalog] extra_ignore"),
    ("[catalog]", "[temporal]\nport = 99999\n[catalog]", EXIT_USAGE, "[temporal] port"),
    ("[catalog]", '[temporal]\nport = "7233"\n[catalog]', EXIT_USAGE, "[temporal] port"),
    ("[catalog]", "[temporal]\nui_port = true\n[catalog]", EXIT_USAGE, "[temporal] ui_port"),
    ("[catalog]", "[temporal]\naddress = 7233\n[catalog]", EXIT_USAGE, "[temporal] address"),
    ("[catalog]", '[temporal]\nnamespace = ""\n[catalog]', EXIT_USAGE, "[temporal] namespace"),
    ("# mstore store", "temporal = 3\n# mstore store", EXIT_USAGE,
     "[temporal] must be a table"),
    *[("[catalog]", f"[worker]\n{line}\n[catalog]", EXIT_USAGE, f"[worker] {key}")
      for line, key in (('queues = ["cpu", "tpu"]', "queues"), ("queues = []", "queues"),
                        ('queues = "gpu"', "queues"), ("concurrency = 0", "concurrency"),
                        ("gpu_concurrency = 2000", "gpu_concurrency"))],
    ("format = 1", "format = 2", EXIT_NO_STORE, "format 2"),
]


@pytest.mark.parametrize(("old", "new", "code", "named"), CONFIG_CASES)
def test_config_values_are_checked_on_load(fresh_store: tuple[Path, Path], old: str, new: str,
                                           code: int, named: str) -> None:
    store, _ = fresh_store
    config = store / "config.toml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    records = sorted(p.name for p in (store / "records").rglob("*"))
    for argv in (["status"], ["find", "kind:image"], ["fsck"], ["add"]):
        r = mstore_proc(*argv, store=store)
        assert r.code == code, (argv, r.err)
        assert r.err.count("\n") == 1 and named in r.err and "Traceback" not in r.err
    if code == EXIT_NO_STORE:
        assert "newer mstore" in r.err and "format 1" in r.err
    assert sorted(p.name for p in (store / "records").rglob("*")) == records  # add refused


def test_config_that_is_not_utf8_is_one_line(fresh_store: tuple[Path, Path]) -> None:
    store, _ = fresh_store
    with open(store / "config.toml", "ab") as f:
        f.write(b'\n# \xff\xfe\n')
    r = mstore("status", store=store)
    assert r.code == EXIT_USAGE and "config.toml" in r.err


def test_an_unreachable_temporal_server_is_one_line_every_time(
        fresh_store: tuple[Path, Path]) -> None:
    """The SDK's failed connection used to outlive the error and crash the process at exit
    (SIGSEGV / SIGABRT after the message) about one time in eight."""
    from tests.integration.temporal_env import free_port
    from tests.integration.test_run_reading import DirectRun

    store, _ = fresh_store
    with open(store / "config.toml", "a") as f:  # nothing listens there
        f.write(f'\n[temporal]\naddress = "127.0.0.1:{free_port()}"\n')
    assert mstore("add", store=store).code == 0
    running = DirectRun(store, "photos", policy="sandbox")
    running.close()
    # the crash came with a busy machine: make it busy (an injected condition)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(2 * (os.cpu_count() or 1))]
    codes = []
    try:
        for _ in range(16):  # each contacts the server: pause a running run, resume a paused
            state = mstore("show", running.id, "--json", store=store).json()["state"]
            r = mstore_proc("pause" if state == "running" else "resume", running.id,
                            store=store)
            assert "cannot reach the Temporal server" in r.err and "Traceback" not in r.err
            codes.append(r.code)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    assert codes == [EXIT_UNREACHABLE] * 16
