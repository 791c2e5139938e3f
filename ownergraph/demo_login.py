"""Demo sign-in: a pick-list of the demo users that issues a token with one click.

For trying the API on one's own machine (`make run`), in GraphiQL and the dashboard alike.
It exists only when `OWNERGRAPH_DEMO_LOGIN=true`, the server listens on a loopback address
and it is not in production (Settings.demo_login_enabled); otherwise its routes are not
there at all (404) and nothing but the CLI and `issueApiToken` issues tokens.

    GET  /demo-login            -> {"users": [{"email", "name", "role"}, ...]}
    POST /demo-login {"email"}  -> {"token": "..."}   (same-origin pages only)
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from db.models import User
from ownergraph.seed import USERS
from resolvers.context import Services, context_for_operator
from resolvers.tokens import issue_api_token

PATH = "/demo-login"
DEMO_EMAILS = tuple(user[0] for user in USERS)
TOKEN_LIFETIME = timedelta(hours=12)


def _refused(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class DemoLogin:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _demo_users(self) -> list[User]:
        async with self.services.db.read() as session:
            found = await session.execute(
                select(User).where(col(User.email).in_(DEMO_EMAILS), col(User.active))
            )
            users = {user.email: user for user in found.scalars()}
        return [users[email] for email in DEMO_EMAILS if email in users]

    async def users(self, request: Request) -> JSONResponse:
        listed = [
            {"email": u.email, "name": u.name, "role": str(getattr(u.role, "value", u.role))}
            for u in await self._demo_users()
        ]
        return JSONResponse({"users": listed}, headers={"cache-control": "no-store"})

    async def issue(self, request: Request) -> JSONResponse:
        # A page of another origin must not mint tokens even where CORS would let it read.
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return _refused("Demo sign-in is for pages of this server only.", 403)
        try:
            body = await request.json()
        except ValueError:
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        user = next((u for u in await self._demo_users() if u.email == email), None)
        if user is None:
            return _refused("Pick one of the demo users GET /demo-login lists.", 400)
        ctx = context_for_operator(self.services)
        try:
            issued = await issue_api_token(
                ctx,
                scopes=["*"],
                user_id=user.id,
                expires_at=ctx.now() + TOKEN_LIFETIME,
            )
        finally:
            await ctx.close()
        return JSONResponse({"token": issued.token}, headers={"cache-control": "no-store"})

    def routes(self) -> list[Route]:
        if not self.services.settings.demo_login_enabled:
            return []
        return [
            Route(PATH, self.users, methods=["GET"]),
            Route(PATH, self.issue, methods=["POST"]),
        ]
