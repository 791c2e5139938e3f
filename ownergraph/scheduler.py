"""The background loop: runs the set-based jobs of db/jobs.py every
`settings.scheduler_interval_seconds` (zero or less: never).

Every worker runs the loop; on PostgreSQL an advisory lock lets one worker at a time do
the work, the others skip that round. Tests call `run_jobs_once` with a frozen clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db import jobs
from db.outbox import take_messages
from resolvers.context import Services

log = logging.getLogger("ownergraph.scheduler")


@dataclass(frozen=True)
class JobReport:
    recycled: int = 0
    warned: int = 0
    reminded: int = 0
    fired: int = 0
    skipped: bool = False


async def run_jobs_once(services: Services, now: datetime | None = None) -> JobReport:
    """Recycle in one write transaction, then warn, remind and fire in a second (so the
    event-order lock is not held while reminders are written); publish after each commit."""
    now = now or services.clock.now()
    settings = services.settings
    async with _job(services) as session:
        if session is None:
            return JobReport(skipped=True)
        recycled = await jobs.recycle(session, now=now, recycle_days=settings.recycle_days)
    async with _job(services) as session:
        if session is None:
            return JobReport(recycled=recycled, skipped=True)
        return JobReport(
            recycled=recycled,
            warned=await jobs.warn_before_recycle(
                session,
                now=now,
                recycle_days=settings.recycle_days,
                warning_days=settings.recycle_warning_days,
            ),
            reminded=await jobs.remind_due_follow_ups(session, now=now),
            fired=await jobs.fire_due_reminders(session, now=now),
        )


@contextlib.asynccontextmanager
async def _job(services: Services) -> AsyncIterator[AsyncSession | None]:
    """A write transaction holding the job lock (None: another worker has it); what it
    queued is published after it commits."""
    async with services.db.write() as session:
        async with session.begin():
            if not await jobs.take_job_lock(session):
                yield None
                return
            yield session
            messages = take_messages(session)
    for channel, message in messages:
        await services.bus.publish(channel, message)


class Scheduler:
    """`start()` in the app's lifespan, `await stop()` on the way out."""

    def __init__(
        self, services: Services, on_report: Callable[[JobReport | None], None] | None = None
    ) -> None:
        self.services = services
        # Told each round's report (None: the round failed), e.g. for metrics.
        self._on_report = on_report or (lambda _: None)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Scheduler:
        if self._task is None and self.services.settings.scheduler_interval_seconds > 0:
            self._task = asyncio.create_task(self._loop(), name="ownergraph-scheduler")
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        interval = self.services.settings.scheduler_interval_seconds
        while True:
            try:
                report = await run_jobs_once(self.services)
                self._on_report(report)
                if report.recycled or report.fired:
                    log.info("scheduled jobs: %s", report)
            except Exception:
                self._on_report(None)
                log.exception("scheduled jobs failed; trying again in %s s", interval)
            await asyncio.sleep(interval)
