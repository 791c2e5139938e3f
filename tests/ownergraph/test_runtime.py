"""The collector while serving: what survived is frozen now and then, and collected in
full once every THAW_EVERY freezes (ownergraph/runtime.py)."""

from __future__ import annotations

import gc
import weakref

from ownergraph.runtime import Freezer


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_frozen_objects_are_skipped_then_collected_in_full_now_and_then() -> None:
    gc.unfreeze()
    try:
        freezer = Freezer(thaw_every=3)
        cycle = Cycle()
        alive = weakref.ref(cycle)
        freezer.tick()  # frozen while still in use
        del cycle  # now garbage only the collector can free
        gc.collect()
        assert alive() is not None and gc.get_freeze_count() > 0
        freezer.tick()
        assert alive() is not None
        freezer.tick()  # the third: thawed, collected in full, frozen again
        assert alive() is None and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
