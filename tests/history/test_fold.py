"""The statistics fold on its own: anchors, planned days and hourly accumulation.

Pure functions over plain data, so no recorder and no radio; the expected rows are
worked out by hand from the register readings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from custom_components.broute_meter.broute.meters.low_voltage import (
    Direction as Flow,
    EnergyScale,
    HistoryDay,
)
from custom_components.broute_meter.history_fold import (
    HOUR,
    SLOT,
    Anchor,
    Direction,
    accumulate,
    fold_day,
    near_midnight,
    new_series,
    plan_dates,
    row_anchor,
)
from simulator.timing import JST

SCALE = EnergyScale(coefficient=1, unit=Decimal("0.1"), digits=4)
DAY = date(2026, 11, 20)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=JST)
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def _at(index: int) -> datetime:
    return MIDNIGHT + index * SLOT


def test_first_reading_is_the_baseline_then_hourly_rows() -> None:
    s = new_series(Direction.IMPORT, None, SCALE)
    accumulate(s, [(_at(0), 100), (_at(1), 103), (_at(2), 110)], SCALE, FAR)
    # 00:00 is the baseline; the hour 00:00-01:00 ends at 01:00 with 10 counts = 1.0 kWh.
    assert [(r["start"], r["state"], r["sum"]) for r in s.rows] == [
        (MIDNIGHT.astimezone(UTC), 11.0, 1.0)
    ]
    assert s.last_row == Anchor(start=MIDNIGHT.astimezone(UTC), state=11.0, sum=1.0)


def test_a_missing_reading_moves_its_consumption_into_the_next_hour() -> None:
    s = new_series(Direction.IMPORT, None, SCALE)
    readings = [(_at(0), 100), (_at(1), None), (_at(2), None), (_at(3), 120), (_at(4), 130)]
    accumulate(s, readings, SCALE, FAR)
    # Hour 01:00-02:00 (ending 02:00) has no reading: 00:00 -> 02:00 lands in 02:00's row.
    assert [(r["start"], r["sum"]) for r in s.rows] == [((MIDNIGHT + HOUR).astimezone(UTC), 3.0)]


def test_a_wrap_counts_forward() -> None:
    s = new_series(Direction.IMPORT, None, SCALE)
    accumulate(s, [(_at(0), 9_998), (_at(1), 1), (_at(2), 3)], SCALE, FAR)
    assert [r["sum"] for r in s.rows] == [0.5]  # 9998 -> 10000 (=0) -> 3: five counts
    assert s.rows[0]["state"] == pytest.approx(0.3)


def test_readings_after_the_limit_are_left_for_later() -> None:
    s = new_series(Direction.IMPORT, None, SCALE)
    accumulate(s, [(_at(0), 100), (_at(2), 110), (_at(4), 120)], SCALE, _at(3))
    assert len(s.rows) == 1


def test_a_series_continues_after_its_anchor() -> None:
    anchor = Anchor(start=MIDNIGHT.astimezone(UTC), state=11.0, sum=5.0)
    s = new_series(Direction.EXPORT, anchor, SCALE)
    assert s.cut == (MIDNIGHT + HOUR).astimezone(UTC)
    assert s.prev_raw == 110  # the stored state, back in register counts
    # Readings before the cut are skipped; the one at the cut beats the stored state.
    accumulate(s, [(_at(0), 50), (_at(2), 112), (_at(4), 120)], SCALE, FAR)
    assert [(r["start"], r["state"], r["sum"]) for r in s.rows] == [
        ((MIDNIGHT + HOUR).astimezone(UTC), 12.0, 5.8)
    ]


def test_row_anchor_reads_a_recorder_row() -> None:
    start = MIDNIGHT.astimezone(UTC)
    assert row_anchor({"start": start.timestamp(), "state": 1.5, "sum": None}) == Anchor(
        start=start, state=1.5, sum=0.0
    )


def test_fold_day_uses_each_directions_register_and_tells_if_there_was_data() -> None:
    series = {d: new_series(d, None, SCALE) for d in Direction}
    forward = tuple(range(100, 148))
    history = HistoryDay(0, {Flow.FORWARD: forward, Flow.REVERSE: (None,) * 48})
    assert fold_day(series, DAY, history, tz=JST, scale=SCALE, limit=FAR)
    assert len(series[Direction.IMPORT].rows) == 23  # 01:00 … 23:00 ends; 00:00 baseline
    assert series[Direction.IMPORT].rows[0]["sum"] == pytest.approx(0.2)
    assert series[Direction.EXPORT].rows == []
    empty = HistoryDay(1, {Flow.FORWARD: (None,) * 48})
    assert not fold_day(series, DAY, empty, tz=JST, scale=SCALE, limit=FAR)


def test_plan_dates() -> None:
    oldest, today = date(2026, 11, 10), date(2026, 11, 20)
    cut = datetime(2026, 11, 18, 5, tzinfo=JST)
    # Nothing stored: everything from the oldest day.
    assert plan_dates(oldest, today, [], JST, rewrite=False, scanned_through=None)[0] == oldest
    # A catch-up starts at the earliest cut's day…
    assert plan_dates(oldest, today, [cut], JST, rewrite=False, scanned_through=None) == [
        date(2026, 11, 18),
        date(2026, 11, 19),
        today,
    ]
    # …not before what was read since start-up…
    assert plan_dates(oldest, today, [cut], JST, rewrite=False, scanned_through=today) == [today]
    # …and a rewrite from the oldest day whatever is stored.
    assert len(plan_dates(oldest, today, [cut], JST, rewrite=True, scanned_through=today)) == 11


def test_near_midnight() -> None:
    assert near_midnight(MIDNIGHT + timedelta(minutes=4))
    assert near_midnight(MIDNIGHT - timedelta(minutes=4))
    assert not near_midnight(MIDNIGHT + timedelta(minutes=6))
