"""The UI's guard: the Host allow-list, the token (off loopback), the session cookie CSRF
tokens hang on, the Origin of unsafe requests, and the security headers every response gets.

The Host check defeats DNS rebinding: a page of ``evil.example`` whose name is made to
resolve to 127.0.0.1 reaches the UI with ``Host: evil.example``; it is refused before any
page (or CSRF token) is produced. The port is not checked (an ssh or container port
forward changes it); an IP literal cannot be rebound, so a UI bound to every address
(``0.0.0.0``/``::``) accepts any IP literal besides the names.

Pure ASGI middleware, so it never buffers the Server-Sent Events stream.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mstore.errors import UsageError

TOKEN_COOKIE = "mstore_token"
SESSION_COOKIE = "mstore_session"
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; "
       "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# a host name, an IPv4 address or a bracketed IPv6 address, then an optional port
_NAME_RE = re.compile(r"\[[0-9a-f:.]+\]|[a-z0-9_.-]+")
_HOST_RE = re.compile(rf"({_NAME_RE.pattern})(:\d{{1,5}})?")


def host_name(bind_or_name: str) -> str:
    """How a Host header names ``bind_or_name``: lowercased, an IPv6 address in brackets."""
    name = bind_or_name.strip().lower()
    if ":" in name and not name.startswith("["):
        return f"[{name}]"
    return name


class HostRule:
    """Which ``Host`` headers the UI answers: the loopback names, the address it is bound
    to and the configured names, with any port; any IP literal when bound to all."""

    def __init__(self, bind: str, names: list[str] | tuple[str, ...] = ()) -> None:
        for name in names:
            if not _NAME_RE.fullmatch(host_name(name)):
                raise UsageError(f"'{name}' is not a host name or address (no scheme, port "
                                 "or path)")
        self.names = frozenset([*LOCAL_HOSTS, host_name(bind), *map(host_name, names)])
        self.any_ip = bind.strip() in WILDCARD_BINDS

    def allows(self, header: str) -> bool:
        m = _HOST_RE.fullmatch(header.strip().lower())
        if m is None:
            return False
        name = m.group(1)
        if name in self.names:
            return True
        if not self.any_ip:
            return False
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return name.startswith("[") == (":" in name)  # IPv6 only in brackets


def origin_authority(origin: str) -> str | None:
    """``host[:port]`` of an Origin header ("http://localhost:8765"), None if malformed."""
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
        return None
    return rest.lower()


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


class Guard:
    """Pure ASGI middleware (it must not buffer the event stream)."""

    def __init__(self, app: ASGIApp, token: str | None, hosts: HostRule) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and self.token is not None and hmac.compare_digest(
            value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        req = Request(scope)
        refusal = self._refusal(req)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        cookies: list[str] = []
        if self.token is not None:
            auth = req.headers.get("authorization", "")
            bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            ok = self._token_ok(bearer) or self._token_ok(req.cookies.get(TOKEN_COOKIE))
            qtok = req.query_params.get("token")
            if not ok and qtok is not None and self._token_ok(qtok):
                # once: set the cookie and drop the token from the address bar
                rest = [(k, v) for k, v in req.query_params.multi_items() if k != "token"]
                url = scope["path"] + (f"?{urlencode(rest)}" if rest else "")
                resp: Response = RedirectResponse(url, status_code=303)
                resp.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                await resp(scope, receive, send)
                return
            if not ok:
                resp = PlainTextResponse("unauthorized: this mstore ui needs its token",
                                         status_code=401,
                                         headers={"WWW-Authenticate": "Bearer"})
                await resp(scope, receive, send)
                return
        session = req.cookies.get(SESSION_COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", session):
            session = secrets.token_urlsafe(32)
            cookies.append(f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict")
        scope.setdefault("state", {})["session"] = session

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for c in cookies:
                    headers.append((b"set-cookie", c.encode()))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, req: Request) -> Response | None:
        """The answer to a request from a name or an origin this UI does not serve."""
        host = req.headers.get("host", "")
        if not self.hosts.allows(host):
            shown = host[:80] + ("..." if len(host) > 80 else "")
            return PlainTextResponse(
                f"host {shown!r} is not served here: open the UI at localhost, its address, "
                "or a name given with 'mstore ui --allow-host' or [ui] hosts in config.toml",
                status_code=400)
        origin = req.headers.get("origin")
        if req.method not in SAFE_METHODS and origin not in (None, "null") and (
                origin_authority(origin) != host.strip().lower()):
            return PlainTextResponse("cross-origin request refused", status_code=403)
        return None
