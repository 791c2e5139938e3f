"""The app under uvicorn in this process, observable from outside (bench/subscribers.py).

    OWNERGRAPH_BENCH_REPORT=/tmp/x.jsonl python -m bench.traced PORT

With OWNERGRAPH_BENCH_TRACEMALLOC=1 tracemalloc runs from the start. SIGUSR1 appends one
JSON line to the report file: traced bytes, GC-tracked objects (frozen ones included:
the server freezes what survives, ownergraph/runtime.py) and the collector's counts;
SIGUSR2 first thaws everything and runs `gc.collect()`, and records how many unreachable
objects it found (cyclic garbage, frozen or not), and of which types.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from typing import Any

import uvicorn

# Where memory grew, by line or (OWNERGRAPH_BENCH_GROUP=filename) by file.
GROUP = os.environ.get("OWNERGRAPH_BENCH_GROUP", "lineno")


def main() -> None:
    port = int(sys.argv[1])
    report = os.environ["OWNERGRAPH_BENCH_REPORT"]
    if os.environ.get("OWNERGRAPH_BENCH_TRACEMALLOC") == "1":
        tracemalloc.start()

    previous: list[tracemalloc.Snapshot] = []

    def grown() -> list[tuple[str, float, int]] | None:
        """Where traced memory grew since the last report (file:line, KiB, blocks)."""
        if not tracemalloc.is_tracing():
            return None
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        before, previous[:] = (previous[0] if previous else None), [snapshot]
        if before is None:
            return None
        return [
            (
                f"{s.traceback[0].filename.split('site-packages/')[-1]}:{s.traceback[0].lineno}",
                round(s.size_diff / 1024, 1),
                s.count_diff,
            )
            for s in snapshot.compare_to(before, GROUP)[:40]
        ]

    def dump(collect: bool) -> None:
        found, kinds = None, None
        if collect:
            # What the collector finds, by type, kept for the report (then let go).
            gc.unfreeze()  # a cycle the server froze is garbage all the same
            gc.set_debug(gc.DEBUG_SAVEALL)
            found = gc.collect()
            kinds = Counter(type(o).__qualname__ for o in gc.garbage).most_common(12)
            gc.garbage.clear()
            gc.set_debug(0)
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        line = {
            "traced": traced,
            "objects": len(gc.get_objects()) + gc.get_freeze_count(),
            "collected": found,
            "garbage": kinds,
            "counts": gc.get_count(),
            "grew": grown(),
        }
        with open(report, "a") as f:
            f.write(json.dumps(line) + "\n")

    def on_signal(signum: int, _frame: Any) -> None:
        dump(signum == signal.SIGUSR2)

    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGUSR2, on_signal)
    from kernel.settings import get_settings
    from ownergraph.app import uvicorn_options  # imported while traced, as uvicorn would

    uvicorn.run(
        "ownergraph.app:create_app",
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **uvicorn_options(get_settings()),
    )


if __name__ == "__main__":
    main()
