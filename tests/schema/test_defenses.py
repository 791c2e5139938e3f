"""With introspection off, the schema cannot be mapped: no introspection, no suggestions."""

from __future__ import annotations

from pathlib import Path

import httpx

from kernel.settings import Settings
from ownergraph.app import create_app
from tests.conftest import SECRET, Api, errors_of


async def test_introspection_off_hides_the_schema(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    token = await api.token("alice@demo.test")
    settings = Settings(
        database_url=database_url, jwt_secret=SECRET, data_dir=tmp_path, introspection=False
    )
    app = create_app(settings, clock=api.services.clock)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            headers = {"authorization": f"Bearer {token}"}
            body = (
                await client.post(
                    "/graphql", json={"query": "{ __schema { types { name } } }"}, headers=headers
                )
            ).json()
            assert body.get("errors") and not body.get("data")
            body = (
                await client.post("/graphql", json={"query": "{ customr { id } }"}, headers=headers)
            ).json()
            assert "Did you mean" not in body["errors"][0]["message"]
            assert (
                await client.get("/graphql", headers={"accept": "text/html"})
            ).status_code != 200
    finally:
        await app.state.services.db.dispose()
    # With it on (the default), suggestions help developers.
    body = await api.gql("{ customr { id } }", token=token)
    assert "Did you mean" in body["errors"][0]["message"]
    assert errors_of(body) == ["GRAPHQL_VALIDATION_FAILED"]
