"""The live ownership dashboard at /dashboard: a page of this server built only on the
public GraphQL API (queries over HTTP, subscriptions over graphql-transport-ws).

Its own HTML, CSS and ES modules are web/dashboard/app (committed, no bundler). The two
libraries it uses, graphql-ws's client and uPlot, come from the npm registry (pinned by
web/dashboard/package-lock.json, installed by `make dashboard` and the Dockerfile into the
git-ignored node_modules) and are served under a content hash with a year-long cache;
when they are missing the page says how to install them.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).resolve().parent.parent / "web" / "dashboard"
APP = ROOT / "app"
NODE_MODULES = ROOT / "node_modules"
PREFIX = "/dashboard/"
# Public name -> file under node_modules: only these are served.
VENDORED = {
    "graphql-ws.js": "graphql-ws/umd/graphql-ws.min.js",
    "uplot.js": "uplot/dist/uPlot.iife.min.js",
    "uplot.css": "uplot/dist/uPlot.min.css",
}
VENDOR_CACHE = "public, max-age=31536000, immutable"
# Nothing from elsewhere; the API and its WebSocket are this server ('self').
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class OwnCode(StaticFiles):
    """The page's own modules: revalidated on every load (ETag), so an upgrade shows."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["cache-control"] = "no-cache"
        return response


class DashboardPage:
    def __init__(self, node_modules: Path = NODE_MODULES) -> None:
        self.files = {name: node_modules / path for name, path in VENDORED.items()}

    @property
    def installed(self) -> bool:
        return all(path.is_file() for path in self.files.values())

    @cached_property
    def versions(self) -> dict[str, str]:
        """A short content hash per vendored file: its URL changes when the file does."""
        return {
            name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for name, path in self.files.items()
        }

    async def page(self, request: Request) -> Response:
        if not self.installed:
            return HTMLResponse((APP / "missing.html").read_text(), status_code=503)
        page = (APP / "index.html").read_text()
        for name, version in self.versions.items():
            page = page.replace(f"{{vendor:{name}}}", f"{PREFIX}vendor/{version}/{name}")
        headers = {"content-security-policy": CSP, "cache-control": "no-cache"}
        return HTMLResponse(page, headers=headers)

    async def vendored(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = self.files.get(name)
        if path is None or not path.is_file():
            return PlainTextResponse("Not found", status_code=404)
        if request.path_params["version"] != self.versions[name]:
            return PlainTextResponse("Not found", status_code=404)
        return FileResponse(path, headers={"cache-control": VENDOR_CACHE})

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/dashboard", self.page),
            Route(PREFIX, self.page),
            Route(PREFIX + "vendor/{version}/{name}", self.vendored),
            Mount(PREFIX + "app", OwnCode(directory=APP)),
        ]
