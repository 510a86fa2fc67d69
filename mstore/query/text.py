"""``text:`` terms: assets by the words in them — document text, OCR, transcripts — and in
their file names, through the full-text index (query/textsearch.py). A ranked provider:
a query led by ``text:`` lists the best matches first.

``text:harbour`` matches the word (stemmed: ``text:sail`` finds "sailing"); ``text:"exact
phrase"`` the words in that order, next to each other; a trailing ``*`` makes the last
word a prefix (``text:harb*``). Case and diacritics never matter (``text:cafe`` finds
"CAFÉ"). Each hit's ``detail`` (``find --json``'s "match") is its best document's snippet
and place, computed only for the hits that are shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mstore.query.terms import TermContext, TermHits, TermSpec, TermStream, register

if TYPE_CHECKING:
    from mstore.query.textsearch import TextMatches
    from mstore.store.textindex import TextIndex

# one open index per store per process (the UI asks many times): caught up on every query
_open: dict[str, TextIndex] = {}


class _Details(dict):
    """``TermHits.detail`` for text: each hit's snippet and place, worked out when it is
    first looked up (a common word may match most of the archive; only the shown hits
    need one)."""

    def __init__(self, matches: TextMatches) -> None:
        super().__init__()
        self.matches = matches

    def __contains__(self, asset: object) -> bool:
        return asset in self.matches.best

    def __missing__(self, asset: bytes) -> dict[str, Any]:
        found = self.matches.detail(asset)
        if found is None:
            raise KeyError(asset)
        self[asset] = found
        return found

    def get(self, asset: bytes, default: Any = None) -> Any:  # noqa: ANN401 - dict's
        if asset not in self:
            return default
        try:
            return self[asset]
        except KeyError:  # its document went (a catch-up) between the search and now
            return default


def text_index(ctx: TermContext) -> TextIndex:
    """The store's text index, brought up to date once per query."""
    ti = ctx.cache.get("text")
    if ti is None:
        from mstore.query.textsearch import catch_up, index_path, open_index

        if ctx.store is None:
            raise LookupError("text: terms need the store here")
        key = str(index_path(ctx.store))
        ti = _open.get(key)
        if ti is not None and ti.path.exists():
            catch_up(ctx.store, ti, ctx.progress)
        else:
            if ti is not None:
                ti.close()  # its file was deleted: rebuild it
            ti = _open[key] = open_index(ctx.store, ctx.progress)
        ctx.cache["text"] = ti
    return ti


def _match(ctx: TermContext, value: str) -> TermHits:
    from mstore.query.textsearch import search

    try:
        matches = search(text_index(ctx), value)
    except ValueError as e:
        raise LookupError(str(e)) from None
    return TermHits(set(matches.order), order=matches.order, detail=_Details(matches))


def _stream(ctx: TermContext, value: str) -> TermStream:
    from mstore.query.textsearch import search_lazily

    try:
        ids, matches = search_lazily(text_index(ctx), value)
    except ValueError as e:
        raise LookupError(str(e)) from None
    return TermStream(ids, _Details(matches))


def _check(value: str) -> None:
    from mstore.query.textsearch import check_value

    check_value(value)


register(TermSpec(
    key="text",
    summary='text:harbour        a word in the asset\'s text (documents, OCR, transcripts) or\n'
            '                    file names; stemmed, case and accents ignored; best first\n'
            'text:"a phrase"     those words in that order; text:harb* a prefix',
    match=_match, check=_check, ranked=True, stream=_stream))


def with_text(query: str) -> str:
    """``query`` with each free word or quoted phrase searched in the text too:
    ``harbour kind:image`` becomes ``(harbour OR text:"harbour") kind:image`` — what the
    UI's one search box asks. A word without a letter or digit stays as it is. Raises
    QueryError for a query that does not parse."""
    from mstore.query.lexer import WORD, tokenize

    out, last = [], 0
    for tok in tokenize(query):
        if tok.type != WORD or tok.key or not any(c.isalnum() for c in tok.value):
            continue
        quoted = '"' + tok.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out += [query[last:tok.pos], f"({tok.text} OR text:{quoted})"]
        last = tok.pos + len(tok.text)
    return "".join(out) + query[last:]
