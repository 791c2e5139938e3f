"""Which browser origins may use the API: one policy for CORS and for WebSocket upgrades.

Browsers apply CORS to HTTP calls but not to WebSocket handshakes, so the same list has to
be enforced twice: by Starlette's CORSMiddleware and by the GraphQL view's origin check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from strawberry.http.websocket_origin import normalize_allowed_origins, normalize_origin

from kernel.settings import Settings

# Any port on the loopback names: a frontend's dev server (Vite 5173, Next 3000, ...).
LOCALHOST = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
# What a browser page may send and read beyond the CORS-safelisted headers.
REQUEST_HEADERS = ["authorization", "content-type", "accept", "accept-language", "x-request-id"]
EXPOSED_HEADERS = ["x-request-id", "retry-after"]


@dataclass(frozen=True)
class OriginPolicy:
    origins: frozenset[str]
    pattern: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> OriginPolicy:
        if settings.allowed_origins is not None:
            return cls(normalize_allowed_origins(settings.allowed_origins))
        return cls(frozenset(), None if settings.production else LOCALHOST)

    def allows(self, origin: str) -> bool:
        if "*" in self.origins:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        if normalized in self.origins:
            return True
        return self.pattern is not None and re.fullmatch(self.pattern, normalized) is not None

    def cors(self) -> Middleware:
        # Tokens travel in the Authorization header, never in cookies: no credentials mode,
        # so even "*" lends no ambient authority to a foreign page.
        return Middleware(
            CORSMiddleware,
            allow_origins=sorted(self.origins),
            allow_origin_regex=self.pattern,
            allow_methods=["GET", "POST"],
            allow_headers=REQUEST_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
