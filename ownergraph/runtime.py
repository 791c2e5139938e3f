"""Process settings for serving: the garbage collector tuned for a server.

A GraphQL response allocates many short-lived containers; with the default thresholds
(700, 10, 10) the collector ran thousands of young collections per minute and repeatedly
re-scanned the long-lived objects of the app (schema, SQLAlchemy metadata, policy), up to
40% of CPU. After start-up those are moved to a permanent generation (`gc.freeze`), and
the young generation is allowed to grow a little before a collection (reference counting
frees almost everything a request builds; a much larger young generation costs more per
collection than it saves: 50,000 measured worse than the default).
"""

from __future__ import annotations

import gc

# `python -m bench.profile --thresholds …` (dashboard, in process, frozen start-up), GC share
# of CPU: 700/10/10 4.1%, 2000/10/10 2.7%, 5000/10/10 3.2-5.0%, 10000/10/10 7.0%,
# 50000/20/100 9-12.6%; without the freeze 6.5% (2 shared CPUs, noisy).
THRESHOLDS = (2_000, 10, 10)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
