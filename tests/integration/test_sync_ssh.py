"""Store transfers over real ssh (tests/fixtures/sshd.py: Debian's sshd on 127.0.0.1 with
its own keys), with ``mstore sync-serve`` answering on the other side."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
import tomllib
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mstore.store.store import Store
from tests.helpers import mstore, mstore_proc
from tests.integration.test_run_reading import run_all
from tests.integration.test_sync import answers, host_a  # noqa: F401 - a fixture

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def ssh_env(ssh_host, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    for k, v in ssh_host.env.items():
        monkeypatch.setenv(k, v)
    return ssh_host


def test_clone_push_and_pull_over_ssh(ssh_env, host_a, tmp_path: Path) -> None:  # noqa: ANN001, F811
    a_src, archive, run = host_a
    # the "NAS" copy is reached over ssh; this side is the laptop
    nas = tmp_path / "nas"
    assert mstore("clone", a_src, nas, "--root", f"archive={archive}").code == 0
    laptop = tmp_path / "laptop"
    remote_mstore = str(Path(sys.executable).with_name("mstore"))  # named, not found on PATH
    r = mstore("clone", ssh_env.url(nas), laptop, "--root", f"archive={archive}", "--json",
               "--remote-mstore", remote_mstore)
    assert r.code == 0, r.err
    assert tomllib.loads((laptop / "config.toml").read_text())["remotes"]["origin"] == {
        "url": ssh_env.url(nas), "mstore": remote_mstore}
    assert r.json()["pull"]["segments"] > 0 and r.json()["pull"]["objects"] > 0
    assert answers(laptop, [run]) == answers(nas, [run])
    # a run on the laptop goes to the NAS by push; one on the NAS comes back by pull
    on_laptop = run_all(laptop, "photos", policy="sandbox", sample="4",
                        params={"thumbnail": {"size": 80}})
    pushed = mstore("push", "--json", store=laptop)
    assert pushed.code == 0, pushed.err
    assert pushed.json()["push"]["segments"] > 0 and pushed.json()["push"]["objects"] > 0
    on_nas = run_all(nas, "dedupe")
    assert mstore("remote", "add", "nas2", ssh_env.scp_url(nas), store=laptop).code == 0
    pulled = mstore("pull", "nas2", "--json", store=laptop)
    assert pulled.code == 0, pulled.err
    ids = [run, on_laptop, on_nas]
    assert answers(laptop, ids) == answers(nas, ids)
    assert mstore("fsck", store=nas).code == 0 and mstore("fsck", store=laptop).code == 0


def wait_served(store: Path, timeout: float = 30.0) -> None:
    """Until no ``mstore sync-serve`` of ``store`` runs on this host any more."""
    deadline = time.monotonic() + timeout
    needle = f"sync-serve {store}".encode()
    while True:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                running |= needle in cmdline.read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
        if not running:
            return
        assert time.monotonic() < deadline, f"sync-serve of {store} still runs"
        time.sleep(0.05)


def _big_objects(store: Path, n: int, size: int) -> list[str]:
    st = Store(store)
    try:
        return [st.objects.put(os.urandom(size)) for _ in range(n)]
    finally:
        st.close()


def test_an_interrupted_push_resumes_without_sending_again(ssh_host, host_a,  # noqa: ANN001, F811
                                                           tmp_path: Path) -> None:
    a_src = host_a[0]
    here = tmp_path / "here"
    assert mstore("clone", a_src, here).code == 0
    far = tmp_path / "far"
    assert mstore("clone", a_src, far).code == 0
    assert mstore("remote", "add", "far", ssh_host.url(far), store=here).code == 0
    made = _big_objects(here, 10, 2 << 20)  # loose objects: each arrives whole or not at all
    ssh = shlex.split(ssh_host.env["MSTORE_SSH"])
    # cut after 16 of 20 MiB went into ssh: what the socket buffers held is lost, what the
    # other side had read whole stays
    cut = {**os.environ, "MSTORE_SSH": shlex.join(
        [sys.executable, "-m", "tests.fixtures.cutline", f"in:{16 << 20}", *ssh])}
    broken = mstore_proc("push", "far", store=here, env=cut)
    assert broken.code == 10, broken.err
    assert broken.err.count("\n") == 1 and "far" not in broken.err.split(":")[0]
    wait_served(far)  # the other side finishes what arrived whole when its input ends
    arrived = [o for o in made if (far / "objects" / o[:2] / o[2:4] / o).exists()]
    assert 0 < len(arrived) < len(made)
    # nothing half-written is visible on the far side
    assert mstore("fsck", store=far).code == 0
    again = mstore_proc("push", "far", "--json", store=here,
                        env={**os.environ, **ssh_host.env})
    assert again.code == 0, again.err
    out = json.loads(again.out)["push"]
    assert out["planned"]["objects"] == len(made) - len(arrived)
    assert all((far / "objects" / o[:2] / o[2:4] / o).exists() for o in made)


def test_unreachable_remotes_are_one_line(ssh_env, host_a, tmp_path: Path) -> None:  # noqa: ANN001, F811
    a_src = host_a[0]
    # nothing listens on the port
    r = mstore("clone", f"ssh://127.0.0.1:1{tmp_path}/x", tmp_path / "c1")
    assert r.code == 10 and r.err.count("\n") == 1, r.err
    # the host answers, but has no such mstore command
    r = mstore("clone", ssh_env.url(a_src), tmp_path / "c2",
               "--remote-mstore", "/nonexistent/mstore")
    assert r.code == 10 and r.err.count("\n") == 1 and "is mstore installed there" in r.err
    # the path there is not a store
    r = mstore("clone", ssh_env.url(tmp_path), tmp_path / "c3")
    assert r.code == 10 and "not an mstore store" in r.err and r.err.count("\n") == 1, r.err
    assert not any((tmp_path / c).exists() for c in ("c1", "c2", "c3"))


def test_a_partial_laptop_copy_serves_the_ui_without_the_archive(ssh_env, host_a,  # noqa: ANN001, F811
                                                                 tmp_path: Path) -> None:
    from mstore.ui.app import create_app

    a_src, _, run = host_a
    laptop = tmp_path / "laptop"
    r = mstore("clone", ssh_env.url(a_src), laptop, "--kinds", "thumbnail")
    assert r.code == 0, r.err
    thumbs = [a for a in answers(a_src, [run])["show"][run]["recent_artifacts"]
              if a["kind"] == "thumbnail"]
    assert thumbs
    with TestClient(create_app(laptop), base_url="http://localhost:8765") as client:
        grid = client.get("/")
        assert grid.status_code == 200
        assert any(f"/artifact/{t['id']}/payload" in grid.text for t in thumbs)
        img = client.get(f"/artifact/{thumbs[0]['id']}/payload")
        assert img.status_code == 200 and img.headers["content-type"].startswith("image/")
        asset = client.get(f"/asset/{thumbs[0]['asset']}")
        assert asset.status_code == 200
    # all of it without the archive: no root has a path on the laptop
    assert tomllib.loads((laptop / "config.toml").read_text())["roots"] == {}


def test_an_interrupted_clone_is_completed_by_pull(ssh_host, host_a,  # noqa: ANN001, F811
                                                   tmp_path: Path) -> None:
    a_src, _, run = host_a
    src = tmp_path / "src"
    assert mstore("clone", a_src, src).code == 0
    _big_objects(src, 4, 2 << 20)
    ssh = shlex.split(ssh_host.env["MSTORE_SSH"])
    cut = {**os.environ, "MSTORE_SSH": shlex.join(
        [sys.executable, "-m", "tests.fixtures.cutline", f"out:{3 << 20}", *ssh])}
    dst = tmp_path / "dst"
    broken = mstore_proc("clone", ssh_host.url(src), dst, env=cut)
    assert broken.code == 10 and broken.err.count("\n") == 1, broken.err
    assert f"'mstore --store {dst} pull' completes it" in broken.err
    done = mstore_proc("pull", store=dst, env={**os.environ, **ssh_host.env})
    assert done.code == 0, done.err
    assert answers(dst, [run]) == answers(src, [run])
    assert mstore("fsck", store=dst).code == 0
