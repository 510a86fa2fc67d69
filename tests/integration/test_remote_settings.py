"""What workers on other hosts configure: the store id every copy shares, the embedded
server listening beyond loopback (``server start --bind``), an external cluster with TLS
(``[temporal.tls]``) and a worker's ``push``; each key checked like the others."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, mstore, mstore_proc

pytest_plugins = ["tests.integration.temporal_env"]


def config_id(store: Path) -> str | None:
    m = re.search(r'(?m)^id = "([^"]*)"', (store / "config.toml").read_text())
    return m.group(1) if m else None


def drop_id(store: Path) -> None:
    """config.toml as a store made before ids had it."""
    text = (store / "config.toml").read_text()
    (store / "config.toml").write_text(re.sub(r'(?m)^id = "[^"]*"\n', "", text))


def copy_of(store: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for part in ("objects", "records"):
        shutil.copytree(store / part, dst / part)
    shutil.copy(store / "config.toml", dst / "config.toml")
    return dst


def queue_key(store: Path) -> str:
    from tests.integration.temporal_env import store_key

    return store_key(store)


def test_store_id_at_init_and_for_older_stores(cataloged, tmp_path: Path) -> None:  # noqa: ANN001
    """``init`` writes ``[store] id``; a store made before ids derives one from its
    history, alike in every copy (made before the id existed), and records it once; a
    store that is not a copy gets another."""
    store, root, _ = cataloged
    sid = config_id(store)
    assert sid and re.fullmatch(r"[0-9a-f]{24}", sid)
    assert queue_key(store) == sid

    old = copy_of(store, tmp_path / "old")
    drop_id(old)
    twin = copy_of(old, tmp_path / "twin")  # an rsync of the old store, elsewhere
    derived = queue_key(old)
    assert config_id(old) == derived != sid  # recorded in config.toml
    assert queue_key(twin) == derived == config_id(twin)

    other = tmp_path / "other"
    assert mstore("init", "--store", other, root).code == 0
    assert mstore("add", store=other).code == 0
    drop_id(other)
    assert queue_key(other) not in (derived, sid)

    empty = tmp_path / "empty"
    assert mstore("init", "--store", empty, root).code == 0
    drop_id(empty)
    first = queue_key(empty)  # no history to derive from: a new id, recorded
    assert config_id(empty) == first == queue_key(empty)


@pytest.mark.parametrize(("section", "needle"), [
    ('[store]\nid = 5\n', "[store] id must be"),
    ('[store]\nid = "Not An Id"\n', "[store] id must be"),
    ('[temporal]\ntls = "yes"\n', "[temporal] tls must be a table"),
    ('[temporal.tls]\nca = 3\n', "[temporal.tls] ca must be an absolute path"),
    ('[temporal.tls]\nca = "relative.pem"\n', "[temporal.tls] ca must be an absolute path"),
    ('[temporal.tls]\ncert = "/c.pem"\n', "[temporal.tls] cert and key go together"),
    ('[temporal.tls]\nserver_name = ""\n', "[temporal.tls] server_name must be"),
    ('[worker]\npush = ""\n', "[worker] push must be a remote's name"),
    ('[worker]\npush_every = 0\n', "[worker] push_every must be"),
    ('[worker]\npush_every = "often"\n', "[worker] push_every must be"),
])
def test_config_keys_checked(fresh_store, section: str, needle: str) -> None:  # noqa: ANN001
    store, _root = fresh_store
    text = (store / "config.toml").read_text()
    if section.startswith("[store]"):
        text = re.sub(r'(?m)^id = "[^"]*"\n', "", text).replace("[store]\n", section, 1)
    else:
        text += "\n" + section
    (store / "config.toml").write_text(text)
    r = mstore_proc("log", store=store)
    assert r.code == 2, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.err


def test_tls_settings_reach_the_client(temporal_server, archive, tmp_path: Path  # noqa: ANN001
                                       ) -> None:
    """``[temporal.tls]`` is what the client connects with: against the dev server,
    which speaks plain gRPC, the handshake fails, in one line (exit 9), not a
    traceback; without it the same address works. A key file that cannot be read is a
    usage error naming the key."""
    from tests.integration.temporal_env import make_store

    ca = tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "ca.key"), "-out", str(ca), "-days", "1", "-subj",
                    "/CN=mstore test CA"], check=True, capture_output=True)
    rs = make_store(tmp_path, archive[0], None, temporal_toml=(
        f'address = "{temporal_server.address}"\n\n[temporal.tls]\nca = "{ca}"\n'
        'server_name = "temporal.example"\n'))
    rs.noop_pipeline("fast")
    for argv in (("server", "start"), ("run", "fast")):
        r = mstore_proc(*argv, store=rs.path)
        assert r.code == 9, (r.out, r.err)
        lines = r.err.strip().splitlines()
        assert len(lines) == 1, r.err
        assert "TLS handshake failed: the server does not speak TLS" in lines[0]
        assert "[temporal.tls]" in lines[0]

    text = (rs.path / "config.toml").read_text()
    (rs.path / "config.toml").write_text(text + f'cert = "{tmp_path}/none.pem"\n'
                                         f'key = "{tmp_path}/none.key"\n')
    r = mstore_proc("server", "start", store=rs.path)
    assert r.code == 2 and r.err.strip() == (
        f"mstore: [temporal.tls] cert: cannot read {tmp_path}/none.pem (No such file or "
        "directory)"), r.err

    (rs.path / "config.toml").write_text(text.split("[temporal.tls]")[0])
    assert mstore_proc("server", "start", store=rs.path).code == 0
    rs.stop_workers()


def listening(port: int) -> set[str]:
    """The local addresses TCP sockets listen on at ``port`` (/proc/net/tcp and tcp6),
    as hex: all zeros is every address (0.0.0.0, or :: dual-stack)."""
    out = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:
                out.add("every" if set(addr) == {"0"} else addr)
    return out


def test_server_start_bind(archive, tmp_path: Path) -> None:  # noqa: ANN001
    """``server start --bind 0.0.0.0``: the embedded server listens on every address,
    with one warning line that it has no authentication; ``server status`` shows the
    bind; it cannot move while running; a bad address is a usage error."""
    from tests.integration.temporal_env import free_port, make_store

    port, ui = free_port(), free_port()
    rs = make_store(tmp_path, archive[0], None,
                    temporal_toml=f"port = {port}\nui_port = {ui}\n")
    try:
        assert mstore_proc("server", "start", "--bind", "nowhere", store=rs.path).code == 2
        r = mstore_proc("server", "start", "--bind", "0.0.0.0", store=rs.path, timeout=150)
        assert r.code == 0, r.err
        warnings = [ln for ln in r.err.splitlines() if ln.startswith("warning:")]
        assert len(warnings) == 1 and "without authentication" in warnings[0]
        assert f"port {port}" in warnings[0]
        assert listening(port) == {"every"}
        st = mstore_proc("server", "status", "--json", store=rs.path).json()
        assert st["bind"] == "0.0.0.0" and st["server_up"] and st["own"]
        assert "listening on 0.0.0.0" in mstore_proc("server", "status", store=rs.path).out
        moved = mstore_proc("server", "start", "--bind", "127.0.0.1", store=rs.path)
        assert moved.code == 2 and "mstore server stop" in moved.err
        again = mstore_proc("server", "start", store=rs.path)  # stays where it listens
        assert again.code == 0 and "warning" not in again.err
        assert listening(port) == {"every"}
    finally:
        subprocess.run([sys.executable, "-m", "mstore", "--store", str(rs.path), "server",
                        "stop"], cwd=REPO, capture_output=True, timeout=60)
