"""What this copy remembers of each remote, in ``local/remotes/<name>.json`` (machine-local:
another copy has its own view): when the last pull and push that finished had started,
and which artifact kinds a partial pull brought (None: every object). Keys it does not
know are ignored.

``gc`` reads ``pulled_ms``: an expired artifact's object is deleted only when every known
remote was pulled after it expired (services/gc.py). ``cat`` and ``export`` read ``kinds``
to say which remote holds a payload a partial copy lacks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from mstore.store.fsutil import write_once
from mstore.store.store import Store


@dataclass
class RemoteState:
    pulled_ms: int = 0  # start of the last pull that finished (0: never)
    pushed_ms: int = 0  # start of the last push that finished
    kinds: list[str] | None = None  # objects of these artifact kinds only; None: all


def _path(store: Store, name: str) -> Path:
    return store.layout.local / "remotes" / f"{name}.json"


def load(store: Store, name: str) -> RemoteState:
    try:
        raw = json.loads(_path(store, name).read_text())
    except (FileNotFoundError, ValueError):
        return RemoteState()
    known = {k: raw[k] for k in RemoteState.__dataclass_fields__ if k in raw}
    try:
        return RemoteState(**known)
    except TypeError:
        return RemoteState()


def save(store: Store, name: str, st: RemoteState) -> None:
    write_once(_path(store, name), json.dumps(asdict(st), indent=1).encode(), store.layout.tmp)


def forget(store: Store, name: str) -> None:
    _path(store, name).unlink(missing_ok=True)


def partial_sources(store: Store, kind: str) -> list[str]:
    """The remotes this copy pulled partially without ``kind``: where its payloads are."""
    base = store.layout.local / "remotes"
    try:
        names = sorted(p.stem for p in base.glob("*.json"))
    except OSError:
        return []
    return [n for n in names if (st := load(store, n)).kinds is not None and kind not in st.kinds]
