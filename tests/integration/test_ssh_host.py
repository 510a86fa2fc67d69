"""The second "host" the sync tests reach over real ssh (tests/fixtures/sshd.py): commands
run as this user and find this checkout's mstore, strangers are refused without a prompt,
and stop()/start() cut and restore the line."""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from pathlib import Path

from tests.fixtures.sshd import SshHost, keygen, start_ssh_host
from tests.helpers import REPO

# BatchMode must refuse at once; a prompt would hang until this bound
NO_PROMPT = 30


def _client_config(host: SshHost, tmp_path: Path, **replace: Path) -> Path:
    """The host's client config with some of its files swapped for others."""
    text = host.config.read_text()
    old = {"identity": host.identity, "known_hosts": host.dir / "known_hosts"}
    for key, new in replace.items():
        text = text.replace(str(old[key]), str(new))
    config = tmp_path / "ssh_config"
    config.write_text(text)
    return config


def _ssh(config: Path, host: SshHost, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-F", str(config), host.alias, *argv], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=NO_PROMPT)


def test_a_command_runs_as_this_user_and_finds_this_checkouts_mstore(ssh_host: SshHost
                                                                      ) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    assert ssh_host.run("id", "-un").stdout.strip() == me
    assert ssh_host.run("command", "-v", "mstore").stdout.strip() == str(
        REPO / ".venv" / "bin" / "mstore")
    local = subprocess.run([str(REPO / ".venv" / "bin" / "mstore"), "--version"],
                           capture_output=True, text=True, check=True)
    remote = ssh_host.run("mstore", "--version")
    assert (remote.returncode, remote.stdout) == (0, local.stdout)
    # words reach the remote command as given, spaces and quotes included
    assert ssh_host.run("printf", "%s|", "a b", "it's", "$HOME").stdout == "a b|it's|$HOME|"


def test_mstore_ssh_and_the_urls_name_the_host(ssh_host: SshHost, tmp_path: Path) -> None:
    (tmp_path / "hello").write_text("from the other host\n")
    ssh = shlex.split(ssh_host.env["MSTORE_SSH"])
    host, path = ssh_host.scp_url(tmp_path / "hello").split(":", 1)
    r = subprocess.run([*ssh, host, "cat", path], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=NO_PROMPT)
    assert (r.returncode, r.stdout) == (0, "from the other host\n")
    assert ssh_host.url(tmp_path / "hello") == f"ssh://{host}{path}"


def test_a_key_the_host_does_not_know_is_refused(ssh_host: SshHost, tmp_path: Path) -> None:
    keygen(tmp_path / "stranger")
    r = _ssh(_client_config(ssh_host, tmp_path, identity=tmp_path / "stranger"), ssh_host,
             "true")
    assert r.returncode == 255
    assert "Permission denied (publickey)" in r.stderr


def test_a_host_key_the_client_does_not_know_is_refused(ssh_host: SshHost, tmp_path: Path
                                                        ) -> None:
    (tmp_path / "empty").write_text("")
    impostor = keygen(tmp_path / "impostor").split()[:2]
    (tmp_path / "impostor_known").write_text(f"[127.0.0.1]:{ssh_host.port} {' '.join(impostor)}\n")
    for known in ("empty", "impostor_known"):
        r = _ssh(_client_config(ssh_host, tmp_path, known_hosts=tmp_path / known), ssh_host,
                 "true")
        assert r.returncode == 255, known
        assert "Host key verification failed." in r.stderr, known


def test_stop_cuts_open_connections_and_start_brings_the_host_back(ssh_host: SshHost,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "other-host").mkdir()
    other = start_ssh_host(tmp_path / "other-host")  # stop() must leave other sshds alone
    try:
        held = subprocess.Popen(ssh_host.ssh_argv("sh", "-c", "echo open; exec cat"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert held.stdout.readline() == "open\n"
        ssh_host.stop()
        try:
            # the open connection drops mid-way, like a transfer on a cut line
            assert held.wait(timeout=NO_PROMPT) == 255
            refused = ssh_host.run("true")
            assert refused.returncode == 255 and "Connection refused" in refused.stderr
            assert other.run("true").returncode == 0
        finally:
            held.stdin.close()
            ssh_host.start()
        again = ssh_host.run("mstore", "--version")
        assert again.returncode == 0, again.stderr
    finally:
        other.close()
