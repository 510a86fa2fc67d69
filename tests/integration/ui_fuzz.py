"""Hostile requests for every route of the UI, from a seeded generator (so a failure
reproduces): deep and 1 MB queries, bad ids, percent-encodings that are not UTF-8, NULs,
huge and negative numbers, long paths, markup, long and many form fields.

The routes come from the app's router and the parameter names from the app's source, so
a new route or a new field is fuzzed without touching this file.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.routing import Mount, Route

import mstore.ui

MEGA = "vacation " * ((1 << 20) // 9)  # a 1 MB query
DEEP = "(" * 3000 + "a" + ")" * 3000
HOSTILE: list[str] = [
    "", " ", "<script>alert(1)</script>", "\x00", "a\x00b", "'\"`;--", "../../etc/passwd",
    "..", "%", "\\", "é🙂", "\r\n", "\t", DEEP, "-" * 5000 + "a", "(a " * 2000,
    "a OR " * 2000 + "a", "kind:", "taken:9999-99", "size:>" + "9" * 400, "id:" + "f" * 100,
    "label:" + "k" * 5000 + "=v", "path:" + "*" * 1000, "x" * 70_000, MEGA, "-1",
    "-99999999999999999999", "9" * 30, "1e308", "nan", "inf", "0x10", "0" * 64, "f" * 64,
    "F" * 64, "r" + "9" * 300, "r2099-01-01", "image", "keep", "not-keep", "sandbox",
    "production", "/" * 300, "a/" * 2000, "\u202e", "\ufeff",
]
# already percent-encoded: bytes that are not UTF-8, a NUL, broken escapes
RAW: list[str] = ["%ff%fe", "%c0%af", "%00", "%zz", "%e2%82", "%ed%a0%80", "%2F..%2F..%2Fx",
                  "%u0041", "%", "%%32%65"]
# every field and every path parameter gets each of these (the rest come at random)
CORE: list[str] = [DEEP, MEGA, "\x00", "<script>alert(1)</script>", "9" * 30, "-1", "x" * 70_000,
                   "a/" * 2000]
CORE_RAW: list[str] = ["%ff%fe", "%ed%a0%80"]
EXTRA_FIELDS = ["m0", "m999999", "m" + "9" * 20, "k" * 5000]


@dataclass
class Request:
    method: str
    target: str  # path and query string, percent-encoded
    body: bytes = b""
    content_type: str = ""
    route: str = ""  # the route's template, for the report

    def show(self) -> str:
        t = self.target if len(self.target) < 200 else self.target[:200] + "..."
        return f"{self.method} {t} ({self.route}; body {len(self.body)} bytes)"


@dataclass
class Fuzzer:
    """``real``: values that exist in the store, by parameter name (asset ids for
    ``aid``...), mixed in so the hostile values reach past the not-found checks."""

    app: Starlette
    real: Mapping[str, list[str]] = field(default_factory=dict)
    seed: int = 8
    csrf: str = ""
    _fields: list[str] | None = field(default=None, init=False, repr=False)

    def routes(self) -> list[tuple[str, list[str], set[str]]]:
        """(path template, its parameters, its methods) of every route."""
        out = []
        for r in self.app.routes:
            if isinstance(r, Route):
                out.append((r.path, list(r.param_convertors), set(r.methods or {"GET"})))
            elif isinstance(r, Mount):
                out.append((r.path + "/{path}", ["path"], {"GET"}))
        return out

    def fields(self) -> list[str]:
        """Every name the app reads from a query string or a form: in the UI's modules
        and in the shipped tools' UI code (read from the sources once per fuzzer)."""
        if self._fields is None:
            self._fields = self._read_fields()
        return self._fields

    def _read_fields(self) -> list[str]:
        from mstore.tools.registry import BUILTIN

        ui_dir = Path(mstore.ui.__file__).parent
        sources = [*ui_dir.rglob("*.py"), *BUILTIN.glob("*/*.py")]
        src = "\n".join(p.read_text() for p in sources)
        names = set(re.findall(
            r'(?:qp|form|query|query_params)\.(?:get|number)\("([a-z_]+)"', src))
        return sorted(names) + EXTRA_FIELDS

    def value(self, rng: random.Random, name: str) -> str:
        """A percent-encoded value for ``name``: real, hostile or raw bytes."""
        roll = rng.random()
        if roll < 0.3 and self.real.get(name):
            return quote(rng.choice(self.real[name]), safe="")
        if roll < 0.45:
            return rng.choice(RAW)
        return quote(rng.choice(HOSTILE), safe="")

    def requests(self, per_route: int = 30) -> Iterator[Request]:
        """For each route: every path parameter and every field with each CORE value (the
        rest of the request real or absent), then ``per_route`` seeded random mixes."""
        rng = random.Random(self.seed)
        fields = self.fields()
        core = [quote(v, safe="") for v in CORE] + CORE_RAW
        for template, params, methods in self.routes():
            method = sorted(methods - {"HEAD"})[0]
            for p in params:
                for v in core + RAW:
                    yield self.make(method, template, params, {p: v}, {})
            for f in fields:
                for v in core:
                    yield self.make(method, template, params, {}, {f: v})
            for n in range(per_route):
                path = {p: self.value(rng, p) for p in params}
                query = {f: self.value(rng, f) for f in rng.sample(fields, rng.randint(0, 4))}
                if n % 10 == 9:  # now and then the method the route does not take
                    yield self.make("GET" if method == "POST" else "POST", template, params,
                                    path, query)
                elif method == "POST":
                    yield self.post(rng, self.target(template, params, path, {}), template,
                                    fields)
                else:
                    yield self.make(method, template, params, path, query)

    def target(self, template: str, params: list[str], path: dict[str, str],
               query: dict[str, str]) -> str:
        for p in params:
            v = path.get(p) or quote((self.real.get(p) or ["x"])[0], safe="")
            template = template.replace("{" + p + "}", v)
        qs = "&".join(f"{quote(k, safe='')}={v}" for k, v in query.items())
        return template + (f"?{qs}" if qs else "")

    def make(self, method: str, template: str, params: list[str], path: dict[str, str],
             fields: dict[str, str]) -> Request:
        """GET: ``fields`` in the query string; POST: in a form with the CSRF token and
        the first real value of every other field (so the hostile one gets through)."""
        if method != "POST":
            return Request(method, self.target(template, params, path, fields), route=template)
        names = set(self.fields())
        form = {k: quote(v[0], safe="") for k, v in self.real.items() if k in names}
        form["csrf"] = quote(self.csrf)
        form.update(fields)
        body = "&".join(f"{quote(k, safe='')}={v}" for k, v in form.items()).encode()
        return Request("POST", self.target(template, params, path, {}), body,
                       "application/x-www-form-urlencoded", template)

    def post(self, rng: random.Random, target: str, template: str,
             fields: list[str]) -> Request:
        kind = rng.randrange(4)
        if kind == 0:  # a urlencoded form with the session's CSRF token
            pairs = [("csrf", quote(self.csrf))] + [
                (quote(f, safe=""), self.value(rng, f))
                for f in rng.sample(fields, rng.randint(0, len(fields)))]
            if rng.random() < 0.1:
                pairs += [(f"m{i}", "keep") for i in range(2000)]  # many fields
            body = "&".join(f"{k}={v}" for k, v in pairs).encode()
            return Request("POST", target, body, "application/x-www-form-urlencoded",
                           template)
        if kind == 1:  # bytes that are no form at all
            body = rng.choice([b"%ff=%fe&\x00=\xff", b"\xff" * 1000, b"=&=&&=",
                               b"csrf=" + self.csrf.encode() + b"&\xff\xfe=1"])
            return Request("POST", target, body, "application/x-www-form-urlencoded",
                           template)
        if kind == 2:  # multipart with a hostile file name and a broken boundary
            body = (b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                    + self.csrf.encode() + b"\r\n--b\r\nContent-Disposition: form-data; "
                    b"name=\"query\"; filename=\"../../<x>\x00.txt\"\r\n\r\n"
                    + rng.choice(HOSTILE).encode("utf-8", "surrogatepass") + b"\r\n--b")
            return Request("POST", target, body, "multipart/form-data; boundary=b", template)
        return Request("POST", target, b'{"csrf": 1}', rng.choice(
            ["application/json", "text/plain", "multipart/form-data", "x/\x7f"]), template)
