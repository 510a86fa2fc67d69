"""``text:`` search: keeping the full-text index (``store/textindex.py``) up to date with the
records, and asking it.

What is indexed (docs/search.md): the text artifacts — kinds ``doctext``, ``ocr`` and
``transcript``, whose payload is the shared text JSON ({"version", "lang", "source",
"blocks": [{"text", "page", "box", "start", "end", "conf"}]}) — one document per page, and
each asset's file names (the last part of its current paths), and the title, description and
keywords of each asset and of its sidecars (``textmeta``).

Catching up follows the record lanes from the index's watermarks (``store/follow.py``:
an unchanged lane costs one ``stat``), reading each new segment once, after the LMDB
index applied it — so the file names read from the LMDB index are those the segment's
records made, and a search sees every artifact ``show`` sees. Garbage collection's ``gc``
records take artifacts out. An artifact whose payload object is not in this store (not
synced yet) is left out until the index is rebuilt (delete ``local/text/``).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import msgspec

from mstore.model.records import (
    ArtifactMade,
    ArtifactsDropped,
    AssetRecorded,
    PathGone,
    PathSeen,
    Record,
)
from mstore.query.textmeta import MetaWords, is_sidecar_name, words_text
from mstore.store.follow import Follower
from mstore.store.notices import warn
from mstore.store.textindex import (
    MARK_END,
    MARK_START,
    METADATA,
    NAMES,
    SIDECAR,
    Block,
    Doc,
    Located,
    TextIndex,
    TextIndexDamaged,
    TextQuery,
)

if TYPE_CHECKING:
    from pathlib import Path

    from mstore.store.reader import Reader
    from mstore.store.store import Store

Progress = Callable[[int, int], None]  # (segments read, segments listed)
TEXT_KINDS = frozenset({"doctext", "ocr", "transcript"})
SNIPPET_BEFORE, SNIPPET_CHARS = 60, 200
_SPACES = str.maketrans("\n\r\t\f\v", "     ")


def index_path(store: Store) -> Path:
    return store.layout.text_index


def open_index(store: Store, progress: Progress | None = None) -> TextIndex:
    """The store's text index, brought up to date with its records."""
    path = index_path(store)
    try:
        ti = TextIndex(path)
        catch_up(store, ti, progress)
    except (TextIndexDamaged, sqlite3.DatabaseError) as e:
        if isinstance(e, sqlite3.OperationalError):
            raise  # locked, or the disk: not damage
        warn(f"the text index is damaged ({e}); rebuilding it from the records")
        ti = TextIndex.recreate(path)
        catch_up(store, ti, progress)
    return ti


# -- keeping up ------------------------------------------------------------------------------
class _Touched(msgspec.Struct):
    """What the segments read in one catch-up changed besides text artifacts."""

    earlier: bool = True  # whether to look up what the paths held before
    assets: set[str] = msgspec.field(default_factory=set)  # whose file names to read again
    paths: set[tuple[str, bytes]] = msgspec.field(default_factory=set)  # whose holders too
    # assets with new facts (maybe sidecars)
    reprobed: set[str] = msgspec.field(default_factory=set)
    seen: set[str] = msgspec.field(default_factory=set)  # assets a path record named
    # whose owners to read again
    sidecars: set[tuple[str, bytes]] = msgspec.field(default_factory=set)


def catch_up(store: Store, ti: TextIndex, progress: Progress | None = None) -> int:
    """Index the segments the text index has not seen; returns how many were read.
    ``progress(read, listed)`` after each segment (``find`` draws it on a terminal)."""
    if not Follower(store, ti.lanes()).changed():
        return 0  # the common case: one stat per lane, no write
    read = 0
    with ti.update(), store.reader() as r:
        # the watermarks again, under the write lock: another process may have done it
        known = ti.lanes()
        follow = Follower(store, known)
        # an empty index holds no names that a path's earlier content could have left
        touched = _Touched(earlier=bool(known))
        for records in follow.segments(r, progress):
            _apply(store, ti, records, touched)
            read += 1
        _reindex_assets(ti, r, touched)
        for lane, (mtime, mark) in follow.marks.items():
            ti.set_lane(lane, mtime, mark)
    return read


def _apply(store: Store, ti: TextIndex, records: list[Record], touched: _Touched) -> None:
    for rec in records:
        t = type(rec)
        if t is PathSeen or t is PathGone:
            touched.assets.add(rec.asset)  # type: ignore[attr-defined]
            touched.seen.add(rec.asset)  # type: ignore[attr-defined]
            if t is PathSeen and touched.earlier:  # the path may have held other content
                touched.paths.add((rec.root, rec.path))  # type: ignore[attr-defined]
            if is_sidecar_name(rec.path):  # type: ignore[attr-defined]
                touched.sidecars.add((rec.root, rec.path))  # type: ignore[attr-defined]
        elif t is AssetRecorded:  # new facts (a reprobe): maybe new words
            touched.assets.add(rec.id)  # type: ignore[attr-defined]
            touched.reprobed.add(rec.id)  # type: ignore[attr-defined]
        elif t is ArtifactMade and rec.kind in TEXT_KINDS and rec.asset:  # type: ignore[attr-defined]
            docs = _documents(store, rec)  # type: ignore[arg-type]
            if docs is not None:
                ti.put_artifact(rec.id, bytes.fromhex(rec.asset), rec.kind, docs,  # type: ignore[attr-defined]
                                rec.hlc)
        elif t is ArtifactsDropped:
            ti.drop_artifacts(rec.ids, rec.hlc)  # type: ignore[attr-defined]


def _documents(store: Store, art: ArtifactMade) -> list[Doc] | None:
    """The artifact's text as documents, one per page; None when there is no readable text."""
    payload = art.data
    if not isinstance(payload, dict) and art.payload:
        try:
            import json  # here: a search that has nothing to catch up on needs none

            payload = json.loads(store.objects.get(art.payload))
        except (KeyError, OSError, ValueError):
            return None
    if not isinstance(payload, dict) or not isinstance(payload.get("blocks"), list):
        return None
    return documents(payload["blocks"])


def documents(blocks: list) -> list[Doc]:
    """The blocks of a text payload grouped by page, in order of first appearance; each
    page's blocks joined by a newline."""
    pages: dict[object, tuple[list[str], list[Block]]] = {}
    ends: dict[object, int] = {}  # each page's text length so far, newlines included
    for b in blocks:
        if not isinstance(b, dict) or not isinstance(b.get("text"), str) or not b["text"]:
            continue
        page = b.get("page") if isinstance(b.get("page"), int) else None
        texts, places = pages.setdefault(page, ([], []))
        box = b.get("box") if isinstance(b.get("box"), list) else None
        places.append(Block(ends.get(page, 0), page, box, _number(b.get("start")),
                            _number(b.get("end"))))
        texts.append(b["text"])
        ends[page] = ends.get(page, 0) + len(b["text"]) + 1
    return [Doc("\n".join(texts), page, places)  # type: ignore[arg-type]
            for page, (texts, places) in pages.items()]


def _number(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _reindex_assets(ti: TextIndex, r: Reader, touched: _Touched) -> None:
    """The file-name, metadata and sidecar documents of the assets the segments touched,
    of the files next to the sidecars they touched, and of whatever those paths held."""
    assets = set(touched.assets)
    for root, path in touched.paths:
        assets.update(ev.asset for _hlc, _m, ev in r.history(root, path) if ev.asset)
    words = MetaWords(r)
    sidecars = set(touched.sidecars)
    for aid in touched.reprobed - touched.seen:  # content probed again where it was
        sidecars.update(p for p in r.asset_paths(aid) if is_sidecar_name(p[1]))
    for root, path in sidecars:
        assets |= words.owners(root, path)
    for aid in assets:
        present = []
        for root, path in r.asset_paths(aid):
            st = r.path_state(root, path)
            if st is not None and st.present and st.asset == aid:
                present.append((root, path))
        names = {path.rsplit(b"/", 1)[-1].decode("utf-8", "replace") for _r, path in present}
        # a missing asset is found by nothing: it has no names, and no words either
        ti.put_asset_texts(bytes.fromhex(aid), {
            NAMES: ["\n".join(sorted(names))],
            METADATA: [words_text(words.meta(aid))] if present else [],
            SIDECAR: words.sidecar_texts(aid, present)})


# -- asking ---------------------------------------------------------------------------------
def check_value(value: str) -> None:
    """Raise ValueError (one line) for a ``text:`` value that cannot match anything."""
    if not value.strip().rstrip("*").strip():
        raise ValueError("text: needs a word or a quoted phrase, e.g. text:invoice or "
                         'text:"exact phrase"')
    if not any(c.isalnum() for c in value):
        raise ValueError(f"text:{value} has no letter or digit to search for")


def text_query(value: str) -> TextQuery:
    """What a ``text:`` value asks for: its words as one phrase (a single word is a phrase
    of one), a trailing ``*`` making the last a prefix."""
    return TextQuery.parse(value)


class TextMatches(msgspec.Struct):
    """The assets a ``text:`` value matches, best first, and where (computed when asked)."""

    index: TextIndex
    query: TextQuery
    order: list[bytes]
    best: dict[bytes, int]

    def detail(self, asset: bytes) -> dict | None:
        doc_id = self.best.get(asset)
        if doc_id is None:
            return None
        found = self.index.locate(self.query, doc_id)
        return where(found) if found is not None else None


def search(ti: TextIndex, value: str) -> TextMatches:
    """Every asset ``value`` matches, best first (each by its best document, BM25)."""
    assets, matches = search_lazily(ti, value, everything=True)
    deque(assets, maxlen=0)
    return matches


def search_lazily(ti: TextIndex, value: str, everything: bool = False
                  ) -> tuple[Generator[bytes, None, None], TextMatches]:
    """The assets ``value`` matches, best first, as they are read, and their matches —
    holding those read so far (a limited query reads as many as it shows; ``everything``:
    all hits are ranked at once, for a reader that wants them all). Raises ValueError for
    a value the index does not take, before the first one is read."""
    query = text_query(value)
    docs = ti.ranked_documents(query, first=None) if everything else ti.ranked_documents(query)
    matches = TextMatches(ti, query, [], {})

    def assets() -> Generator[bytes, None, None]:
        best, order = matches.best, matches.order
        try:
            for doc_id, asset in docs:
                if asset not in best:  # an asset ranks by its best document
                    best[asset] = doc_id
                    order.append(asset)
                    yield asset
        finally:
            docs.close()

    return assets(), matches


def where(found: Located) -> dict:
    """A match as ``find --json`` shows it under "match": the snippet (whitespace as
    spaces, "…" where it is cut), the [start, end) character spans of the matched words in
    it, and the place of the block the first match is in."""
    plain: list[str] = []
    spans: list[list[int]] = []
    pos = 0
    for i, part in enumerate(found.marked.split(MARK_START)):
        if i == 0:
            plain.append(part)
            pos += len(part)
            continue
        hit, _, rest = part.partition(MARK_END)
        spans.append([pos, pos + len(hit)])
        plain.append(hit + rest)
        pos += len(hit) + len(rest)
    text = "".join(plain)
    first = spans[0][0] if spans else 0
    start = max(0, first - SNIPPET_BEFORE)
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", max(first, start + SNIPPET_CHARS // 2), end)
        end = space if space > 0 else end
    lead = "…" if start else ""
    snippet = lead + text[start:end].translate(_SPACES) + ("…" if end < len(text) else "")
    marks = [[a - start + len(lead), b - start + len(lead)] for a, b in spans
             if a >= start and b <= end]
    block = next((b for b in reversed(found.blocks) if b.offset <= first), found.blocks[0])
    return {"kind": found.source, "artifact": found.artifact or None, "snippet": snippet,
            "marks": marks, "page": block.page, "box": block.box, "start": block.start,
            "end": block.end}
