"""Unit tests for the ``mstore find`` query language (lexer, parser, evaluator)."""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
import time
from array import array
from collections.abc import Iterator
from typing import Any

import pytest

from mstore.errors import EXIT_USAGE, QueryError
from mstore.query.evaluate import evaluate
from mstore.query.help import query_help
from mstore.query.lexer import (
    KEYS,
    NOT,
    OR,
    RPAREN,
    WORD,
    month_day_range,
    size_range,
    taken_range,
    tokenize,
)
from mstore.query.parser import FREE, MAX_DEPTH, And, Not, Or, Term, parse
from mstore.query.table import (
    F_ANIMATED,
    F_ERROR,
    F_GPS,
    F_LIVE,
    F_MISSING,
    F_SIDECAR,
    F_TAKEN,
    KIND_CODES,
    NO_ID,
    CatalogTable,
    DictSource,
)
from mstore.query.terms import TermContext, TermHits, TermSpec, _registry, register, specs
from tests.helpers import REPO

FLAG_NAMES = {
    "gps": F_GPS,
    "missing": F_MISSING,
    "error": F_ERROR,
    "sidecar": F_SIDECAR,
    "live": F_LIVE,
    "taken": F_TAKEN,
    "animated": F_ANIMATED,
}


def make_table(rows: list[dict[str, Any]]) -> CatalogTable:
    """Build a CatalogTable from one dict per row, in the given (output) order.

    Keys (all optional): ``id`` (hex string; default derived from the row
    index), ``kind`` ("image"), ``size`` (0), ``taken`` (0), ``flags`` (list of
    FLAG_NAMES), ``camera`` (""), ``paths`` (list of "root/rel" str or bytes),
    ``error`` (""), ``place`` ((lat, lon); none). ``kind: "error"`` makes an error-only
    row with a zero id.
    """
    t = CatalogTable()
    ids = bytearray()
    kinds = bytearray()
    for i, r in enumerate(rows):
        kind = r.get("kind", "image")
        if kind == "error":
            ids += NO_ID
        else:
            ids += bytes.fromhex(r.get("id", f"{i + 1:064x}"))
        kinds.append(KIND_CODES[kind])
        t.sizes.append(r.get("size", 0))
        t.taken.append(r.get("taken", 0))
        flags = 0
        for name in r.get("flags", ()):
            flags |= FLAG_NAMES[name]
        t.flags.append(flags)
        camera = r.get("camera", "")
        if camera not in t.cameras:
            t.cameras.append(camera)
        t.camera.append(t.cameras.index(camera))
        for p in r.get("paths", [f"root/row{i}.jpg"]):
            t.paths.append(p if isinstance(p, bytes) else p.encode())
            t.path_rows.append(i)
        t.errors.append(r.get("error", ""))
        lat, lon = r.get("place", (math.nan, math.nan))
        t.lat.append(lat)
        t.lon.append(lon)
    t.ids = bytes(ids)
    t.kinds = bytes(kinds)
    return t


# A small archive; row indices are the test's expectations.
ROWS: list[dict[str, Any]] = [
    # 0
    {
        "kind": "image",
        "size": 3_000_000,
        "taken": 20190615120000,
        "flags": ["gps", "taken", "sidecar"],
        "camera": "Apple iPhone 12",
        "paths": ["photos/2019/Vacation/IMG_0001.HEIC"],
        "id": "ab12" + "0" * 60,
    },
    # 1: two paths (a duplicate), the second one matching ext:jpg
    {
        "kind": "image",
        "size": 6_000_000,
        "taken": 20200131235959,
        "flags": ["taken", "live"],
        "camera": "Apple iPhone 12 Pro",
        "paths": ["photos/2020/beach/a.jpeg", "photos/vacation/b.JPG"],
        "id": "ab34" + "0" * 60,
    },
    # 2
    {
        "kind": "video",
        "size": 1_500_000_000,
        "taken": 20200201000000,
        "flags": ["taken", "gps"],
        "camera": "Canon EOS R5",
        "paths": ["videos/trip (1)/clip.MOV"],
        "id": "cd00" + "0" * 60,
    },
    # 3: no capture date, no camera
    {
        "kind": "audio",
        "size": 100_000,
        "paths": ["music/song two.mp3"],
        "id": "0f" + "1" * 62,
    },
    # 4: missing, with a probe error
    {
        "kind": "text",
        "size": 1234,
        "flags": ["missing", "error"],
        "paths": ["docs/notes.txt"],
        "error": "Truncated file",
    },
    # 5: animated
    {
        "kind": "other",
        "size": 1024,
        "taken": 20180101000000,
        "flags": ["animated", "taken"],
        "paths": ["photos/anim.gif"],
        "id": "ff" * 32,
    },
    # 6: error-only row
    {
        "kind": "error",
        "flags": ["error"],
        "paths": ["photos/2019/Vacation/broken.heic"],
        "error": "unreadable: permission denied",
    },
]

ASSETS = [0, 1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def table() -> CatalogTable:
    return make_table(ROWS)


@pytest.fixture(params=["find", "map"])
def substring_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with both substring strategies: str.find over the joined paths
    (used for rare words) and a map over split paths (used for common ones)."""
    ratio = 0 if request.param == "find" else 10**9
    monkeypatch.setattr("mstore.query.evaluate._FIND_RATIO", ratio)
    return str(request.param)


def q(query: str, table: CatalogTable) -> list[int]:
    return evaluate(query, table)


# -- lexer ----------------------------------------------------------------


def test_tokenize_offsets_and_types() -> None:
    query = 'kind:image -"two words" (a OR camera:"iPhone 12")'
    toks = tokenize(query)
    assert [t.type for t in toks] == [WORD, NOT, WORD, "(", WORD, OR, WORD, RPAREN]
    for t in toks:
        assert query[t.pos : t.pos + len(t.text)] == t.text
    assert (toks[0].key, toks[0].value) == ("kind", "image")
    assert (toks[2].key, toks[2].value, toks[2].text) == ("", "two words", '"two words"')
    assert (toks[6].key, toks[6].value, toks[6].pos) == ("camera", "iPhone 12", 30)


def test_tokenize_keys_case_insensitive_values_keep_case() -> None:
    (tok,) = tokenize("CAMERA:Canon")
    assert (tok.key, tok.value) == ("camera", "Canon")


def test_tokenize_quotes_protect_operators_and_keys() -> None:
    toks = tokenize('"OR" "kind:image" "-x" "(a)"')
    assert [(t.type, t.key, t.value) for t in toks] == [
        (WORD, "", "OR"),
        (WORD, "", "kind:image"),
        (WORD, "", "-x"),
        (WORD, "", "(a)"),
    ]
    # lowercase or is a plain word
    assert tokenize("or")[0].type == WORD


def test_tokenize_escaped_quote_and_mid_word_quotes() -> None:
    (tok,) = tokenize(r'"say \"hi\""')
    assert tok.value == 'say "hi"'
    (tok,) = tokenize('path:"my photos"/*')
    assert (tok.key, tok.value) == ("path", "my photos/*")


def test_tokenize_parentheses_inside_words() -> None:
    toks = tokenize("(path:img(1).jpg OR b)")
    assert [t.text for t in toks] == ["(", "path:img(1).jpg", "OR", "b", ")"]
    toks = tokenize("(a)OR(b)")
    assert [t.type for t in toks] == ["(", WORD, ")", OR, "(", WORD, ")"]


def test_non_alpha_prefix_is_not_a_key() -> None:
    (tok,) = tokenize("12:30")
    assert (tok.key, tok.value) == ("", "12:30")


# -- parser -----------------------------------------------------------------


def w(word: str, pos: int) -> Term:
    return Term(FREE, word, pos, word)


def test_parse_implicit_and_or_precedence() -> None:
    assert parse("a b OR c") == Or((And((w("a", 0), w("b", 2))), w("c", 7)))
    assert parse("a OR b c") == Or((w("a", 0), And((w("b", 5), w("c", 7)))))
    assert parse("a (b OR c)") == And((w("a", 0), Or((w("b", 3), w("c", 8)))))
    assert parse("a AND b") == And((w("a", 0), w("b", 6)))
    # nested groups of the same operator are flattened
    assert parse("a OR (b OR c)") == Or((w("a", 0), w("b", 6), w("c", 11)))
    assert parse("(a b) c") == And((w("a", 1), w("b", 3), w("c", 6)))
    assert parse("kind:image") == Term("kind", "image", 0, "kind:image")


def test_parse_negation() -> None:
    assert parse("-kind:video") == Not(Term("kind", "video", 1, "kind:video"))
    assert parse("--a") == Term(FREE, "a", 2, "a")
    node = parse("-(a OR b)")
    assert isinstance(node, Not) and isinstance(node.item, Or)


def test_parse_empty_query() -> None:
    assert parse("") == And(())
    assert parse("   ") == And(())


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "token"),
    [
        ("kind:image taken:2019-13", "taken:2019-13"),
        ("taken:abc", "taken:abc"),
        ("taken:2019-02-30", "taken:2019-02-30"),
        ("taken:2020..2019", "taken:2020..2019"),
        ("taken:..", "taken:.."),
        ("a -taken:2019-00", "taken:2019-00"),
        ("kind:picture", "kind:picture"),
        ("kind:", "kind:"),
        ("has:", "has:"),
        ("has:wings", "has:wings"),
        ("missing:maybe", "missing:maybe"),
        ("camera:", "camera:"),
        ('camera:""', 'camera:""'),
        ("path:", "path:"),
        ("ext:.", "ext:."),
        ("size:big", "size:big"),
        ("size:5XB", "size:5XB"),
        ("size:>", "size:>"),
        ("id:xyz", "id:xyz"),
        ("vacation foo:bar", "foo:bar"),
        ('kind:image camera:"iPhone 12', 'camera:"iPhone 12'),
        ('a "unterminated', '"unterminated'),
        ('""', '""'),
        ("a OR", "OR"),
        ("OR a", "OR"),
        ("a OR OR b", "OR"),
        ("a AND", "AND"),
        ("(a", "("),
        ("a (b OR c", "("),
        ("a)", ")"),
        ("a - b", "-"),
        ("a ()", "()"),
        ("(OR a)", "OR"),
        ("-OR a", "-"),
        ("a (", "("),
        (") a", ")"),
        ("a AND OR b", "AND"),
    ],
)
def test_query_errors_point_at_the_bad_token(query: str, token: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    e = info.value
    assert e.token == token
    assert e.pos == query.index(token)
    assert e.exit_code == EXIT_USAGE
    lines = e.render().splitlines()
    assert lines[1] == "  " + query
    assert lines[2] == "  " + " " * e.pos + "^" * len(token)


def test_nesting_is_limited_with_an_error_at_the_group() -> None:
    """3,000 nested parentheses were a RecursionError: now the group past the limit is a
    QueryError; the deepest query allowed still parses and evaluates (the evaluator walks
    the tree recursively too)."""
    deep = "(" * 3000 + "a" + ")" * 3000
    with pytest.raises(QueryError) as info:
        parse(deep)
    assert info.value.pos == MAX_DEPTH and info.value.token == "("
    assert f"more than {MAX_DEPTH} deep" in info.value.message
    # alternating operators keep every level in the tree (same-operator groups flatten)
    allowed = "".join(f"(vacation{' OR' if i % 2 else ''} " for i in range(MAX_DEPTH))
    allowed += "x" + ")" * MAX_DEPTH
    node = parse(allowed)
    depth = 0
    while not isinstance(node, Term):
        node = node.items[-1]  # type: ignore[union-attr]
        depth += 1
    assert depth == MAX_DEPTH
    table = make_table(ROWS)
    assert evaluate(allowed, table) == evaluate("vacation", table) != []
    with pytest.raises(QueryError):
        parse("(" + allowed + ")")


def test_long_negation_runs_parse() -> None:
    assert parse("-" * 3001 + "a") == Not(Term(FREE, "a", 3001, "a"))
    assert parse("-" * 3000 + "a") == Term(FREE, "a", 3000, "a")
    assert parse("--(-a)") == Not(Term(FREE, "a", 4, "a"))


def test_error_on_a_huge_query_renders_three_short_lines() -> None:
    query = "x" * 500_000 + " kind:bad " + "y" * 500_000
    with pytest.raises(QueryError) as info:
        parse(query)
    message, shown, caret = info.value.render().splitlines()
    assert message.startswith("unknown kind 'bad'") and "(at character 500002)" in message
    assert len(shown) < 120 and shown.startswith("  ...") and shown.endswith("...")
    assert shown[caret.index("^"):].startswith("kind:bad") and caret.strip() == "^" * 8
    # a huge bad value: the message keeps its start and its end
    with pytest.raises(QueryError) as info:
        parse("kind:" + "z" * 1_000_000)
    message, shown, caret = info.value.render().splitlines()
    assert len(message) < 300 and message.endswith("text, document, other (at character 1)")
    # control characters do not break the lines
    with pytest.raises(QueryError) as info:
        parse("a\nkind:bad")
    assert len(info.value.render().splitlines()) == 3


def test_error_messages_are_helpful() -> None:
    with pytest.raises(QueryError) as info:
        parse("kind:picture")
    for kind in ("image", "video", "audio", "text", "other"):
        assert kind in info.value.message
    with pytest.raises(QueryError) as info:
        parse("knd:image")
    assert "kind" in info.value.message
    with pytest.raises(QueryError) as info:
        parse("has:wings")
    assert "gps" in info.value.message and "animated" in info.value.message


def test_evaluate_raises_query_error(table: CatalogTable) -> None:
    with pytest.raises(QueryError) as info:
        evaluate("kind:image taken:2019-13", table)
    assert info.value.pos == 11 and info.value.token == "taken:2019-13"


# -- value parsers ------------------------------------------------------------


def test_size_units() -> None:
    assert size_range("1234") == (1234, 1234)
    assert size_range("1k") == size_range("1K") == size_range("1kb") == (1000, 1000)
    assert size_range("1KiB") == size_range("1kib") == (1024, 1024)
    assert size_range("1.5MB") == (1_500_000, 1_500_000)
    assert size_range("1mib") == (1024**2, 1024**2)
    assert size_range("2GiB")[0] == 2 * 1024**3
    assert size_range("1TB")[0] == 10**12
    assert size_range("3TiB")[0] == 3 * 1024**4
    assert size_range("7B")[0] == 7
    assert size_range(">5MB")[0] == 5_000_001
    assert size_range(">=5MB")[0] == 5_000_000
    assert size_range("<100k")[1] == 99_999
    assert size_range("<=100k")[1] == 100_000
    assert size_range("1MB..5MB") == (1_000_000, 5_000_000)


def test_taken_bounds() -> None:
    assert taken_range("2019") == (20190000000000, 20199999999999)
    assert taken_range("2019-06") == (20190600000000, 20190699999999)
    assert taken_range("2019-6-1") == (20190601000000, 20190601999999)
    assert taken_range("2019-06-01T14:30") == (20190601143000, 20190601143099)
    lo, hi = taken_range("..2020-01")
    assert lo == 1 and hi == 20200199999999  # never 0 (unknown)
    assert taken_range(">2019")[0] == 20200000000000
    assert taken_range("<2020")[1] == 20199999999999


# -- evaluation: each key -------------------------------------------------------


def test_empty_query_returns_assets_not_error_rows(table: CatalogTable) -> None:
    assert q("", table) == ASSETS


def test_kind(table: CatalogTable) -> None:
    assert q("kind:image", table) == [0, 1]
    assert q("KIND:Video", table) == [2]
    assert q("kind:audio", table) == [3]
    assert q("kind:text", table) == [4]
    assert q("kind:other", table) == [5]


def test_kind_document() -> None:
    t = make_table([{"kind": "document", "paths": ["docs/a.pdf"]},
                    {"kind": "other", "paths": ["docs/b.zip"]}])
    assert q("kind:document", t) == [0]
    assert q("-kind:document", t) == [1]


def test_ext(table: CatalogTable, substring_mode: str) -> None:
    assert q("ext:heic", table) == [0]  # the error row's .heic is out of scope
    assert q("ext:.HEIC", table) == [0]
    assert q("ext:jpg", table) == [1]  # via its second path
    assert q("ext:jpeg", table) == [1]
    assert q("ext:mov", table) == [2]
    assert q("ext:png", table) == []


def test_taken(table: CatalogTable) -> None:
    assert q("taken:2019", table) == [0]
    assert q("taken:2019-06", table) == [0]
    assert q("taken:2019-06-15", table) == [0]
    assert q("taken:2019-06-14", table) == []
    assert q("taken:2019-06..2020-01", table) == [0, 1]  # all of Jan 2020, to the second
    assert q("taken:2019..", table) == [0, 1, 2]
    assert q("taken:..2020-01", table) == [0, 1, 5]
    assert q("taken:>2019-06", table) == [1, 2]
    assert q("taken:>=2019-06", table) == [0, 1, 2]
    assert q("taken:<2020", table) == [0, 5]
    assert q("taken:<=2020-01-31", table) == [0, 1, 5]
    assert q("taken:=2018", table) == [5]
    # unknown dates (row 3, 4) never match a taken: term, but do match its negation
    assert q("-taken:2019", table) == [1, 2, 3, 4, 5]


def test_taken_without_a_year(table: CatalogTable) -> None:
    """*-MM and *-MM-DD: that month or day of any year ("on this day"); ranges of them,
    wrapping over the new year. Rows: 2019-06-15, 2020-01-31, 2020-02-01, none, none,
    2018-01-01."""
    assert q("taken:*-06-15", table) == [0]
    assert q("taken:*-01", table) == [1, 5]
    assert q("taken:*-1-31", table) == [1]
    assert q("taken:*-01-31..*-02", table) == [1, 2]
    assert q("taken:*-12-20..*-01-05", table) == [5]  # over the new year
    assert q("taken:*-06..", table) == [0]  # to the year's end
    assert q("taken:..*-01-31", table) == [1, 5]  # from its start
    assert q("taken:*-02-29", table) == []  # exists in leap years
    assert q("-taken:*-01", table) == [0, 2, 3, 4]  # unknown dates match the negation only
    assert q("taken:*-01 taken:2020", table) == [1]
    assert month_day_range("2019-06") is None
    for bad, says in (("*-13", "invalid month 13"), ("*-02-30", "invalid day 30"),
                      (">*-06", "< and > need a year"), ("2019..*-06", "or neither"),
                      ("*", "is not a date without a year"), ("*..*", "is not a date")):
        with pytest.raises(QueryError) as e:
            q(f"taken:{bad}", table)
        assert says in str(e.value), (bad, str(e.value))


def test_camera(table: CatalogTable) -> None:
    assert q('camera:"iPhone 12"', table) == [0, 1]
    assert q('camera:"iphone 12 pro"', table) == [1]
    assert q("camera:canon", table) == [2]
    assert q("camera:nikon", table) == []


def test_path_glob(table: CatalogTable, substring_mode: str) -> None:
    assert q("path:vacation/*", table) == [1]  # relative path photos/... does not start so
    assert q("path:*/vacation/*", table) == [0, 1]  # * crosses "/"
    assert q("path:2019/*", table) == [0]
    assert q("path:photos/2019/*", table) == [0]  # the full path, root included
    assert q("path:*.heic", table) == [0]
    assert q("path:*.HEIC", table) == [0]
    assert q("path:videos/trip*", table) == [2]  # full path, root included
    assert q("path:videos/clip.*", table) == []  # clip.mov is one level deeper
    assert q("path:trip*/clip.???", table) == [2]
    assert q("path:[a-c]*", table) == [5]  # relative path anim.gif
    assert q('path:"trip (1)/*"', table) == [2]


def test_path_substring_and_directory(table: CatalogTable, substring_mode: str) -> None:
    assert q("path:2019/vacation", table) == [0]
    assert q("path:VACATION", table) == [0, 1]
    assert q("path:music", table) == []  # only the root is called music
    assert q("path:song", table) == [3]
    assert q("path:2019/", table) == [0]
    assert q("path:/2019/", table) == [0]
    assert q("path:photos/", table) == [0, 1, 5]  # matches the full path (root photos)
    assert q("path:vacation/", table) == [1]  # directory prefix, not substring
    assert q("path:2019/vac", table) == [0]


def test_size(table: CatalogTable) -> None:
    assert q("size:>5MB", table) == [1, 2]
    assert q("size:<100k", table) == [4, 5]
    assert q("size:<=100k", table) == [3, 4, 5]
    assert q("size:>=1GiB", table) == [2]
    assert q("size:1MB..5MB", table) == [0]
    assert q("size:1234", table) == [4]
    assert q("size:1KiB", table) == [5]
    assert q("size:..1KiB", table) == [5]
    assert q("size:..1kb", table) == []
    assert q("size:1gb..", table) == [2]


@pytest.mark.parametrize(
    ("flag", "rows"),
    [
        ("gps", [0, 2]),
        ("taken", [0, 1, 2, 5]),
        ("sidecar", [0]),
        ("live", [1]),
        ("error", [4]),  # has:error does not bring error-only rows into scope
        ("animated", [5]),
        ("GPS", [0, 2]),
    ],
)
def test_has(table: CatalogTable, flag: str, rows: list[int]) -> None:
    assert q(f"has:{flag}", table) == rows


def test_missing(table: CatalogTable) -> None:
    assert q("missing:", table) == [4]
    assert q("missing:true", table) == [4]
    assert q("missing:false", table) == [0, 1, 2, 3, 5]


def test_error_terms_and_default_scope(table: CatalogTable) -> None:
    assert q("error:", table) == [4, 6]
    assert q("error:unreadable", table) == [6]
    assert q("error:TRUNCATED", table) == [4]
    assert q("error:nothing-like-this", table) == []
    # error-only rows are out of scope unless an error: term asks for them
    assert q("vacation", table) == [0, 1]
    assert q("vacation error:", table) == [6]
    assert q("kind:image OR error:", table) == [0, 1, 4, 6]
    assert q("kind:image OR -(-error:)", table) == [0, 1, 4, 6]  # doubly negated: positive
    assert q("-error:", table) == [0, 1, 2, 3, 5]
    assert q("-kind:image", table) == [2, 3, 4, 5]


def test_id_prefix(table: CatalogTable) -> None:
    assert q("id:ab", table) == [0, 1]
    assert q("id:a", table) == [0, 1]
    assert q("id:AB1", table) == [0]
    assert q("id:ab12", table) == [0]
    assert q("id:ab120", table) == [0]
    assert q("id:ab121", table) == []
    assert q("id:0f1", table) == [3]
    assert q("id:" + "ff" * 32, table) == [5]
    assert q("id:0", table) == [3, 4]  # the error row's zero id is out of scope


def test_free_words(table: CatalogTable, substring_mode: str) -> None:
    assert q("vacation", table) == [0, 1]
    assert q("VACATION img", table) == [0]
    assert q('"song two"', table) == [3]
    assert q("music", table) == [3]  # free words search the full path, root included
    assert q('"trip (1)"', table) == [2]
    assert q("12:30", table) == []


# -- evaluation: operators --------------------------------------------------------


def test_negation(table: CatalogTable) -> None:
    assert q("-kind:image", table) == [2, 3, 4, 5]
    assert q("photos -vacation", table) == [5]
    assert q("-(kind:image OR kind:video)", table) == [3, 4, 5]
    assert q("--kind:video", table) == [2]


def test_or_and_grouping(table: CatalogTable) -> None:
    assert q("kind:video OR kind:audio", table) == [2, 3]
    assert q("kind:image has:gps OR kind:audio", table) == [0, 3]
    assert q("kind:image (has:gps OR has:live)", table) == [0, 1]
    assert q("(kind:image OR kind:video) has:gps", table) == [0, 2]
    assert q("-kind:image OR has:gps", table) == [0, 2, 3, 4, 5]
    assert q("kind:image AND has:live", table) == [1]
    assert q("((kind:image))", table) == [0, 1]
    assert q("kind:image kind:video", table) == []
    assert q("kind:image kind:video vacation", table) == []  # stops early, same answer
    assert q("size:>5MB camera:iphone", table) == [1]


def test_multi_path_rows_and_rows_without_paths(substring_mode: str) -> None:
    t = make_table(
        [
            {"paths": ["r/a/x.jpg", "r/b/y.png"]},
            {"paths": []},
            {"paths": ["r/b/z.jpg"]},
        ]
    )
    assert evaluate("", t) == [0, 1, 2]
    assert evaluate("ext:png", t) == [0]
    assert evaluate("path:b/*", t) == [0, 2]
    assert evaluate("-path:b/*", t) == [1]
    # each term may match a different path of the same row
    assert evaluate("path:a/ path:b/", t) == [0]
    assert evaluate("ext:jpg", t) == [0, 2]


def _reference_path_match(value: str, full: str) -> bool:
    """The documented path: semantics, spelled out naively (to check the fast paths)."""
    full = full.lower()
    value = value.lower()
    rel = full.partition("/")[2]
    if any(c in value for c in "*?[") or value.endswith("/"):
        glob = value.lstrip("/")
        if glob.endswith("/") or not glob:
            glob += "*"
        return fnmatch.fnmatchcase(rel, glob) or fnmatch.fnmatchcase(full, glob)
    return value in rel


PATH_QUERIES = [
    "vacation/*",
    "vacation/",
    "/vacation/",
    "*/vacation/*",
    "*.jpg",
    "*a*",
    "*.j?g",
    "?hoto*",
    "[pv]*",
    "photo*",
    "photos/",
    "phone/",
    "2019/",
    "2019/*/img_0*",
    "*2019*jpg",
    "o/2",
    "phone",
    "photos",
    "hot",
    "s/v",
    "2019/vacation",
    "/",
    "*",
]


@pytest.mark.parametrize("nroots", [1, 3, 20])
def test_path_terms_match_reference(nroots: int, substring_mode: str) -> None:
    """Every path: shape, on tables with one, a few and many roots, multi-path rows."""
    root_names = ["photos", "phone", "photo"] + [f"r{k}" for k in range(17)]
    dirs = ["2019/vacation", "vacation", "Photos/2019", "misc/o/2", "phone", ""]
    rows = []
    for i in range(120):
        paths = []
        for j in range(1 + i % 3):
            root = root_names[(i + j) % nroots]
            d = dirs[(i * 7 + j) % len(dirs)]
            name = f"IMG_{i:04d}.{['jpg', 'JPG', 'png', 'heic'][(i + j) % 4]}"
            paths.append(f"{root}/{d}/{name}" if d else f"{root}/{name}")
        rows.append({"paths": paths})
    t = make_table(rows)
    for value in PATH_QUERIES:
        expected = [
            i
            for i, r in enumerate(rows)
            if any(_reference_path_match(value, p) for p in r["paths"])
        ]
        assert evaluate(f'path:"{value}"', t) == expected, value
    for word in ["img_000", "img_0042", "2019/vacation", "o/2", "phone", "jpg", "/"]:
        expected = [i for i, r in enumerate(rows) if any(word in p.lower() for p in r["paths"])]
        assert evaluate(f'"{word}"', t) == expected, word
    for ext in ["jpg", "png", "heic", "g"]:
        expected = [
            i for i, r in enumerate(rows) if any(p.lower().endswith("." + ext) for p in r["paths"])
        ]
        assert evaluate(f"ext:{ext}", t) == expected, ext


def test_path_without_root_separator(substring_mode: str) -> None:
    t = make_table([{"paths": ["loose.jpg"]}, {"paths": ["root/vacation/a.jpg"]}])
    assert evaluate("path:vacation/*", t) == [1]
    assert evaluate("path:loose*", t) == [0]  # the full path
    assert evaluate("path:vacation", t) == [1]
    assert evaluate("ext:jpg", t) == [0, 1]
    t = make_table([{"paths": ["root/vacation/a.jpg"]}, {"paths": ["vacation"]}])
    assert evaluate("path:vacation/*", t) == [0]
    assert evaluate("path:vacation*", t) == [0, 1]


def test_undecodable_path_bytes(substring_mode: str) -> None:
    t = make_table([{"paths": [b"r/caf\xe9/x.jpg"]}, {"paths": ["r/café/y.jpg"]}])
    assert evaluate("ext:jpg", t) == [0, 1]
    assert evaluate("café", t) == [1]
    # the query is decoded from argv the same way (surrogateescape)
    assert evaluate(os.fsdecode(b"caf\xe9"), t) == [0]
    assert evaluate("path:CAFÉ/*", t) == [1]


def test_empty_table() -> None:
    assert evaluate("", CatalogTable()) == []
    assert evaluate("kind:image", CatalogTable()) == []
    with pytest.raises(QueryError):
        evaluate("kind:nope", CatalogTable())


def test_round_tripped_table(table: CatalogTable) -> None:
    t = CatalogTable.from_bytes(table.to_bytes())
    assert evaluate("error:", t) == [4, 6]
    assert evaluate("vacation OR ext:mov", t) == [0, 1, 2]


def test_help_mentions_every_key() -> None:
    text = query_help()
    for key in [*KEYS, *(spec.key for spec in specs())]:
        assert f"{key}:" in text
    assert "label:keep" in text  # a provider's own summary
    assert "OR" in text and "-term" in text


# -- scale ---------------------------------------------------------------------------

BIG_N = 100_000
BIG_CAMERAS = ["", "Apple iPhone 12", "Canon EOS R5", "Apple iPhone 15 Pro"]
BIG_DIRS = ["2019/vacation", "vacation", "misc", "2020/Summer"]
BIG_EXTS = ["jpg", "HEIC", "mov", "png"]


def _big_dir(i: int) -> int:
    return i % 4 if i % 5 else 1


def big_table(n: int = BIG_N) -> CatalogTable:
    """An n-row table built column-wise (make_table would be slow), with hash-like ids."""
    return CatalogTable(
        ids=b"".join(
            hashlib.blake2b(i.to_bytes(4, "little"), digest_size=32).digest() for i in range(n)
        ),
        kinds=bytes(KIND_CODES["video"] if i % 4 == 3 else KIND_CODES["image"] for i in range(n)),
        sizes=array("q", ((i % 10) * 1_000_000 for i in range(n))),
        taken=array("q", (0 if i % 7 == 0 else 20180101000000 + i % 3 * 10**10 for i in range(n))),
        flags=array("I", (F_GPS if i % 6 == 0 else 0 for i in range(n))),
        camera=array("I", (i % 4 for i in range(n))),
        cameras=list(BIG_CAMERAS),
        paths=[
            f"root/{BIG_DIRS[_big_dir(i)]}/IMG_{i:06d}.{BIG_EXTS[i % 4]}".encode() for i in range(n)
        ],
        path_rows=array("I", range(n)),
        errors=[""] * n,
        # the rows with F_GPS 11 m apart per row along a meridian: row 3000 at 48.3, 2
        lat=array("d", (48 + i / 10_000 if i % 6 == 0 else math.nan for i in range(n))),
        lon=array("d", (2.0 if i % 6 == 0 else math.nan for i in range(n))),
    )


def test_100k_rows_counts() -> None:
    t = big_table()
    n = BIG_N
    rng = range(n)
    id_prefix = t.ids[32 * 12345 : 32 * 12345 + 3].hex()[:5]
    expected = {
        "kind:image": sum(i % 4 != 3 for i in rng),
        # relative path starts with "vacation/": BIG_DIRS[1]
        "path:vacation/*": sum(_big_dir(i) == 1 for i in rng),
        # sizes 6..9 MB are > 5MB; cameras 1 and 3 contain "iphone"
        "size:>5MB camera:iphone": sum(i % 10 > 5 and i % 4 in (1, 3) for i in rng),
        "-kind:image OR has:gps": sum(i % 4 == 3 or i % 6 == 0 for i in rng),
        "vacation": sum(_big_dir(i) in (0, 1) for i in rng),
        "taken:2019": sum(i % 7 != 0 and i % 3 == 1 for i in rng),
        "ext:heic": sum(i % 4 == 1 for i in rng),
        "path:2019/vacation": sum(_big_dir(i) == 0 for i in rng),
        f"id:{id_prefix}": sum(t.ids[32 * i : 32 * i + 3].hex().startswith(id_prefix) for i in rng),
        "": n,
    }
    timings = {}
    for query, count in expected.items():
        start = time.perf_counter()
        rows = evaluate(query, t)
        timings[query] = (time.perf_counter() - start) * 1000
        assert len(rows) == count, query
        assert rows == sorted(rows)
    assert 12345 in evaluate(f"id:{id_prefix}", t)
    print("\nevaluate() over 100k rows (ms):")
    for query, ms in timings.items():
        print(f"  {ms:7.2f}  {query!r}")


def marks(rows: dict[tuple[int, str], str]) -> TermContext:
    """A query context whose labels (as the label provider caches them) are ``rows``:
    (row index, key) -> newest value."""
    ctx = TermContext(None)
    ctx.cache["labels"] = {(bytes.fromhex(f"{row + 1:064x}"), k): (1, v)
                           for (row, k), v in rows.items()}
    return ctx


def test_label_terms() -> None:
    t = make_table([{}, {}, {"kind": "video"}, {}])
    labels = marks({(0, "keep"): "keep", (1, "keep"): "not-keep", (3, "keep"): "",
                    (3, "checked"): "yes"})
    assert evaluate("label:keep", t, labels) == [0, 1]  # a cleared mark does not count
    assert evaluate("label:keep=not-keep", t, labels) == [1]
    assert evaluate("-label:keep", t, labels) == [2, 3]
    assert evaluate("label:keep kind:image OR label:checked", t, labels) == [0, 1, 3]
    assert evaluate("label:nothing", t, labels) == []
    with pytest.raises(QueryError, match="label"):
        evaluate("label:keep", t)  # no labels to look in
    with pytest.raises(QueryError, match="label"):
        evaluate("label:keep", t, TermContext(None))
    with pytest.raises(QueryError, match="needs a key"):
        evaluate("label:=x", t, labels)
    with pytest.raises(QueryError, match="needs a value"):
        evaluate("label:", t, labels)


@pytest.fixture
def scored() -> Iterator[TermSpec]:
    """A ranked provider ``score:`` registered for one test: rows 3, 0, 2 in that order
    match ``score:x``; ``score:bad`` is refused by its check."""
    def match(ctx: TermContext, value: str) -> TermHits:
        order = [bytes.fromhex(f"{row + 1:064x}") for row in (3, 0, 2)]
        return TermHits(set(order), order, {order[0]: {"why": value}})

    def check(value: str) -> None:
        if value == "bad":
            raise ValueError("score: 'bad' is not a score")

    spec = TermSpec("score", "score:X           rows by a score", match, check=check,
                    ranked=True)
    register(spec)
    yield spec
    _registry.pop("score")


def test_a_ranked_provider_orders_the_answer(scored: TermSpec) -> None:
    t = make_table([{}, {}, {"kind": "video"}, {}])
    ctx = TermContext(None)
    assert evaluate("score:x", t, ctx) == [3, 0, 2]
    assert evaluate("score:x kind:image", t, ctx) == [3, 0]  # ANDed: still ranked
    assert evaluate("score:x OR kind:video", t, ctx) == [0, 2, 3]  # not at the top: table order
    assert evaluate("-score:x", t, ctx) == [1]
    assert ctx.details(bytes.fromhex(f"{4:064x}")) == {"score:x": {"why": "x"}}
    assert "score:X" in query_help()
    with pytest.raises(QueryError, match="'bad' is not a score"):
        evaluate("score:bad", t, ctx)
    with pytest.raises(QueryError, match="needs a value"):
        evaluate("score:", t, ctx)


def test_a_provider_term_over_a_big_stored_table_looks_its_few_ids_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider that matches a few assets of a big stored table (a phrase, a person):
    its rows are found through the table's id order, and the answer — also ranked, and
    combined with other terms — is the one the pass over every row's id gives."""
    t = big_table(5000)
    cols, head = t.to_columns()
    stored = CatalogTable.stored(DictSource(cols), head)
    rows = [4321, 7, 2500, 4999]
    ids = [t.ids[32 * r:32 * r + 32] for r in rows] + [b"\xff" * 32]  # and one not there

    def match(ctx: TermContext, value: str) -> TermHits:
        return TermHits(set(ids), ids)

    register(TermSpec("few", "few:X             a few rows", match, ranked=True))
    try:
        for query in ("few:x", "few:x kind:video", "-few:x path:*/IMG_0043*",
                      "few:x OR id:00"):
            whole = evaluate(query, t, TermContext(None))  # in memory: every row's id
            assert evaluate(query, stored, TermContext(None)) == whole, query
        assert evaluate("few:x", stored, TermContext(None)) == rows
        looked = []
        real = CatalogTable.id_bytes
        monkeypatch.setattr(CatalogTable, "id_bytes",
                            lambda self, i: looked.append(i) or real(self, i))
        evaluate("few:x OR has:live", stored, TermContext(None))  # not ranked: no sort
        assert 0 < len(looked) < 200  # bisections, not a pass over 5000 ids
    finally:
        _registry.pop("few")


def test_an_unknown_key_lists_the_providers_keys_too(scored: TermSpec) -> None:
    with pytest.raises(QueryError, match=r"unknown key 'scor': did you mean 'score'\?.*label"):
        evaluate("scor:x", make_table([{}]))


def test_which_queries_ask_for_sidecars() -> None:
    """The grid lists sidecars on their own only for these (query/sidecars.py)."""
    from mstore.query.sidecars import asks_for_sidecars

    for q in ("kind:text", "ext:XMP", "ext:.aae", "path:*.xmp", "IMG_1.JPG.xmp",
              "kind:image OR kind:other", "(a (b OR ext:xmp))", "--kind:text"):
        assert asks_for_sidecars(q), q
    for q in ("", "kind:image", "-kind:text", "-(ext:xmp)", "xmp", "has:sidecar",
              "ext:jpg", "-(a OR kind:text)"):
        assert not asks_for_sidecars(q), q


@pytest.mark.parametrize("query", ["", "kind:video", "path:vacation/*", "vacation", "ext:heic",
                                   "size:>5MB camera:iphone", "-kind:image OR has:gps",
                                   "path:2019/vacation", "id:ab", "IMG_0999"])
def test_a_limited_query_reads_chunks_and_answers_the_first_rows(
        query: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``find --limit N`` evaluates a stored table a chunk of rows at a time and stops
    early: its answer is the first N rows of the whole answer, whatever the chunking."""
    import mstore.query.evaluate as ev

    cols, head = big_table(5000).to_columns()
    stored = CatalogTable.stored(DictSource(cols), head)
    whole = evaluate(query, stored)
    monkeypatch.setattr(ev, "CHUNK_ROWS", 700)
    for limit in (0, 1, 20, 3000, 10_000):
        assert evaluate(query, stored, limit=limit) == whole[:limit], limit


@pytest.mark.parametrize("query", ["near:48.3,2,200m OR kind:video",
                                   "-near:48.3,2,200m size:>5mb", "near:48.3,2,200m"])
def test_a_limited_query_with_a_provider_term_answers_the_first_rows(
        query: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A term answered outside the table (``near:`` here; ``collection:``, ``label:``,
    ``person:`` alike) gives asset ids, each found by its row: in a chunk of a limited
    query, by its row in the table the chunk is cut from. The first rows of the whole
    answer, whatever the chunking."""
    import mstore.query.evaluate as ev

    cols, head = big_table(5000).to_columns()
    stored = CatalogTable.stored(DictSource(cols), head)
    near = evaluate("near:48.3,2,200m", stored, TermContext(None))
    # rows 11.1 m apart: 2982 and 3018 are 200.1 m from row 3000
    assert sorted(near) == [2988, 2994, 3000, 3006, 3012]
    whole = evaluate(query, stored, TermContext(None))
    monkeypatch.setattr(ev, "CHUNK_ROWS", 700)
    for limit in (1, 20, 3000):
        assert evaluate(query, stored, TermContext(None), limit=limit) == whole[:limit], limit


def test_a_limited_query_skips_the_chunks_before_its_first_candidate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows can match only if a path holds the query's literal ("img_0041": rows 4100 to
    4199 of 5000): a limited query reads no chunk before the first such path, and still
    answers the first rows of the whole answer. An OR that could match elsewhere skips
    nothing."""
    import mstore.query.evaluate as ev

    cols, head = big_table(5000).to_columns()
    stored = CatalogTable.stored(DictSource(cols), head)
    monkeypatch.setattr(ev, "CHUNK_ROWS", 700)
    starts: list[int] = []
    real = CatalogTable.row_slice

    def row_slice(self: CatalogTable, a: int, b: int) -> CatalogTable:
        starts.append(a)
        return real(self, a, b)

    monkeypatch.setattr(CatalogTable, "row_slice", row_slice)
    for query in ("img_0041", "path:*/IMG_0041*", "img_0041 size:>1mb", "-kind:video img_0041",
                  "(img_0041 kind:image) path:root/*", "img_0041 OR kind:video",
                  "img_00419x"):
        whole = evaluate(query, stored)
        starts.clear()
        assert evaluate(query, stored, limit=5) == whole[:5], query
        if "OR" in query:
            assert starts[0] == 0, query
        elif whole:
            assert min(starts) == 4100 and whole[0] >= 4100, query
        else:
            assert starts == [], query


def test_a_limited_query_over_several_paths_per_row_and_other_scripts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a table whose rows have several paths, some not ASCII, and of a merged
    table (a snapshot and a delta): still the first rows of the whole answer."""
    import random

    import mstore.query.evaluate as ev
    from mstore.query.table import MergedTable

    rng = random.Random(4)
    names = ["été", "Straße", "plain", "IMG", "vacation"]
    rows = [{"paths": sorted(f"root/{rng.choice(names)}/{i:05d}-{k}.jpg"
                             for k in range(rng.choice([1, 1, 2, 3]))),
             "kind": rng.choice(["image", "video"]), "size": rng.randrange(10 << 20)}
            for i in range(3000)]
    rows.sort(key=lambda r: r["paths"][0])
    cols, head = make_table(rows).to_columns()
    stored = CatalogTable.stored(DictSource(cols), head)
    delta = make_table([{"paths": ["root/été/zz.jpg"], "id": "cd" * 32, "kind": "video"}])
    merged = MergedTable(stored, delta, [(0, 0, 1500), (1, 0, 1), (0, 1500, 3000)])
    monkeypatch.setattr(ev, "CHUNK_ROWS", 256)
    for table in (stored, merged):
        for query in ("été", "straße kind:video", "path:root/plain/*", "-vacation size:>5MB",
                      "path:*-2.jpg"):
            whole = evaluate(query, table)
            for limit in (1, 7, 400, 5000):
                assert evaluate(query, table, limit=limit) == whole[:limit], (query, limit)


def test_a_query_of_catalog_keys_imports_no_term_provider() -> None:
    """Providers load on the first key the catalog does not know: a query of catalog
    keys and free words (find's common case) pays for none of them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mstore.query.evaluate import evaluate\n"
        "from tests.unit.test_query import make_table\n"
        "evaluate('kind:image vacation -size:>1k', make_table([{}, {}]))\n"
        "loaded = [m for m in ('mstore.query.labels', 'mstore.query.text',\n"
        "          'mstore.query.people', 'mstore.query.similar') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_each_built_in_provider_key_is_registered_by_the_module_named_for_it() -> None:
    """A key is looked up by importing only its module (terms.PROVIDERS): each module must
    register the keys it is named for, and every registered key must be named."""
    import importlib

    from mstore.query import terms

    for key, module in terms.PROVIDERS.items():
        importlib.import_module(module)
        assert terms._registry[key].key == key
    assert {s.key for s in terms.specs()} == set(terms.PROVIDERS)


def test_a_name_matches_with_or_without_its_accents(substring_mode: str) -> None:
    """macOS writes file names decomposed ("e" and a combining accent); keyboards and most
    other systems compose ("é"); a person often types no accent at all. A word, a path
    glob or a path prefix finds a name whichever way either spells it, in any case, in
    memory and stored. Letters that are not a letter and an accent stay themselves."""
    nfd, nfc = "Cafe\u0301 Mu\u0308ller", "Caf\u00e9 M\u00fcller"
    t = make_table([{"paths": [f"root/{nfd}/IMG_1.jpg"]},
                    {"paths": [f"root/{nfc}/IMG_2.jpg"]},
                    {"paths": ["root/Cafe Muller/IMG_3.jpg"]},
                    {"paths": [b"root/caf\xe9/latin1.jpg"]},  # not UTF-8: no match, no error
                    {"paths": ["root/\u0141\u00f3d\u017a/IMG_5.jpg"]}])  # Łódź
    cols, head = t.to_columns()
    stored = CatalogTable.stored(DictSource(cols), head)
    for table in (t, stored):
        for query in ("café", "cafe\u0301", "CAFÉ", "cafe", "müller", "MU\u0308LLER", "muller",
                      "path:*Café*/*", "path:*cafe*/*", "path:\"caf\u00e9 m\u00fcller/\"",
                      "path:\"Cafe\u0301 mu\u0308ller/\"", "path:\"cafe muller/\"", "\"é m\""):
            assert evaluate(query, table) == [0, 1, 2], (query, table is stored)
        assert evaluate("path:*/IMG_2.jpg müller", table) == [1]
        assert evaluate("łodz", table) == evaluate("ŁÓDŹ", table) == [4]
        assert evaluate("lodz", table) == []  # "ł" is a letter of its own
