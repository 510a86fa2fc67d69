"""The part of the index that holds symbolic links inside the archive.

Applied from ``Index._apply`` like the path records: idempotent, and the latest claim
(by hlc) per link path wins, so segments may arrive in any order. A removed link keeps
a tombstone (``present`` false) so that an older ``link`` record arriving late cannot
bring it back.

Databases (``pk`` = the index's bounded path key of root + path, keys.py)::

    links          pk -> msgpack LinkState
    link_targets   pk of the target + b"\\0" + bounded link path -> b""   (present links only)
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

import lmdb
import msgspec

from mstore.model.codec import LazyDecoder
from mstore.model.records import LinkGone, LinkSeen
from mstore.store.keys import bounded
from mstore.store.scan import prefix_keys

if TYPE_CHECKING:
    from mstore.store.index import Index

LINK_DBS = ("links", "link_targets")


class LinkState(msgspec.Struct, array_like=True):
    target: bytes  # root-relative path the link resolves to (b"" once gone)
    hlc: int
    present: bool


_enc = msgspec.msgpack.Encoder()
_dec = LazyDecoder(LinkState)


def _ix() -> ModuleType:
    """The index module (which imports this one, so it is looked up when used)."""
    from mstore.store import index

    return index


def apply_link_record(index: Index, txn: lmdb.Transaction, machine: str,
                      rec: LinkSeen | LinkGone) -> bool:
    """Apply a link record; True when it changed something the catalog table shows (the
    path's error row, which a later sighting of the link clears)."""
    db = index.db
    key = index.put_key(txn, _ix().pk(rec.root, rec.path))
    seen = isinstance(rec, LinkSeen)
    target = rec.target if isinstance(rec, LinkSeen) else b""
    detail = "-> " + target.decode("utf-8", "backslashreplace") if seen else ""
    index._history(txn, key, rec.hlc, machine,
                   _ix().HistoryEvent("link" if seen else "unlink", "", detail))
    raw = txn.get(key, db=db["links"])
    old = _dec.decode(raw) if raw is not None else None
    if old is not None and old.hlc > rec.hlc:
        return False
    if old is not None and old.present:
        txn.delete(_target_key(index, txn, rec.root, old.target, rec.path), db=db["link_targets"])
    txn.put(key, _enc.encode(LinkState(target, rec.hlc, seen)), db=db["links"])
    if seen:
        txn.put(_target_key(index, txn, rec.root, target, rec.path), b"", db=db["link_targets"])
    err = txn.get(key, db=db["errors"])
    if err is not None and _ix()._dec_err.decode(err).hlc < rec.hlc:
        txn.delete(key, db=db["errors"])
        index._touched.add(b"e" + key)  # its error row leaves the catalog table
        return True
    return False


def _target_key(index: Index, txn: lmdb.Transaction, root: str, target: bytes, path: bytes
                ) -> bytes:
    return (index.put_key(txn, _ix().pk(root, target)) + b"\0"
            + index.put_key(txn, path))


def link_hlc(index: Index, txn: lmdb.Transaction, key: bytes) -> int:
    """The hlc of the latest link claim about path key ``key`` (0: none)."""
    raw = txn.get(key, db=index.db["links"])
    return _dec.decode(raw).hlc if raw is not None else 0


def link_at(index: Index, txn: lmdb.Transaction, root: str, path: bytes) -> LinkState | None:
    """The link at ``path``, if one is there now."""
    raw = txn.get(bounded(_ix().pk(root, path)), db=index.db["links"])
    if raw is None:
        return None
    st = _dec.decode(raw)
    return st if st.present else None


def links_under(index: Index, txn: lmdb.Transaction, root: str, prefix: bytes = b""
                ) -> Iterator[tuple[bytes, bytes]]:
    """(link path, target) of the present links of ``root`` whose path starts with
    ``prefix``."""
    skip = len(_ix().pk(root, b""))
    for full, val in index._scan_paths(txn, "links", root, prefix):
        st = _dec.decode(val)
        if st.present:
            yield full[skip:], st.target


def links_to(index: Index, txn: lmdb.Transaction, root: str, target: bytes) -> list[bytes]:
    """The paths of the present links of ``root`` that resolve to ``target``."""
    start = bounded(_ix().pk(root, target)) + b"\0"
    return [index.full_key(txn, key[len(start):])
            for key in prefix_keys(txn, index.db["link_targets"], start)]
