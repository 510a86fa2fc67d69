"""Tokenizer for the ``mstore find`` query language.

A query is a sequence of tokens separated by whitespace::

    vacation kind:image -ext:heic (camera:"iPhone 12" OR has:gps) taken:2019..2020-01

The lexer also validates every ``key:value`` term (known key, non-empty value,
parsable size/date, known kind/has name) so that the user gets one error that
points at the offending token, before any evaluation work starts. The value
parsers used for that (:func:`size_range`, :func:`taken_range`, ...) are public
so that the evaluator reuses exactly the same interpretation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

from mstore.errors import QueryError
from mstore.query.table import (
    F_ANIMATED,
    F_ERROR,
    F_GPS,
    F_LIVE,
    F_SIDECAR,
    F_TAKEN,
    KIND_CODES,
)

# token types
WORD = "WORD"  # a free word or a key:value term (``key`` tells which)
OR = "OR"
AND = "AND"
NOT = "NOT"  # a leading '-'
LPAREN = "("
RPAREN = ")"

# key -> whether the value may be empty
KEYS: dict[str, bool] = {
    "kind": False,
    "ext": False,
    "taken": False,
    "camera": False,
    "path": False,
    "size": False,
    "has": False,
    "missing": True,
    "error": True,
    "id": False,
}
# keys answered outside the catalog table (``label:`` and the others of
# mstore/query/terms.py) are checked through their provider

# ``kind:`` values; "error" is left out on purpose: error-only rows are reached with ``error:``
KINDS: dict[str, int] = {k: v for k, v in KIND_CODES.items() if k != "error"}

HAS_FLAGS: dict[str, int] = {
    "gps": F_GPS,
    "taken": F_TAKEN,
    "sidecar": F_SIDECAR,
    "live": F_LIVE,
    "error": F_ERROR,
    "animated": F_ANIMATED,
}

BOOL_VALUES: dict[str, bool] = {"": True, "true": True, "yes": True, "false": False, "no": False}

# A key is only recognised when it is made of letters: ``12:30`` stays a free word.
_KEY_RE = re.compile(r"[A-Za-z_]+\Z")


class Token(NamedTuple):
    """One token. ``pos``/``text`` locate it in the query for error messages.

    For a WORD, ``key`` is the lowercased key ("" for a free word) and ``value``
    the value with quotes removed (original case: the evaluator lowercases).
    """

    type: str
    pos: int
    text: str
    key: str = ""
    value: str = ""


# -- value parsers -----------------------------------------------------------

# sizes: decimal and binary units, case-insensitive
SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\Z")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# taken: YYYY[-MM[-DD[Thh[:mm[:ss]]]]]
_DATE_RE = re.compile(
    r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T_ ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?)?)?)?\Z"
)
_DATE_HELP = "use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh[:mm[:ss]]"
_DATE_FIELDS = [
    ("year", 1, 9999),
    ("month", 1, 12),
    ("day", 1, 31),
    ("hour", 0, 23),
    ("minute", 0, 59),
    ("second", 0, 59),
]


def _days_in_month(year: int, month: int) -> int:
    # not calendar.monthrange: importing calendar costs ~2 ms of `mstore find` start-up
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _size_point(text: str) -> tuple[int, int]:
    m = _SIZE_RE.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a size: use a number with an optional unit, e.g. 5MB")
    unit = m.group(2).lower()
    if unit not in SIZE_UNITS:
        raise ValueError(
            f"unknown size unit '{m.group(2)}' in '{text}':"
            " use B, kB, KiB, MB, MiB, GB, GiB, TB or TiB"
        )
    # integer arithmetic, not float: 1.1MB is exactly 1100000 bytes (rounded half up)
    whole, _, frac = m.group(1).partition(".")
    scale = 10 ** len(frac)
    num = int(whole or "0") * scale + int(frac or "0")
    value = (2 * num * SIZE_UNITS[unit] + scale) // (2 * scale)
    return value, value


def parse_size(text: str) -> int:
    """Bytes in a size as the query language writes it (``5MB``, ``1.5GiB``, ``1234``);
    ValueError with a message for a person otherwise."""
    return _size_point(text)[0]


def _date_point(text: str) -> tuple[int, int]:
    """The first and last YYYYMMDDhhmmss integers covered by a (partial) date.

    ``2019-06`` covers 20190600000000..20190699999999: the bounds need not be
    real dates, only to enclose every real one with that prefix.
    """
    m = _DATE_RE.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a date: {_DATE_HELP}")
    parts = [int(g) for g in m.groups() if g is not None]
    prefix, digits_left = 0, 14
    for index, value in enumerate(parts):
        name, lo, hi = _DATE_FIELDS[index]
        if index == 2:  # the day limit depends on the (already checked) year and month
            hi = _days_in_month(parts[0], parts[1])
        if not lo <= value <= hi:
            raise ValueError(f"invalid {name} {value} in '{text}': {_DATE_HELP}")
        width = 4 if index == 0 else 2
        prefix = prefix * 10**width + value
        digits_left -= width
    scale = 10**digits_left
    return prefix * scale, (prefix + 1) * scale - 1


def _range(
    value: str, point: Callable[[str], tuple[int, int]], lowest: int, highest: int
) -> tuple[int, int]:
    """Parse ``a``, ``=a``, ``>a``, ``>=a``, ``<a``, ``<=a``, ``a..b``, ``a..``, ``..b``.

    ``point(x)`` gives the (first, last) values that ``x`` stands for, so that
    ``..2020-01`` includes the whole of January and ``>2019`` starts in 2020.
    Returns inclusive bounds; raises ValueError with a user-facing message.
    """
    v = value.strip()
    if ".." in v:
        a, b = v.split("..", 1)
        if not a.strip() and not b.strip():
            raise ValueError(f"'{value}': a range needs at least one end, e.g. a..b, a.. or ..b")
        lo = point(a)[0] if a.strip() else lowest
        hi = point(b)[1] if b.strip() else highest
    elif v.startswith(">="):
        lo, hi = point(v[2:])[0], highest
    elif v.startswith("<="):
        lo, hi = lowest, point(v[2:])[1]
    elif v.startswith(">"):
        lo, hi = point(v[1:])[1] + 1, highest
    elif v.startswith("<"):
        lo, hi = lowest, point(v[1:])[0] - 1
    else:
        lo, hi = point(v[1:] if v.startswith("=") else v)
    lo, hi = max(lo, lowest), min(hi, highest)
    if lo > hi:
        raise ValueError(f"'{value}' is an empty range")
    return lo, hi


def size_range(value: str) -> tuple[int, int]:
    """Inclusive byte bounds of a ``size:`` value."""
    return _range(value, _size_point, INT64_MIN, INT64_MAX)


def taken_range(value: str) -> tuple[int, int]:
    """Inclusive YYYYMMDDhhmmss bounds of a ``taken:`` value; never includes 0 (unknown)."""
    return _range(value, _date_point, 1, INT64_MAX)


_MONTH_DAY_RE = re.compile(r"\*-(\d{1,2})(?:-(\d{1,2}))?\Z")
_MONTH_DAY_HELP = "without a year: *-MM or *-MM-DD, or a range of them (*-06..*-08)"


def _month_day_point(text: str) -> tuple[int, int]:
    """The first and last MMDD a year-less date covers: ``*-06`` is 0601..0631."""
    m = _MONTH_DAY_RE.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a date {_MONTH_DAY_HELP}")
    month = int(m.group(1))
    if not 1 <= month <= 12:
        raise ValueError(f"invalid month {month} in '{text}': {_MONTH_DAY_HELP}")
    if m.group(2) is None:
        return month * 100 + 1, month * 100 + 31
    day = int(m.group(2))
    if not 1 <= day <= _days_in_month(2000, month):  # a leap year: *-02-29 exists
        raise ValueError(f"invalid day {day} in '{text}': {_MONTH_DAY_HELP}")
    return month * 100 + day, month * 100 + day


def month_day_range(value: str) -> tuple[int, int] | None:
    """Inclusive MMDD bounds of a ``taken:`` value without a year (``*-12-24``: that day
    of any year; ``*-06..*-08``: June to August; ``*-12-20..*-01-05`` wraps over the new
    year, so ``lo > hi`` means "from lo, or up to hi"); None for a value with a year.
    An open end runs to the year's end or from its start; ``<``/``>`` take a year."""
    v = value.strip()
    if "*" not in v:
        return None
    if v[:1] in "<>":
        raise ValueError(f"'{value}': < and > need a year; {_MONTH_DAY_HELP}")
    if ".." not in v:
        return _month_day_point(v[1:] if v.startswith("=") else v)
    a, b = (x.strip() for x in v.split("..", 1))
    if not a and not b:
        raise ValueError(f"'{value}': a range needs at least one end, e.g. *-06..*-08")
    if (a and "*" not in a) or (b and "*" not in b):
        raise ValueError(f"'{value}': both ends of a range have a year, or neither")
    return (_month_day_point(a)[0] if a else 101), (_month_day_point(b)[1] if b else 1231)


def normalize_ext(value: str) -> str:
    """``HEIC``/``.heic`` -> ``.heic`` (what a lowercased path must end with)."""
    ext = value.strip().lower().lstrip(".")
    if not ext:
        raise ValueError("ext: needs an extension, e.g. ext:heic")
    return "." + ext


def normalize_id(value: str) -> str:
    prefix = value.strip().lower()
    if len(prefix) > 64 or any(c not in "0123456789abcdef" for c in prefix):
        raise ValueError(f"'{value}' is not an id prefix: use up to 64 hex digits")
    return prefix


def _one_of(what: str, value: str, valid: Mapping[str, object]) -> None:
    if value.lower() not in valid:
        names = ", ".join(name for name in valid if name)
        raise ValueError(f"unknown {what} '{value}': use one of {names}")


def check_value(key: str, value: str) -> None:
    """Validate a term's value; raise ValueError with a message for the user."""
    if key == "kind":
        _one_of("kind", value, KINDS)
    elif key == "has":
        _one_of("has: flag", value, HAS_FLAGS)
    elif key == "missing":
        _one_of("missing: value", value, BOOL_VALUES)  # "" = true
    elif key == "size":
        size_range(value)
    elif key == "taken":
        if month_day_range(value) is None:
            taken_range(value)
    elif key == "ext":
        normalize_ext(value)
    elif key == "id":
        normalize_id(value)


# -- tokenizer ---------------------------------------------------------------


def tokenize(query: str) -> list[Token]:
    """Split ``query`` into tokens; raise QueryError for lexical and value errors.

    Words run to whitespace. A ``)`` ends a word unless the word opened a ``(``
    itself, so ``(a OR b)`` groups while ``path:img(1).jpg`` stays one word.
    Double quotes may appear anywhere in a word and only protect spaces,
    parentheses, ``OR``, ``-`` and ``key:`` from interpretation; ``\\"`` is a
    literal quote inside them.
    """
    tokens: list[Token] = []
    n = len(query)
    i = 0
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            tokens.append(Token(LPAREN, i, c))
            i += 1
            continue
        if c == ")":
            tokens.append(Token(RPAREN, i, c))
            i += 1
            continue
        if c == "-":
            if i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")":
                tokens.append(Token(NOT, i, c))
                i += 1
                continue
            raise QueryError(
                "'-' must be directly followed by the term to exclude, e.g. -kind:video"
                ' (quote it to search for a dash: "-")',
                query,
                i,
                c,
            )
        i = _word(query, i, tokens)
    return tokens


def _word(query: str, start: int, tokens: list[Token]) -> int:
    """Scan one word starting at ``start``, append its token, return the end offset."""
    n = len(query)
    chars: list[str] = []
    quoted = False  # any quoted segment so far
    colon = -1  # index in ``chars`` of the key separator, if the word is a term
    depth = 0  # parentheses opened inside this word
    i = start
    while i < n:
        c = query[i]
        if c == '"':
            j = i + 1
            while j < n and query[j] != '"':
                if query[j] == "\\" and j + 1 < n and query[j + 1] in '"\\':
                    j += 1
                chars.append(query[j])
                j += 1
            if j >= n:
                raise QueryError(
                    'unterminated quote: add the closing "', query, start, query[start:]
                )
            quoted = True
            i = j + 1
            continue
        if c.isspace():
            break
        if c == "(":
            if not quoted and i > start and query[start:i] in ("OR", "AND"):
                break  # "OR(": the operator, then a group
            depth += 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        elif c == ":" and colon < 0 and not quoted:
            colon = len(chars)
        chars.append(c)
        i += 1
    text = query[start:i]
    word = "".join(chars)

    if not quoted and word in ("OR", "AND"):
        tokens.append(Token(word, start, text))
        return i

    key = ""
    value = word
    if colon > 0 and _KEY_RE.match(word[:colon]):
        key = word[:colon].lower()
        value = word[colon + 1 :]
        spec = None
        if key not in KEYS:
            from mstore.query.terms import lookup, specs

            spec = lookup(key)
            if spec is None:
                import difflib  # only on this error path: it is slow to import

                keys = [*KEYS, *(s.key for s in specs())]
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise QueryError(
                    f"unknown key '{word[:colon]}': {hint}keys are {', '.join(keys)}"
                    f' (quote the word to search for it literally: "{word}")',
                    query,
                    start,
                    text,
                )
        empty_ok = spec.empty_ok if spec is not None else KEYS[key]
        if not value.strip() and not empty_ok:
            raise QueryError(f"{key}: needs a value", query, start, text)
        try:
            if spec is None:
                check_value(key, value)
            elif spec.check is not None:
                spec.check(value)
        except ValueError as e:
            raise QueryError(str(e), query, start, text) from None
    elif not word.strip():
        raise QueryError("empty search text", query, start, text)
    tokens.append(Token(WORD, start, text, key, value))
    return i
