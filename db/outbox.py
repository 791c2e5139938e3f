"""Messages a transaction wants published once it commits.

Repository code queues them on the session; the request context publishes them to the
bus after a successful commit and drops them on rollback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

KEY = "outbox"


def queue_message(session: AsyncSession, channel: str, message: dict[str, Any]) -> None:
    session.info.setdefault(KEY, []).append((channel, message))


def take_messages(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    return session.info.pop(KEY, [])
