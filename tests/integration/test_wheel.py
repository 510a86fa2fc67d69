"""The distribution works on its own: a wheel built from this tree, installed into a fresh
virtualenv, has the built-in tools, the shipped pipelines and the sample hooks, and runs a
pipeline end to end on the embedded Temporal server. Nothing here reads the repository:
the commands run from a temporary directory, with no ``PYTHONPATH``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO
from tests.integration.temporal_env import free_port

SYSTEM_PYTHON = "/usr/bin/python3"  # what `make` builds its venv from
BUILTIN_TOOLS = {"metadata", "thumbnail", "phash", "duplicates", "keyframes", "audio",
                 "wordcount", "noop", "doctext", "ocr", "transcribe", "scenes", "faces",
                 "people", "embed", "similar-index", "quality", "best"}
SAMPLE_HOOKS = {"pre-add", "post-add", "post-run", "post-add-run-pipeline"}


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600
         ) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def _clean_env() -> dict[str, str]:
    """This environment minus anything that would let the repository's code leak in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MSTORE_DIR", "MSTORE_TOOLS_PATH")}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":")
                           if not p.startswith(str(REPO)))
    return env


def _make_photos(archive: Path) -> None:
    from PIL import Image

    archive.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        img = Image.new("RGB", (64 + 16 * i, 48), color)
        for x in range(0, img.width, 8):  # some structure, so the hashes differ
            img.putpixel((x, (x * (i + 1)) % img.height), (255, 255, 255))
        img.save(archive / f"photo{i}.jpg", quality=90)


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked, or new and not ignored), without build leftovers: an
    in-tree build would also pack whatever stale files an earlier one left in build/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
    for rel in filter(None, listed.stdout.split(b"\0")):
        src = REPO / os.fsdecode(rel)
        if src.is_file():
            (dest / os.fsdecode(rel)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(rel))
    return dest


def test_wheel_installs_and_runs_a_pipeline(tmp_path: Path) -> None:
    env = _clean_env()
    dist = tmp_path / "dist"
    src = _source_copy(tmp_path / "src")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src],
                 cwd=tmp_path, env=env)
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("mstore-*.whl")

    venv = tmp_path / "venv"
    made = _run([SYSTEM_PYTHON, "-m", "venv", venv], cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    # the wheel's pinned dependencies come from the index (pip's cache makes it quick)
    installed = _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel],
                     cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "work"
    work.mkdir()
    where = _run([venv / "bin" / "python", "-c", "import mstore; print(mstore.__file__)"],
                 cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    mstore = venv / "bin" / "mstore"
    archive = work / "archive"
    _make_photos(archive)
    store = work / "store"
    init = _run([mstore, "init", "--store", store, archive], cwd=work, env=env)
    assert init.returncode == 0, init.stderr
    assert {p.name for p in (store / "hooks").iterdir()} == {f"{h}.sample" for h in SAMPLE_HOOKS}
    port, ui_port = free_port(), free_port()
    with open(store / "config.toml", "a") as f:
        f.write(f"\n[temporal]\nport = {port}\nui_port = {ui_port}\n")
    env["MSTORE_DIR"] = str(store)

    pipelines = _run([mstore, "pipelines"], cwd=work, env=env)
    assert pipelines.returncode == 0, pipelines.stderr
    assert {line.split()[0] for line in pipelines.stdout.splitlines()} >= {
        "photos", "video", "dedupe"}
    tools = _run([mstore, "tools", "--json"], cwd=work, env=env)
    assert tools.returncode == 0, tools.stderr
    assert {json.loads(line)["id"] for line in tools.stdout.splitlines()} == BUILTIN_TOOLS

    assert _run([mstore, "add"], cwd=work, env=env).returncode == 0
    try:
        run = _run([mstore, "run", "photos", "--sandbox", "--follow"], cwd=work, env=env)
        server_log = store / "local" / "temporal" / "server.log"
        assert run.returncode == 0, run.stderr + (
            server_log.read_text(errors="replace")[-2000:] if server_log.exists() else "")
        [logged] = [json.loads(line) for line in
                    _run([mstore, "log", "--json"], cwd=work, env=env).stdout.splitlines()]
        assert logged["pipeline"] == "photos" and logged["state"] == "completed"
        assert logged["failed"] == 0 and logged["done"] == logged["total"] >= 1
        assert logged["artifacts"] >= 3 * logged["total"]  # metadata, thumbnail, phash each
        thumbs = work / "thumbs"
        export = _run([mstore, "export", "--kind", "thumbnail", "--to", thumbs, "--json"],
                      cwd=work, env=env)
        assert export.returncode == 0, export.stderr
        assert json.loads(export.stdout)["files"] == logged["total"]
    finally:
        stop = _run([mstore, "server", "stop"], cwd=work, env=env, timeout=120)
    assert stop.returncode == 0, stop.stderr
