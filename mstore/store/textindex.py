"""The full-text index: an SQLite FTS5 database in ``local/text/fts.sqlite``.

A cache like the LMDB index: everything in it is derived from record segments and the
objects they name (``mstore.query.textsearch`` fills it), so deleting the file loses
nothing; it is rebuilt on the next search. This module is only the storage: documents in,
ranked matches out, and the watermarks that say which segments it holds.

One *document* is the text of one page of a text artifact (``doctext``, ``ocr``,
``transcript``; all blocks of a page joined by a newline, a text without pages is one
document), the file names of one asset, its own title/description/keywords, or those of one
of its sidecar files. Its *blocks* (offset in the document, page, box,
start, end) say where each block's text starts, so that a match's offset tells its place.

Tokenizer: ``porter unicode61 remove_diacritics 2`` — case and diacritics folded (café =
CAFE), tokens split at anything that is not a letter or a digit, English stemming (Porter:
"running" finds "run"). Ranking: FTS5's BM25. Why SQLite FTS5 and not tantivy:
docs/search.md.

Concurrency: WAL mode, so searches never wait for an update; updates take SQLite's write
lock (``BEGIN IMMEDIATE``) and re-read the watermarks inside it, so two processes catching
up at once do the work once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# bump when the schema or the tokenizer changes: an older file is then rebuilt
SCHEMA = 4
TOKENIZER = "porter unicode61 remove_diacritics 2"
MARK_START, MARK_END = "\x02", "\x03"  # highlight markers: control characters no text has
NAMES = "name"  # the source of a file-names document
METADATA = "metadata"  # ... of an asset's own title, description and keywords
SIDECAR = "sidecar"  # ... of those its sidecar files (XMP, Google Takeout JSON) give it

_SCHEMA_SQL = f"""
CREATE TABLE docs (id INTEGER PRIMARY KEY, asset BLOB NOT NULL, artifact TEXT NOT NULL,
                   source TEXT NOT NULL, page INTEGER, blocks TEXT NOT NULL,
                   hlc INTEGER NOT NULL);
CREATE INDEX docs_artifact ON docs(artifact);
CREATE INDEX docs_asset ON docs(asset, source);
CREATE VIRTUAL TABLE fts USING fts5(text, tokenize='{TOKENIZER}');
CREATE TABLE dropped (artifact TEXT PRIMARY KEY, hlc INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE lanes (lane TEXT PRIMARY KEY, mtime INTEGER NOT NULL, mark INTEGER NOT NULL)
    WITHOUT ROWID;
PRAGMA user_version = {SCHEMA};
"""


class TextIndexDamaged(Exception):
    """The database file is not one this version can use (damaged, or not SQLite)."""


@dataclass(frozen=True)
class Block:
    """Where one block of a document starts (``offset``, in characters) and what place it is."""

    offset: int
    page: int | None = None
    box: list[float] | None = None
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Doc:
    text: str
    page: int | None
    blocks: list[Block]


@dataclass(frozen=True)
class Located:
    """One document's match: its text with the matched tokens between MARK_START and
    MARK_END, and the document's facts."""

    asset: bytes
    artifact: str
    source: str
    marked: str
    blocks: list[Block]


class TextIndex:
    """``TextIndex(path)`` opens (or creates) the database; ``close()`` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                      check_same_thread=False)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA:
                self.db.close()
                self._remove()
                self.db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                          check_same_thread=False)
                self.db.executescript(_SCHEMA_SQL)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")  # a cache: a lost commit is redone
        except sqlite3.DatabaseError as e:
            raise TextIndexDamaged(f"{path}: {e}") from None

    def close(self) -> None:
        self.db.close()

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    @classmethod
    def recreate(cls, path: Path) -> TextIndex:
        """A new empty index in place of a damaged file."""
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return cls(path)

    # -- watermarks ----------------------------------------------------------------------
    def lanes(self) -> dict[str, tuple[int, int]]:
        """lane -> (its directory's mtime when last found unchanged, segment watermark)."""
        return {lane: (mtime, mark) for lane, mtime, mark
                in self.db.execute("SELECT lane, mtime, mark FROM lanes")}

    def set_lane(self, lane: str, mtime: int, mark: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO lanes VALUES (?, ?, ?)", (lane, mtime, mark))

    @contextmanager
    def update(self) -> Iterator[TextIndex]:
        """One write transaction: everything in it is committed together, or nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- documents -----------------------------------------------------------------------
    def put_artifact(self, artifact: str, asset: bytes, source: str, docs: Iterable[Doc],
                     hlc: int) -> None:
        """The documents of one artifact (made at ``hlc``), replacing what it had; left out
        when a gc record dropped it later than that (lanes are read in any order; an
        artifact made again after gc has a later hlc and is back)."""
        row = self.db.execute("SELECT hlc FROM dropped WHERE artifact = ?",
                              (artifact,)).fetchone()
        if row is not None and row[0] > hlc:
            return
        self.remove_artifacts([artifact])
        self._insert(asset, artifact, source, docs, hlc)

    def put_names(self, asset: bytes, text: str) -> None:
        """An asset's file names (its current paths' last parts), replacing the old ones."""
        self.put_asset_texts(asset, {NAMES: [text]})

    def put_asset_texts(self, asset: bytes, texts: dict[str, list[str]]) -> None:
        """An asset's documents of the sources named (NAMES, METADATA, SIDECAR: one per
        text, empty texts left out), replacing those it had from them."""
        marks = ", ".join("?" * len(texts))
        self._delete(self.db.execute(
            f"SELECT id FROM docs WHERE asset = ? AND source IN ({marks})", (asset, *texts)))
        for source, some in texts.items():
            self._insert(asset, "", source, [Doc(t, None, [Block(0)]) for t in some if t], 0)

    def _insert(self, asset: bytes, artifact: str, source: str, docs: Iterable[Doc], hlc: int
                ) -> None:
        for doc in docs:
            blocks = json.dumps([[b.offset, b.page, b.box, b.start, b.end] for b in doc.blocks])
            cur = self.db.execute(
                "INSERT INTO docs (asset, artifact, source, page, blocks, hlc)"
                " VALUES (?, ?, ?, ?, ?, ?)", (asset, artifact, source, doc.page, blocks, hlc))
            self.db.execute("INSERT INTO fts (rowid, text) VALUES (?, ?)",
                            (cur.lastrowid, doc.text))

    def remove_artifacts(self, artifacts: Iterable[str]) -> None:
        for art in artifacts:
            self._delete(self.db.execute("SELECT id FROM docs WHERE artifact = ?", (art,)))

    def _delete(self, rows: Iterable[tuple[int]]) -> None:
        """Documents by id; looked up first, as deleting from an FTS5 table costs even
        when nothing matches (a first build would pay it for every document)."""
        ids = [(i,) for (i,) in rows]
        if ids:
            self.db.executemany("DELETE FROM fts WHERE rowid = ?", ids)
            self.db.executemany("DELETE FROM docs WHERE id = ?", ids)

    def drop_artifacts(self, artifacts: Iterable[str], hlc: int) -> None:
        """A gc record (at ``hlc``) dropped these: out of the index, and kept out unless
        made again later."""
        for art in artifacts:
            self._delete(self.db.execute("SELECT id FROM docs WHERE artifact = ? AND hlc < ?",
                                         (art, hlc)))
            self.db.execute("INSERT INTO dropped VALUES (?, ?) ON CONFLICT (artifact)"
                            " DO UPDATE SET hlc = max(hlc, excluded.hlc)", (art, hlc))

    def document_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM docs").fetchone()[0]

    # -- searching -----------------------------------------------------------------------
    def ranked_assets(self, match: str) -> tuple[list[bytes], dict[bytes, int]]:
        """The assets whose documents match the FTS5 expression ``match``, best first
        (each by its best document, BM25), and each one's best document."""
        order: list[bytes] = []
        best: dict[bytes, int] = {}
        for rowid, asset in self.ranked_documents(match):
            if asset not in best:
                best[asset] = rowid
                order.append(asset)
        return order, best

    def ranked_documents(self, match: str) -> Generator[tuple[int, bytes], None, None]:
        """(document id, asset) of the documents matching ``match``, best first, read as
        they are asked for: FTS5 ranks every match before the first one comes, but the
        asset of each is looked up only when it is read (a limited query reads a few).
        The asset comes from ``docs``, not from an fts column: reading any column of an
        fts row reads its whole text (measured: 4x slower for a common word)."""
        try:
            cur = self.db.execute("SELECT f.rowid, d.asset FROM fts f JOIN docs d"
                                  " ON d.id = f.rowid WHERE fts MATCH ? ORDER BY f.rank",
                                  (match,))
        except sqlite3.OperationalError as e:
            raise ValueError(f"not a text query the index takes: {e}") from None
        return _closing(cur)

    def locate(self, match: str, rowid: int) -> Located | None:
        """Document ``rowid`` with what ``match`` matched in it marked."""
        row = self.db.execute(
            "SELECT highlight(fts, 0, ?, ?), d.asset, d.artifact, d.source, d.blocks"
            " FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ? AND fts.rowid = ?",
            (MARK_START, MARK_END, match, rowid)).fetchone()
        if row is None:
            return None
        marked, asset, artifact, source, blocks = row
        return Located(asset, artifact, source, marked,
                       [Block(*b) for b in json.loads(blocks)])


def _closing(cur: sqlite3.Cursor) -> Generator[tuple[int, bytes], None, None]:
    """The cursor's rows; its statement finished when the reader stops early (``close()``
    of the generator), not left holding a read transaction open."""
    try:
        yield from cur
    finally:
        cur.close()
