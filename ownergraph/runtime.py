"""Process settings for serving: the garbage collector tuned for a server.

A GraphQL response allocates many short-lived containers; with the default thresholds
(700, 10, 10) the collector ran thousands of young collections per minute and repeatedly
re-scanned the long-lived objects of the app (schema, SQLAlchemy metadata, policy), up to
40% of CPU. After start-up those are moved to a permanent generation (`gc.freeze`), and
the young generation is allowed to grow a little before a collection (reference counting
frees almost everything a request builds; a much larger young generation costs more per
collection than it saves: 50,000 measured worse than the default).

What lives as long as a connection does (a thousand sockets, their subscriptions and
plans) ends up in the oldest generation, and every full collection walks all of it: 130
to 300 ms with the whole worker stopped, at a thousand subscribers (`python -m bench
subscribers`), each such pause a late live message for everyone. So while serving, what
has survived is frozen again every `FREEZE_SECONDS`: full collections then walk only
what is newer. Reference counting still frees frozen objects; only a reference cycle
among them would wait, so every `THAW_EVERY` freezes they are collected once in full
(one pause an hour instead of several a minute; the code breaks its cycles anyway:
tests/subscriptions/test_garbage.py).
"""

from __future__ import annotations

import asyncio
import gc

# `python -m bench.profile --thresholds …` (dashboard, in process, frozen start-up), GC share
# of CPU: 700/10/10 4.1%, 2000/10/10 2.7%, 5000/10/10 3.2-5.0%, 10000/10/10 7.0%,
# 50000/20/100 9-12.6%; without the freeze 6.5% (2 shared CPUs, noisy).
THRESHOLDS = (2_000, 10, 10)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


# A freeze is cheap (it moves lists, whatever their length); a full collection of what
# one interval left behind is short.
FREEZE_SECONDS = 5.0
THAW_EVERY = 720  # an hour


class Freezer:
    """Freezes what survived, now and then, while the app serves (see above)."""

    def __init__(self, thaw_every: int = THAW_EVERY) -> None:
        self.thaw_every = thaw_every
        self.ticks = 0

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % self.thaw_every == 0:
            gc.unfreeze()  # a cycle among what was frozen is garbage like any other
            gc.collect()
        gc.freeze()

    async def run(self, seconds: float = FREEZE_SECONDS) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.tick()
