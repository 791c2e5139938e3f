"""GraphiQL, served from this server's own files: air-gapped sites have no CDN.

The files come from the npm registry (web/graphiql, pinned by its package-lock.json,
installed by `make graphiql` and the Dockerfile, never committed); when they are missing
the page says how to install them. The page's own script is ownergraph/static/graphiql.js.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "web" / "graphiql" / "node_modules"
STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/graphiql/"
# Public name -> file under node_modules: only these are served.
VENDORED = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
}
# The browser enforces "nothing from elsewhere" too. GraphiQL styles itself inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


class GraphiQLPage:
    def __init__(self, node_modules: Path = NODE_MODULES) -> None:
        self.files = {name: node_modules / path for name, path in VENDORED.items()}
        self.files["start.js"] = STATIC / "graphiql.js"

    @property
    def installed(self) -> bool:
        return all(path.is_file() for path in self.files.values())

    def render(self) -> HTMLResponse:
        if not self.installed:
            return HTMLResponse((STATIC / "graphiql-missing.html").read_text())
        page = (STATIC / "graphiql.html").read_text().replace("{prefix}", PREFIX)
        return HTMLResponse(page, headers={"content-security-policy": CSP})

    async def asset(self, request: Request) -> Response:
        path = self.files.get(request.path_params["name"])
        if path is None or not path.is_file():
            return PlainTextResponse("Not found", status_code=404)
        return FileResponse(path, headers={"cache-control": "public, max-age=3600"})

    def routes(self) -> list[Route]:
        return [Route(PREFIX + "{name}", self.asset)]
