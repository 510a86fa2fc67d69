"""``mstore ui`` as a real server over a socket: oversize requests get a status (414,
431, 400), read to the end without a connection reset; Host names it does not serve are
refused; nothing puts a traceback in its output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mstore.ui.server import MAX_HEAD, MAX_REQUEST_LINE
from tests.helpers import mstore
from tests.integration.ui_fuzz import Fuzzer
from tests.integration.ui_server import UiServer

LOCAL = b"Host: localhost:8765\r\nConnection: close\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    base = tmp_path_factory.mktemp("uiserver")
    (base / "archive" / "2019").mkdir(parents=True)
    (base / "archive" / "2019" / "notes.txt").write_text("vacation notes\n")
    store = base / "st"
    assert mstore("init", "--store", store, base / "archive").code == 0
    assert mstore("add", store=store).code == 0
    ui = UiServer(store, "--allow-host", "photos.lan")
    try:
        yield ui
    finally:
        ui.stop()
        assert "Traceback" not in ui.output(), ui.output()


def get(target: bytes, headers: bytes = LOCAL) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + headers + b"\r\n"


def test_a_long_request_line_gets_414(server: UiServer) -> None:
    for n in (MAX_REQUEST_LINE + 1, 1 << 20, 4 << 20):  # 1 MB and 4 MB queries
        status, answer = server.raw(get(b"/?q=" + b"a" * n))
        assert status == 414, answer[:200]
        assert b"request line is over" in answer
    # just under the limit: answered by the app
    status, answer = server.raw(get(b"/?q=" + b"a" * (MAX_REQUEST_LINE - 100)))
    assert status == 200 and b"0 matches" in answer


def test_oversize_headers_get_431(server: UiServer) -> None:
    big = b"X-Big: " + b"a" * (MAX_HEAD + 1) + b"\r\n"
    many = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 40) for i in range(MAX_HEAD // 40))
    for extra in (big, many, b"Cookie: " + b"c=1; " * (1 << 18) + b"\r\n"):
        status, answer = server.raw(get(b"/", LOCAL + extra))
        assert status == 431, answer[:200]
    status, _ = server.raw(get(b"/healthz", LOCAL + b"X-Big: " + b"a" * 60_000 + b"\r\n"))
    assert status == 200


def test_a_huge_form_field_is_refused_without_a_reset(server: UiServer) -> None:
    """A 2 MB query posted in a form: a 4xx page, the rest of the body read and dropped."""
    body = b"csrf=x&name=big&query=" + b"a" * (2 << 20)
    status, answer = server.raw(
        b"POST /collections/create HTTP/1.1\r\n" + LOCAL
        + b"Content-Type: application/x-www-form-urlencoded\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert status == 400 and b"maximum size" in answer


def test_deep_query_is_a_400_page(server: UiServer) -> None:
    status, answer = server.raw(get(b"/?q=" + b"%28" * 3000 + b"a" + b"%29" * 3000))
    assert status == 400 and b"nested more than 100 deep" in answer


def test_only_its_host_names_are_served(server: UiServer) -> None:
    for host in (b"evil.example", b"evil.example:8765", b"photos.lan.evil.example"):
        status, answer = server.raw(get(b"/", b"Host: " + host + b"\r\nConnection: close\r\n"))
        assert status == 400 and b"csrf" not in answer and b"set-cookie" not in answer.lower()
    for host in (b"photos.lan", b"photos.lan:8765", b"127.0.0.1", b"[::1]:1"):
        status, answer = server.raw(get(b"/", b"Host: " + host + b"\r\nConnection: close\r\n"))
        assert status == 200 and b'name="csrf"' in answer
    status, _ = server.raw(get(b"/", b"Connection: close\r\n"))  # no Host at all (HTTP/1.1)
    assert status == 400
    status, _ = server.raw(b"GET / HTTP/1.0\r\n\r\n")  # nor in HTTP/1.0
    assert status == 400


def test_keep_alive_requests_after_a_big_one(server: UiServer) -> None:
    """The limits apply per request on a kept-alive connection, not to its whole stream."""
    keep = b"Host: localhost\r\n"
    one = get(b"/healthz?pad=" + b"p" * 50_000, keep)
    status, answer = server.raw(one * 3 + get(b"/healthz", LOCAL))
    assert status == 200 and answer.count(b"HTTP/1.1 200") == 4


def test_hostile_requests_over_the_socket(server: UiServer) -> None:
    """A seeded sample of the fuzzer's requests (see test_ui's in-process run over every
    one) through uvicorn itself: its percent-decoding, its limits, the event stream.
    Without the CSRF token, so no button's command is started."""
    import random

    from mstore.ui.app import create_app

    requests = list(Fuzzer(create_app(server.store), seed=8).requests())
    problems = []
    for req in random.Random(8).sample(requests, 400):
        head = (f"{req.method} {req.target} HTTP/1.1\r\n".encode()
                + LOCAL + (f"Content-Type: {req.content_type}\r\n".encode("latin-1")
                           if req.content_type else b"")
                + b"Content-Length: %d\r\n\r\n" % len(req.body))
        try:
            status, answer = server.raw(head + req.body, stop_at_stream=True)
        except OSError as e:
            problems.append(f"{req.show()}: {e!r}")
            continue
        if status >= 500:
            problems.append(f"{req.show()}: {status}")
    assert not problems, "\n".join(problems[:10])
    assert "Traceback" not in server.output()


def test_server_limits_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    assert "414" in doc and "431" in doc and f"{MAX_REQUEST_LINE // 1024} KiB" in doc
