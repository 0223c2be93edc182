"""The guard in front of every HTTP request (docs/security.md "Browsers"): no cross-site writes, no DNS rebinding.

- `Host` must name this simulator: localhost, 127.0.0.1, ::1, the bind host, the public URL's host, or one of
  `SIMULATOR_ALLOWED_HOSTS` (`*` = any) — else 400. A page on a rebound name never reaches the simulator.
- A state-changing request (POST, PUT, PATCH, DELETE) from a browser on another origin is refused (403): an
  `Origin` that is not this simulator's (another port of 127.0.0.1 is another origin), `Origin: null`, or
  `Sec-Fetch-Site` `cross-site`/`same-site`. Programs (SOAP clients, curl, the CLI) send neither and pass.
- A state-changing `/ui/…` request (the UI's forms) carries a CSRF token (form field `csrf_token` or header
  `X-CSRF-Token`): an HMAC, keyed with the admin token, of a random value in the HTTP-only, SameSite=Strict cookie
  `simulator_csrf` (set with the first page that renders a form) — else 403.
- `POST /beskedfordeler/afsend` takes only XML (`application/xml`, `text/xml`; 415 otherwise); the SOAP services
  take only `text/xml` (the pipeline's SP-103 fault, simulator.soap.envelope.check_media_type).
- The UI's answers carry a Content-Security-Policy without inline script (inline style is allowed: the scenario
  reports have it), `frame-ancestors 'self'` (the UI frames its own reports; no other site may frame it),
  `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`.

The login cookie is not the admin token: `session_value` is a random value with its HMAC under the token, so the
cookie reveals nothing and dies when the token changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import pass_context
from markupsafe import Markup, escape

from simulator.config import Settings

CSRF_COOKIE = "simulator_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_NEW_NONCE = "simulator.csrf_nonce"  # scope key: the nonce minted for this response's cookie
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_MAX_BYTES = 1024 * 1024
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
XML_MEDIA = {"/beskedfordeler/afsend": ("application/xml", "text/xml")}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)
ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


# -- the admin session and the CSRF token ------------------------------------------------------------------


def _mac(key: str, purpose: str, nonce: str) -> str:
    return hmac.new(key.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()


def session_value(admin_token: str) -> str:
    """A fresh login cookie: `<random>.<HMAC-SHA256(admin token, random)>`."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_mac(admin_token, 'session', nonce)}"


def session_valid(value: str, admin_token: str) -> bool:
    """Was this login cookie made by `session_value` under this admin token?"""
    nonce, _, mac = value.partition(".")
    return bool(nonce and mac) and hmac.compare_digest(mac, _mac(admin_token, "session", nonce))


def _csrf_nonce(scope: dict) -> str:
    """The browser's CSRF cookie, or one minted now (sent with this response)."""
    for name, value in _cookies(scope):
        if name == CSRF_COOKIE and value:
            return value
    if _NEW_NONCE not in scope:
        scope[_NEW_NONCE] = secrets.token_urlsafe(18)
    return scope[_NEW_NONCE]


def csrf_token_for(scope: dict, settings: Settings) -> str:
    """The token a form of this page must send back (field `csrf_token`)."""
    return _mac(settings.admin_token or "", "csrf", _csrf_nonce(scope))


@pass_context
def csrf_field(context: Any) -> Markup:
    """`{{ csrf_field() }}` in a form: the hidden CSRF token field."""
    request = context["request"]
    token = csrf_token_for(request.scope, request.app.state.runtime.settings)
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">')


def _cookies(scope: dict):
    for k, v in scope.get("headers", ()):
        if k == b"cookie":
            for part in v.decode("latin-1").split(";"):
                name, _, value = part.strip().partition("=")
                yield name, value


# -- the middleware ----------------------------------------------------------------------------------------


def host_name(value: str) -> str:
    """The host of a `Host` header or URL netloc, lower-case, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The names `Host` may carry (None = any)."""
    extra = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    if "*" in extra:
        return None
    names = {*LOCAL_HOSTS, *(host_name(h) for h in extra)}
    if settings.host not in ("0.0.0.0", "::", ""):
        names.add(host_name(settings.host))
    if settings.public_url:
        names.add(host_name(urlsplit(settings.public_url).netloc))
    return frozenset(names)


def _origin(scheme: str, netloc: str) -> str:
    netloc = netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{scheme.lower()}://{netloc}"


class Guard:
    """ASGI middleware applying the rules of the module docstring to every HTTP request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = allowed_hosts(settings)
        public = urlsplit(settings.public_url) if settings.public_url else None
        self.public_origin = _origin(public.scheme, public.netloc) if public and public.netloc else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if host is not None and self.hosts is not None and host_name(host) not in self.hosts:
            return await _refuse(
                send, 400, f"Host {host!r} is not a name of this simulator: add it to SIMULATOR_ALLOWED_HOSTS"
            )
        path: str = scope.get("path", "")
        if scope["method"] in UNSAFE:
            reason = self._foreign(scope, headers)
            if reason:
                return await _refuse(send, 403, f"cross-site request refused: {reason}")
            media = XML_MEDIA.get(path)
            content_type = headers.get("content-type")
            if media and content_type is not None and content_type.split(";")[0].strip().lower() not in media:
                return await _refuse(send, 415, f"{path} takes {' or '.join(media)}, not {content_type!r}")
            if path.startswith("/ui/"):
                receive = await self._check_csrf(scope, headers, receive, send)
                if receive is None:
                    return None
        if path.startswith("/service/"):
            return await self.app(scope, receive, send)
        await self.app(scope, receive, self._with_headers(scope, path, send))

    def _foreign(self, scope: dict, headers: dict[str, str]) -> str | None:
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return f"Sec-Fetch-Site: {site}"
        origin = headers.get("origin")
        if origin is None:
            return None
        parts = urlsplit(origin)
        own = {_origin(scope.get("scheme", "http"), headers.get("host", "")), self.public_origin}
        if origin == "null" or not parts.netloc or _origin(parts.scheme, parts.netloc) not in own:
            return f"Origin {origin!r} is not this simulator"
        return None

    async def _check_csrf(self, scope: dict, headers: dict[str, str], receive: Callable, send: Callable):
        """The request's receive (replaying the body read here) when its CSRF token is right, else None (refused)."""
        body = b""
        if headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > FORM_MAX_BYTES:
                    await _refuse(send, 413, "form too large")
                    return None
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            given = (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [""])[-1]
        else:
            given = headers.get(CSRF_HEADER, "")
        has_cookie = any(name == CSRF_COOKIE and value for name, value in _cookies(scope))
        if not has_cookie or not hmac.compare_digest(given.encode(), csrf_token_for(scope, self.settings).encode()):
            await _refuse(send, 403, "the form's CSRF token is missing or stale: reload the page and send it again")
            return None
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _with_headers(self, scope: dict, path: str, send: Callable) -> Callable:
        secure = scope.get("scheme") == "https"

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"SAMEORIGIN"),
                    (b"content-security-policy", CSP.encode()),  # /docs too: its assets are local
                ]
                nonce = scope.get(_NEW_NONCE)
                if nonce:
                    cookie = f"{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict{'; Secure' if secure else ''}"
                    extra.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped


async def _refuse(send: Callable, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})
