"""The bucket arithmetic of authz/ratelimit.py, on numbers (the end-to-end behaviour is in
tests/schema/test_ratelimit.py)."""

from __future__ import annotations

import pytest

from authz.ratelimit import Bucket, _wait


@pytest.mark.parametrize(
    ("points", "restore_rate", "window"),
    [(20_000, 1_000, 20), (2_000, 100, 20), (10, 0.01, 1_000), (6, 6, 1), (3, 1_000, 1)],
)
def test_a_bucket_refills_over_one_window(points: int, restore_rate: float, window: int) -> None:
    assert Bucket("b", points, restore_rate).window == window


@pytest.mark.parametrize(
    ("previous", "previous_ttl", "current", "current_ttl", "room", "wait"),
    [
        # Spent in the previous window: its weight falls until 5 of 10 points remain used.
        (10, 8.0, 0, 18.0, 5, 3.0),
        # ... and until all of them have gone.
        (10, 8.0, 0, 18.0, 0, 8.0),
        # Spent in the current window (4 s left of it): nothing comes back before it ends,
        # then half of the window drains half the points.
        (0, 0.0, 10, 14.0, 5, 4.0 + 5.0),
        # Both: the current window's 3 fit beside the falling previous 6, up to room 5.
        (6, 4.0, 3, 14.0, 5, 4.0 - 10 * 2 / 6),
    ],
)
def test_the_wait_is_until_the_sliding_count_leaves_room(
    previous: int, previous_ttl: float, current: int, current_ttl: float, room: int, wait: float
) -> None:
    assert _wait(previous, previous_ttl, current, current_ttl, 10, room) == pytest.approx(wait)
