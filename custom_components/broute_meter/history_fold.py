"""The statistics fold: the meter's 30-minute readings into hourly ``state``/``sum`` rows.

Pure functions and plain data (no recorder, no radio), so every rule is tested on its
own: where a series continues (its anchor, the last stored row), which meter days a
run reads, and how half-hour register readings accumulate into hourly rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.recorder.models import StatisticData
from homeassistant.util import dt as dt_util

from .broute.meters.low_voltage import Direction as Flow

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .broute.meters.low_voltage import EnergyScale, HistoryDay

SLOT: Final = timedelta(minutes=30)
HOUR: Final = timedelta(hours=1)
# Close to the meter's midnight "days ago" may change between two requests, so
# the meter's date is read again around every day fetched in this window.
MIDNIGHT_GUARD: Final = timedelta(minutes=5)


class Direction(StrEnum):
    """Energy flow direction of a statistic."""

    IMPORT = "import"
    EXPORT = "export"


#: The meter register behind each statistic.
FLOW_OF: Final = {Direction.IMPORT: Flow.FORWARD, Direction.EXPORT: Flow.REVERSE}


@dataclass(slots=True)
class Anchor:
    """The last stored row before the hours being written."""

    start: datetime
    state: float | None
    sum: float


@dataclass(slots=True)
class Series:
    """Running accumulation of one direction while days are read in order."""

    direction: Direction
    cut: datetime | None  # rows are written for hours starting at or after this
    base_sum: float
    prev_raw: int | None
    acc_raw: int = 0
    rows: list[StatisticData] = field(default_factory=list)
    last_row: Anchor | None = None


def row_anchor(row: Mapping[str, Any]) -> Anchor:
    """The anchor of a statistics row as the recorder returns it."""
    return Anchor(
        start=dt_util.utc_from_timestamp(row["start"]),
        state=row.get("state"),
        sum=float(row.get("sum") or 0.0),
    )


def new_series(direction: Direction, anchor: Anchor | None, scale: EnergyScale) -> Series:
    """A series that continues after ``anchor`` (or starts afresh without one)."""
    if anchor is None:
        return Series(direction=direction, cut=None, base_sum=0.0, prev_raw=None)
    prev_raw: int | None = None
    if anchor.state is not None:
        # Stored states are exact multiples of the register step (see accumulate).
        prev_raw = round(Decimal(repr(anchor.state)) / scale.to_kwh(1)) % scale.modulus
    return Series(
        direction=direction,
        cut=anchor.start + HOUR,
        base_sum=anchor.sum,
        prev_raw=prev_raw,
        last_row=anchor,
    )


def plan_dates(
    oldest: date,
    meter_today: date,
    starts: Iterable[datetime],
    tz: tzinfo,
    *,
    rewrite: bool,
    scanned_through: date | None,
) -> list[date]:
    """The meter days one run reads, oldest first.

    A rewrite reads from ``oldest``; a catch-up from the day of the earliest series
    cut (never before ``oldest``), and not again before ``scanned_through``, the day
    up to which everything was read since start-up (a meter without data is not
    re-read hourly).
    """
    cuts = list(starts)
    first = oldest
    if cuts:
        first = max(oldest, min(cuts).astimezone(tz).date())
    if rewrite:
        first = oldest
    elif scanned_through is not None and cuts:
        first = max(first, scanned_through)
    return [first + timedelta(days=i) for i in range((meter_today - first).days + 1)]


def accumulate(
    s: Series,
    readings: list[tuple[datetime, int | None]],
    scale: EnergyScale,
    limit: datetime,
) -> None:
    """Fold one day of half-hour register readings into hourly rows.

    ``sum`` grows by every half-hour step (wrap-aware), so a missing reading
    moves its consumption into the next hour that has one instead of losing it.
    """
    for at, raw in readings:
        if raw is None or at > limit:
            continue
        if s.cut is not None and at < s.cut:
            continue
        if s.cut is not None and at == s.cut:
            s.prev_raw = raw  # the meter's own reading beats the stored state
            continue
        if s.prev_raw is None:
            s.prev_raw = raw  # first reading ever: the baseline, no row yet
            continue
        s.acc_raw += scale.delta(s.prev_raw, raw)
        s.prev_raw = raw
        if at.minute != 0:
            continue
        start = (at - HOUR).astimezone(dt_util.UTC)
        total = round(s.base_sum + float(scale.to_kwh(s.acc_raw)), 6)
        state = float(scale.to_kwh(raw))
        s.rows.append(StatisticData(start=start, state=state, sum=total))
        s.last_row = Anchor(start=start, state=state, sum=total)


def fold_day(
    series: Mapping[Direction, Series],
    day: date,
    history: HistoryDay,
    *,
    tz: tzinfo,
    scale: EnergyScale,
    limit: datetime,
) -> bool:
    """Fold one meter day into every series; whether the day held any reading.

    ``limit`` is the meter's now: slots after it are not filed yet.
    """
    had_data = False
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    for direction, s in series.items():
        slots = history.slots.get(FLOW_OF[direction])
        if slots is None:
            continue
        readings = [(midnight + i * SLOT, raw) for i, raw in enumerate(slots)]
        had_data |= any(raw is not None for _, raw in readings)
        accumulate(s, readings, scale, limit)
    return had_data


def near_midnight(local: datetime) -> bool:
    """Whether ``local`` is within the guard of the meter's midnight."""
    since = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    return local - since < MIDNIGHT_GUARD or since + timedelta(days=1) - local < MIDNIGHT_GUARD
