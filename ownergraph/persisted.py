"""Persisted queries: Apollo's automatic persisted queries (APQ), and an allow-list mode.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` and no `query`; a
hash the server does not know answers PERSISTED_QUERY_NOT_FOUND (message
"PersistedQueryNotFound", uncached), and the client sends the query with its hash once to
register it: the hash is checked against the text, and only a document that parses and
validates is stored. Short hash-only requests can then go by GET, where a CDN may cache
them (GET runs queries only). The store is the database (db/persisted.py), so every
worker and host sees a registration made through any of them.

With `OWNERGRAPH_PERSISTED_ONLY=true` nothing is registered at run time: an operation runs
only if its text is on the list loaded by `ownergraph persisted-queries load`, whether the
client sends its hash, its text or both. The same rules hold over HTTP and WebSocket.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, GraphQLSchema, parse, validate

from db.engine import Database
from db.persisted import add_bodies, find_body
from kernel.clock import Clock
from kernel.errors import BadRequest, PersistedQueryNotFound, PersistedQueryNotInList
from kernel.messages import N_
from kernel.settings import Settings
from schema.limits import expanded_size

HASH = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_FORMAT = "apollo-persisted-query-manifest"


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _not_listed() -> PersistedQueryNotInList:
    return PersistedQueryNotInList(
        N_(
            "This server runs only operations registered in advance "
            "(`ownergraph persisted-queries load`); this one is not."
        )
    )


class PersistedQueries:
    """Turns a request's `query` and `extensions` into the text to run, registering or
    refusing as the protocol and the mode say. Found texts are kept in memory (a hash
    always names the same text); misses are always asked of the database."""

    def __init__(
        self, db: Database, schema: GraphQLSchema, clock: Clock, settings: Settings
    ) -> None:
        self.db = db
        self.schema = schema
        self.clock = clock
        self.only = settings.persisted_only
        self.max_tokens = settings.max_tokens
        self.max_selections = settings.max_selections
        self.cache_size = settings.persisted_cache_size
        self._found: dict[str, str] = {}

    async def resolve(self, query: str | None, extensions: object) -> str | None:
        """The text to execute, or None when the request has none (the caller's error)."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if self.only and query is not None and await self.body(sha256_of(query)) is None:
                raise _not_listed()
            return query
        sha = self._hash_of(persisted)
        if query is None:
            body = await self.body(sha)
            if body is None:
                raise _not_listed() if self.only else PersistedQueryNotFound()
            return body
        if sha256_of(query) != sha:
            raise BadRequest(
                N_(
                    "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query's "
                    "UTF-8 text (lower-case hex)."
                )
            )
        if await self.body(sha) is None:
            if self.only:
                raise _not_listed()
            if self._valid(query):
                await self.add({sha: (query, None)}, source="registered")
        return query

    @staticmethod
    def _hash_of(persisted: object) -> str:
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise BadRequest(N_("Unsupported persisted query version: send `version: 1`."))
        sha = persisted.get("sha256Hash")
        if not isinstance(sha, str) or not HASH.match(sha):
            raise BadRequest(
                N_("`extensions.persistedQuery.sha256Hash` must be 64 lower-case hex digits.")
            )
        return sha

    def _valid(self, query: str) -> bool:
        """Only a document that would run is stored (its errors reach the client anyway)."""
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return False
        if expanded_size(document).size > self.max_selections:
            return False
        return not validate(self.schema, document)

    async def body(self, sha: str) -> str | None:
        body = self._found.get(sha)
        if body is None:
            async with self.db.read() as session:
                body = await find_body(session, sha)
            if body is not None:
                self._remember(sha, body)
        return body

    def _remember(self, sha: str, body: str) -> None:
        if len(self._found) >= self.cache_size:
            self._found.pop(next(iter(self._found)))
        self._found[sha] = body

    async def add(self, bodies: Mapping[str, tuple[str, str | None]], *, source: str) -> int:
        async with self.db.write() as session, session.begin():
            added = await add_bodies(session, bodies, source=source, now=self.clock.now())
        return added


class ManifestError(ValueError):
    """The file is not a manifest this server reads; the message says what is wrong."""


def read_manifest(text: str) -> dict[str, tuple[str, str | None]]:
    """`{sha256: (body, name)}` from an Apollo persisted-query manifest
    (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{id,
    name, type, body}]}`) or a plain `{sha256: body}` map. Every hash is checked."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict):
        raise ManifestError("expected a JSON object")
    entries: list[tuple[object, object, object]]
    if data.get("format") == MANIFEST_FORMAT:
        if data.get("version") != 1:
            raise ManifestError(f"{MANIFEST_FORMAT} version {data.get('version')!r}: expected 1")
        operations = data.get("operations")
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise ManifestError("`operations` must be a list of {id, name, type, body} objects")
        entries = [(o.get("id"), o.get("body"), o.get("name")) for o in operations]
    else:
        entries = [(sha, body, None) for sha, body in data.items()]
    found: dict[str, tuple[str, str | None]] = {}
    problems: list[str] = []
    for sha, body, name in entries:
        label = f"{name} ({sha})" if name else str(sha)
        if not isinstance(sha, str) or not isinstance(body, str):
            problems.append(f"{label}: the id and the body must be strings")
        elif sha256_of(body) != sha.lower():
            problems.append(f"{label}: the id is not the SHA-256 of the body")
        else:
            found[sha.lower()] = (body, name if isinstance(name, str) else None)
    if problems:
        raise ManifestError("; ".join(problems))
    return found


def invalid_operations(
    schema: GraphQLSchema, bodies: Mapping[str, tuple[str, str | None]]
) -> list[str]:
    """Why each listed operation would not run against `schema` (empty when all would)."""
    problems: list[str] = []
    for sha, (body, name) in bodies.items():
        try:
            errors = validate(schema, parse(body))
        except GraphQLError as exc:
            errors = [exc]
        if errors:
            problems.append(f"{name or sha}: {errors[0].message}")
    return problems
