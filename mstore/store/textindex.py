"""The full-text index: ``local/text/docs.sqlite`` (the documents) and ``local/text/words/``
(a tantivy index of their words).

A cache like the LMDB index: everything in it is derived from record segments and the
objects they name (``mstore.query.textsearch`` fills it), so deleting the directory loses
nothing; it is rebuilt on the next search. This module is only the storage: documents in,
ranked matches out, and the watermarks that say which segments it holds.

One *document* is the text of one page of a text artifact (``doctext``, ``ocr``,
``transcript``; all blocks of a page joined by a newline, a text without pages is one
document), the file names of one asset, its own title/description/keywords, or those of one
of its sidecar files. Its *blocks* (offset in the document, page, box,
start, end) say where each block's text starts, so that a match's offset tells its place.

The SQLite database is the truth: each document's asset, artifact, source, page, blocks and
text, the per-lane watermarks, gc's drops. The tantivy index holds each document's words
(``doc`` = its id in SQLite, ``asset``), for ranking: BM25 over the best hits only (block-max
WAND), so a word in most of the archive ranks its best 20 in a millisecond. Analysis:
tantivy's simple tokenizer (runs of letters and digits), lowercased, folded to ASCII (café =
CAFE, Grüße = grusse), English Snowball stemming ("running" finds "run"). Why tantivy:
docs/search.md.

Consistency: an update changes both in one SQLite write transaction; tantivy commits first,
then SQLite. Each update numbers its commit (``gen``), stored in SQLite's ``meta`` and in a
marker document of the tantivy index; a process that finds the two apart (killed between
the commits, or a disk error) rebuilds the words from SQLite under the write lock.

Concurrency: SQLite's WAL, so searches never wait for an update; updates take SQLite's write
lock (``BEGIN IMMEDIATE``) and re-read the watermarks inside it, so two processes catching
up at once do the work once — and only the process holding that lock opens tantivy's
writer (one writer per index; its lock file is released when a process dies).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import tantivy

# bump when the schema or the analysis changes: an older index is then rebuilt
SCHEMA = 5
MARK_START, MARK_END = "\x02", "\x03"  # highlight markers: control characters no text has
NAMES = "name"  # the source of a file-names document
METADATA = "metadata"  # ... of an asset's own title, description and keywords
SIDECAR = "sidecar"  # ... of those its sidecar files (XMP, Google Takeout JSON) give it
ANALYZER = "mstore"  # the name the words field's analyzer is registered under
WORDS_DIR = "words"  # the tantivy index, beside the SQLite file
_GEN_DOC = -1  # ``doc`` of the marker document that holds the commit number
_WRITER_HEAP = 64 << 20  # tantivy's indexing buffer (one thread): flushed to a segment when full
_FIRST_HITS = 64  # a lazy search asks for this many hits, then 8 times more each time
_TOKEN = re.compile(r"[^\W_]+")  # a run of letters and digits, as the simple tokenizer cuts

_SCHEMA_SQL = f"""
CREATE TABLE docs (id INTEGER PRIMARY KEY, asset BLOB NOT NULL, artifact TEXT NOT NULL,
                   source TEXT NOT NULL, page INTEGER, blocks TEXT NOT NULL,
                   hlc INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX docs_artifact ON docs(artifact);
CREATE INDEX docs_asset ON docs(asset, source);
CREATE TABLE dropped (artifact TEXT PRIMARY KEY, hlc INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE lanes (lane TEXT PRIMARY KEY, mtime INTEGER NOT NULL, mark INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('gen', 0);
PRAGMA user_version = {SCHEMA};
"""


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    b = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
         .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.ascii_fold()))
    if stem:
        b = b.filter(tantivy.Filter.stemmer("english"))
    return b.build()


_WORDS = _analyzer(stem=True)  # what the index holds for a word
_FOLDED = _analyzer(stem=False)  # a prefix: folded, not stemmed ("harb" is no word)


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("doc", stored=True, indexed=True)
    sb.add_bytes_field("asset", stored=True)
    sb.add_integer_field("gen", stored=True)
    sb.add_text_field("text", stored=False, tokenizer_name=ANALYZER, index_option="position")
    return sb.build()


class TextIndexDamaged(Exception):
    """The index is not one this version can use (damaged, or not an index)."""


class Block(msgspec.Struct, frozen=True):
    """Where one block of a document starts (``offset``, in characters) and what place it is."""

    offset: int
    page: int | None = None
    box: list[float] | None = None
    start: float | None = None
    end: float | None = None


class Doc(msgspec.Struct, frozen=True):
    text: str
    page: int | None
    blocks: list[Block]


class Located(msgspec.Struct, frozen=True):
    """One document's match: its text with the matched tokens between MARK_START and
    MARK_END, and the document's facts."""

    asset: bytes
    artifact: str
    source: str
    marked: str
    blocks: list[Block]


class TextQuery(msgspec.Struct, frozen=True):
    """What a ``text:`` value asks for: ``words`` next to each other in that order (one word
    is a phrase of one), the last one a prefix when ``prefix``."""

    words: tuple[str, ...]
    prefix: bool = False

    @classmethod
    def parse(cls, value: str) -> TextQuery:
        """A ``text:`` value's words (runs of letters and digits, as the index cuts text),
        a trailing ``*`` making the last one a prefix."""
        value = value.strip()
        return cls(tuple(_TOKEN.findall(value)), prefix=value.endswith("*"))

    def terms(self) -> list[str]:
        """The words as the index holds them (folded and stemmed; a prefix only folded)."""
        if not self.prefix:
            return _WORDS.analyze(" ".join(self.words))
        head = _WORDS.analyze(" ".join(self.words[:-1])) if len(self.words) > 1 else []
        return head + _FOLDED.analyze(self.words[-1])

    def alternatives(self) -> list[list[str]]:
        """The term sequences that match: the words' own terms first, then the other
        ways to write them (store/textvariants.py: harbour / harbor, sandcastle / sand
        castle)."""
        from mstore.store.textvariants import alternatives

        return alternatives(self.words, self.prefix, _WORDS.analyze, _FOLDED.analyze)


class TextIndex:
    """``TextIndex(path)`` opens (or creates) the index whose SQLite file is ``path``;
    ``close()`` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.words_path = path.with_name(WORDS_DIR)
        self._writer: Any = None  # tantivy's, while an update that changed words runs
        with _opening(path.parent):
            self._open()
        if self._words_gen() != self._gen():
            self._rebuild_words()

    def _open(self) -> None:
        path = self.path
        try:
            self.db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                      check_same_thread=False)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA:
                self.db.close()
                _remove_files(path)
                self.db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                          check_same_thread=False)
                self.db.executescript(_SCHEMA_SQL)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")  # a cache: a lost commit is redone
        except sqlite3.DatabaseError as e:
            raise TextIndexDamaged(f"{path}: {e}") from None
        try:
            self.words_path.mkdir(exist_ok=True)
            self.schema = _schema()
            self.index = tantivy.Index(self.schema, path=str(self.words_path), reuse=True)
            self.index.register_tokenizer(ANALYZER, _WORDS)
        except (OSError, ValueError) as e:
            self.db.close()
            raise TextIndexDamaged(f"{self.words_path}: {e}") from None

    def close(self) -> None:
        self.db.close()

    @classmethod
    def recreate(cls, path: Path) -> TextIndex:
        """A new empty index in place of a damaged one."""
        with _opening(path.parent):
            _remove_files(path)
        return cls(path)

    # -- the commit numbers ----------------------------------------------------------------
    def _gen(self) -> int:
        return self.db.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()[0]

    def _words_gen(self) -> int:
        self.index.reload()
        s = self.index.searcher()
        hits = s.search(tantivy.Query.term_query(self.schema, "doc", _GEN_DOC), 1).hits
        return s.doc(hits[0][1]).get_first("gen") if hits else 0

    def _rebuild_words(self) -> None:
        """The words of every document again, from SQLite (under the write lock: the two
        may only look apart because another process is between its two commits)."""
        with self.update():
            if self._words_gen() == self._gen():
                return
            w = self._words_writer()
            w.delete_all_documents()
            for doc_id, asset, text in self.db.execute("SELECT id, asset, text FROM docs"):
                w.add_document(tantivy.Document(doc=doc_id, asset=asset, text=text))

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
            if self._writer is not None:
                gen = self._gen() + 1
                w = self._writer
                w.delete_documents_by_term("doc", _GEN_DOC)
                w.add_document(tantivy.Document(doc=_GEN_DOC, gen=gen))
                w.commit()
                self.db.execute("UPDATE meta SET value = ? WHERE key = 'gen'", (gen,))
        except BaseException:
            if self._writer is not None:
                self._writer.rollback()
            self.db.execute("ROLLBACK")
            raise
        finally:
            if self._writer is not None:
                w, self._writer = self._writer, None
                w.wait_merging_threads()  # and the writer's lock released
        self.db.execute("COMMIT")

    def _words_writer(self) -> Any:  # noqa: ANN401 - tantivy.IndexWriter
        if self._writer is None:
            if not self.db.in_transaction:
                raise RuntimeError("the text index is written inside update()")
            self._writer = self.index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        return self._writer

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
        w = None
        for doc in docs:
            blocks = msgspec.json.encode([[b.offset, b.page, b.box, b.start, b.end]
                                          for b in doc.blocks]).decode()
            cur = self.db.execute(
                "INSERT INTO docs (asset, artifact, source, page, blocks, hlc, text)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (asset, artifact, source, doc.page, blocks, hlc, doc.text))
            w = w or self._words_writer()
            w.add_document(tantivy.Document(doc=cur.lastrowid, asset=asset, text=doc.text))

    def remove_artifacts(self, artifacts: Iterable[str]) -> None:
        for art in artifacts:
            self._delete(self.db.execute("SELECT id FROM docs WHERE artifact = ?", (art,)))

    def _delete(self, rows: Iterable[tuple[int]]) -> None:
        """Documents by id; looked up first, so that an artifact seen for the first time
        (every one in a first build) costs no delete."""
        ids = [(i,) for (i,) in rows]
        if ids:
            w = self._words_writer()
            for (i,) in ids:
                w.delete_documents_by_term("doc", i)
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
    def ranked_documents(self, query: TextQuery, first: int | None = _FIRST_HITS
                         ) -> Generator[tuple[int, bytes], None, None]:
        """(document id, asset) of the documents matching ``query``, best first, read as
        they are asked for: ``first`` hits, then eight times more at a time (``None``: all
        at once), so a limited ``find`` led by a common word ranks only its best ones."""
        self.index.reload()  # what other processes committed since
        searcher = self.index.searcher()
        q = self._query(query)
        total = searcher.num_docs
        return self._hits(searcher, q, total if first is None else first, total)

    @staticmethod
    def _hits(searcher: Any, q: Any, size: int, total: int  # noqa: ANN401 - tantivy's
              ) -> Generator[tuple[int, bytes], None, None]:
        done = 0
        while done < total:
            hits = searcher.search(q, limit=max(size, 1), count=False, offset=done).hits
            for _, address in hits:
                d = searcher.doc(address)
                yield d.get_first("doc"), d.get_first("asset")
            if len(hits) < size:
                return
            done += len(hits)
            size *= 8

    def _query(self, query: TextQuery) -> Any:  # noqa: ANN401 - tantivy.Query
        """The tantivy query of the value's term sequences (built, not parsed: no word can
        be taken for query syntax): any of them, each as a phrase."""
        phrases = [self._phrase(seq, query.prefix) for seq in query.alternatives()]
        if not phrases:
            return tantivy.Query.empty_query()
        if len(phrases) == 1:
            return phrases[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, p) for p in phrases])

    def _phrase(self, terms: list[str], prefix: bool) -> Any:  # noqa: ANN401
        """A phrase query needs two terms or more: one term is a term query. With a prefix
        last, the words before it rank the hits (tantivy scores a prefix as a constant)."""
        q = tantivy.Query
        if prefix:
            match = q.phrase_prefix_query(self.schema, "text", terms)
            if len(terms) == 1:
                return match
            return q.boolean_query([(tantivy.Occur.Must, match),
                                    (tantivy.Occur.Should, self._phrase(terms[:-1], False))])
        if len(terms) == 1:
            return q.term_query(self.schema, "text", terms[0])
        return q.phrase_query(self.schema, "text", terms)

    def locate(self, query: TextQuery, doc_id: int) -> Located | None:
        """Document ``doc_id`` with what ``query`` matched in it marked (each place where
        its words stand next to each other, as the index analyses them)."""
        row = self.db.execute("SELECT asset, artifact, source, blocks, text FROM docs"
                              " WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        asset, artifact, source, blocks, text = row
        return Located(asset, artifact, source, mark(text, query),
                       [Block(*b) for b in msgspec.json.decode(blocks)])


@contextmanager
def _opening(directory: Path) -> Iterator[None]:
    """One process at a time creates, checks or replaces the index's files: two first
    searches at once would each create the schema and take the other's half-made files
    for damage (``open.lock`` beside them; released when the process dies)."""
    import fcntl
    import os

    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "open.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_files(path: Path) -> None:
    """The index whose SQLite file is ``path``: that file, its WAL files, the words."""
    import shutil  # only here: its import costs every search a millisecond

    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.rmtree(path.with_name(WORDS_DIR), ignore_errors=True)


def mark(text: str, query: TextQuery) -> str:
    """``text`` with each run of words matching ``query`` (any of its alternatives, the
    longest first) between MARK_START and MARK_END."""
    alts = sorted(query.alternatives(), key=len, reverse=True)
    if not alts:
        return text
    tokens = list(_TOKEN.finditer(text))
    words = _WORDS.analyze(text)
    if len(words) != len(tokens):  # the two cut differently somewhere: word by word
        words = [(_WORDS.analyze(t.group()) or [""])[0] for t in tokens]
    out: list[str] = []
    last = i = 0
    while i < len(tokens):
        for want in alts:
            n = len(want)
            if (i + n <= len(tokens) and words[i:i + n - 1] == want[:-1]
                    and _last_matches(words, tokens, i + n - 1, want[-1], query.prefix)):
                start, end = tokens[i].start(), tokens[i + n - 1].end()
                out += [text[last:start], MARK_START, text[start:end], MARK_END]
                last, i = end, i + n
                break
        else:
            i += 1
    return "".join(out) + text[last:]


def _last_matches(words: list[str], tokens: list[re.Match[str]], k: int, want: str,
                  prefix: bool) -> bool:
    if not prefix:
        return words[k] == want
    return (words[k].startswith(want)
            or (_FOLDED.analyze(tokens[k].group()) or [""])[0].startswith(want))
