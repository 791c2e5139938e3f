"""The language of every answer: chosen once per HTTP request or WebSocket connection
from its `Accept-Language` header (the upgrade request's, for a socket), else the
`default_locale` setting. Messages are rendered in it by kernel/messages.py."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from kernel.messages import negotiate, speaking


class Language:
    def __init__(self, app: ASGIApp, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"), None
        )
        # Tasks started below (subscriptions, a socket's operations) inherit the locale.
        with speaking(negotiate(header, self.default)):
            await self.app(scope, receive, send)
