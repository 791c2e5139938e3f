"""The background loop: runs the set-based jobs of db/jobs.py every
`settings.scheduler_interval_seconds` (zero or less: never).

Every worker runs the loop; on PostgreSQL an advisory lock lets one worker at a time do
the work, the others skip that round. Tests call `run_jobs_once` with a frozen clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import escalation, jobs, tally
from db.outbox import take_messages
from db.pools import load_pools
from resolvers.context import Services

log = logging.getLogger("ownergraph.scheduler")


@dataclass(frozen=True)
class JobReport:
    recycled: int = 0
    warned: int = 0
    reminded: int = 0
    fired: int = 0
    expired: int = 0  # collaborators removed at their expiry
    escalated: int = 0  # overdue follow-ups escalated to a manager
    released: int = 0  # customers sent to the pool for an overdue follow-up
    skipped: bool = False


async def run_jobs_once(services: Services, now: datetime | None = None) -> JobReport:
    """Each job in batches of `settings.job_batch_size` rows, one write transaction per
    batch (so the event-order lock and SQLite's write lock are held briefly), repeated
    while a whole batch was due; what each batch queued is published after it commits.
    Expired collaborators go first, then recycling, so the warnings and reminders see
    the customers it moved."""
    now = now or services.clock.now()
    settings = services.settings
    limit = settings.job_batch_size
    steps: dict[str, Callable[[AsyncSession], Awaitable[int]]] = {
        "expired": lambda s: jobs.remove_expired_collaborators(s, now=now, limit=limit),
        "recycled": lambda s: _with_pools(s, settings, jobs.recycle, now=now, limit=limit),
        "warned": lambda s: _with_pools(
            s, settings, jobs.warn_before_recycle, now=now, limit=limit
        ),
        "reminded": lambda s: jobs.remind_due_follow_ups(s, now=now, limit=limit),
        "escalated": lambda s: escalation.escalate_overdue(
            s, now=now, after_days=settings.escalate_after_days, limit=limit
        ),
        "fired": lambda s: jobs.fire_due_reminders(s, now=now, limit=limit),
    }
    if (release_after := settings.overdue_release_after_days) is not None:
        steps["released"] = lambda s: escalation.release_overdue(
            s, now=now, after_days=release_after, limit=limit
        )
        steps["fired"] = steps.pop("fired")  # last, after every job that writes reminders
    done: dict[str, int] = {}
    for name, step in steps.items():
        done[name] = 0
        while True:
            async with _job(services) as session:
                if session is None:
                    return _report(done, skipped=True)
                count = await step(session)
            done[name] += count
            if count < limit:
                break
    if sum(done.values()) >= settings.job_analyze_after_rows:
        async with _job(services) as session:
            if session is not None:  # one worker at a time, under the job lock
                await jobs.refresh_statistics(services.db)
    # After the jobs that move customers, the counts' deltas folded: one pass folds all.
    async with _job(services) as session:
        if session is not None:
            await tally.compact(session)
    return _report(done)


async def _with_pools(session: AsyncSession, settings: Any, job: Any, **kw: Any) -> int:
    """The pools and their rules as of this batch's transaction (three small reads)."""
    return int(await job(session, pools=await load_pools(session, settings), **kw))


def _report(done: dict[str, int], *, skipped: bool = False) -> JobReport:
    return JobReport(
        recycled=done.get("recycled", 0),
        warned=done.get("warned", 0),
        reminded=done.get("reminded", 0),
        fired=done.get("fired", 0),
        expired=done.get("expired", 0),
        escalated=done.get("escalated", 0),
        released=done.get("released", 0),
        skipped=skipped,
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
