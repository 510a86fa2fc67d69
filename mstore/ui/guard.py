"""The UI's guard: the token (off loopback), the session cookie CSRF tokens hang on, and
the security headers every response gets.

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

TOKEN_COOKIE = "mstore_token"
SESSION_COOKIE = "mstore_session"
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; "
       "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


class Guard:
    """Pure ASGI middleware (it must not buffer the event stream)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and self.token is not None and hmac.compare_digest(
            value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        req = Request(scope)
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
