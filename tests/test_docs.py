"""Documentation and code must not drift: a command, hook or record type that goes
missing from either side fails here."""

from __future__ import annotations

import re

import click

from mstore.cli.main import cli
from mstore.model import records
from tests.helpers import REPO


def _commands(group: click.Group, prefix: str = "") -> set[str]:
    out = set()
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out |= _commands(cmd, f"{prefix}{name} ")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_command_is_documented_and_every_documented_command_exists() -> None:
    doc = (REPO / "docs" / "cli.md").read_text()
    headings = re.findall(r"^### `mstore ([a-z-]+(?: [a-z]+)?)", doc, re.M)
    documented = set()
    for h in headings:
        documented.add(h)
        documented.add(h.split()[0])
    # "mstore pause RUN / mstore resume RUN / ..." headings name several commands
    documented |= set(re.findall(r"/ `mstore ([a-z-]+)", doc))
    code = _commands(cli)
    missing = {c for c in code if c not in documented and c.split()[0] not in documented}
    assert not missing, f"commands not in docs/cli.md: {sorted(missing)}"
    top = {c.split()[0] for c in code}
    stale = {h.split()[0] for h in headings} - top
    assert not stale, f"docs/cli.md documents commands that do not exist: {sorted(stale)}"


def test_every_record_type_is_in_the_format_doc() -> None:
    doc = (REPO / "docs" / "format.md").read_text()
    tags = [t.__struct_config__.tag for t in records.AnyRecord.__args__]
    missing = [t for t in tags if f'`t = "{t}"`' not in doc]
    assert not missing, f"record types missing from docs/format.md: {missing}"


def test_every_shipped_hook_sample_is_documented() -> None:
    doc = (REPO / "docs" / "cli.md").read_text() + (REPO / "docs" / "catalog.md").read_text()
    samples = [p.name for p in (REPO / "hooks").iterdir() if p.is_file()]
    assert samples
    missing = [s for s in samples if s not in doc]
    assert not missing, f"hook samples not documented: {missing}"


def test_json_shapes_in_the_docs_are_the_shapes_in_the_code() -> None:
    """docs/cli.md lists every --json shape exactly as mstore/services/shapes.py defines it
    (a key added, renamed or dropped on either side fails here)."""
    from mstore.services.shapes import SHAPES, render

    doc = (REPO / "docs" / "cli.md").read_text()
    documented = {name: " ".join(text.split()) for name, text in
                  re.findall(r"^### JSON: ([^\n]+)\n\n```\n(.+?)\n```", doc, re.M | re.S)}
    assert documented == {name: render(shape) for name, shape in SHAPES.items()}
