"""bench.pictures asks only for pictures the API accepts (its own parser says so), each new, and the
animated ones exactly at the route's bounds; bench.common.percentile is the nearest rank."""

from __future__ import annotations

import pytest

from bench.common import percentile
from bench.pictures import ANIMATED, moments, windows
from reelstack.derivatives import pictures


@pytest.mark.parametrize("duration", [60.0, 61.43, 180.0])
def test_the_thumbnail_moments_are_distinct_and_accepted(duration: float) -> None:
    asked = moments(duration, 10)
    assert len(set(asked)) == 10 and 0.7 not in asked  # each a first render; none the warm-up's
    for moment in asked:
        assert pictures.parse("thumbnail.jpg", {"time": str(moment), "width": "640"}, duration).time == moment


@pytest.mark.parametrize("duration", [60.0, 61.43, 180.0])
def test_the_animated_windows_are_distinct_and_at_the_bounds(duration: float) -> None:
    asked = windows(duration, 5, ANIMATED["seconds"])
    assert len(set(asked)) == 5
    for start, end in asked:
        query = {"start": str(start), "end": str(end), "width": str(ANIMATED["width"]), "fps": str(ANIMATED["fps"])}
        for kind in ("webp", "gif"):
            picture = pictures.parse(f"animated.{kind}", query, duration)
            assert picture.end - picture.start == pytest.approx(pictures.MAX_ANIMATED_SECONDS)
            assert (picture.width, picture.fps) == (pictures.MAX_ANIMATED_WIDTH, pictures.MAX_FPS)


def test_percentile_is_the_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == 5.0  # of 5: the slowest
    assert percentile([float(value) for value in range(1, 11)], 0.95) == 10.0
    assert percentile([float(value) for value in range(1, 21)], 0.95) == 19.0
