"""The meter's 30-minute history as hourly long-term statistics.

The meter keeps its cumulative registers at every 00/30 boundary for the last
days (E2 forward, E4 reverse; E5 selects the day). This module turns those
readings into hourly external statistics ``broute_meter:<mac>_energy_import``
and ``…_energy_export`` and keeps them complete:

* on first setup it reads up to ``history_days`` days (two round trips a day);
* after any gap (Home Assistant stopped, radio or dongle lost) it fills the hours
  after the last stored row, continuing that row's ``sum``;
* every hour (and whenever the coordinator recovers) it appends the new hours.

Every radio request goes through the meter's one ECHONET Lite client, one at a time,
so live polls slot in between; nothing holds the client for longer than one request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
import logging
from typing import TYPE_CHECKING, Any, Final, Protocol

from homeassistant.components.recorder.models import (
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import (
    CALLBACK_TYPE,
    HassJob,
    HomeAssistant,
    callback,
)
from homeassistant.helpers.event import async_call_later, async_track_time_change
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util, slugify
from homeassistant.util.unit_conversion import EnergyConverter

from .broute.errors import BRouteError, SessionUnavailableError
from .broute.meters.low_voltage import MAX_DAYS_AGO, Direction as Flow
from .const import DOMAIN
from .history_fold import (
    FLOW_OF,
    HOUR,
    Anchor,
    Direction,
    Series,
    accumulate,
    fold_day,
    near_midnight,
    new_series,
    plan_dates,
    row_anchor,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from homeassistant.config_entries import ConfigEntry

    from .broute.meters.low_voltage import EnergyScale, HistoryDay, MinuteRegisters

_LOGGER = logging.getLogger(__name__)

METER_TIME_ZONE: Final = "Asia/Tokyo"

DEFAULT_HISTORY_DAYS: Final = 44
MIN_HISTORY_DAYS: Final = 1
MAX_HISTORY_DAYS: Final = 99

# A meter clock further off than this (e.g. after a long power cut) would file
# readings under the wrong hours: postpone until it agrees with ours again.
CLOCK_TOLERANCE: Final = timedelta(minutes=15)

RETRY_FIRST: Final = 60.0
RETRY_MAX: Final = 1800.0
POSTPONE_DELAY: Final = 900.0
# The meter files the :00 reading a moment after the boundary.
HOURLY_RUN_MINUTE: Final = 2


class HistoryMeter(Protocol):
    """The part of ``LowVoltageMeter`` the history job uses."""

    async def read_clock(self, *, on_request: Callable[[], None] | None = None) -> datetime | None:
        """The meter's date and time, naive Japan time (one radio round trip)."""

    async def read_history_day(
        self,
        days_ago: int,
        directions: Iterable[Flow],
        *,
        on_request: Callable[[], None] | None = None,
    ) -> HistoryDay | None:
        """One day of 30-minute readings (two radio round trips)."""


class HistorySource(Protocol):
    """What the history job needs from the coordinator."""

    @property
    def meter(self) -> HistoryMeter | None:
        """The meter model, or None while there is none."""

    @property
    def scale(self) -> EnergyScale | None:
        """Coefficient, unit and digits of the cumulative registers."""


def statistic_id(unique_id: str, direction: Direction) -> str:
    """Return the external statistic ID of one direction of one meter."""
    return f"{DOMAIN}:{slugify(unique_id)}_energy_{direction}"


class HistoryState(StrEnum):
    """What the history job is doing."""

    IDLE = "idle"
    RUNNING = "running"
    POSTPONED = "postponed"
    RETRYING = "retrying"


@dataclass(slots=True)
class HistoryStatus:
    """Progress, for diagnostics and the "History imported until" sensor."""

    state: HistoryState = HistoryState.IDLE
    days_planned: int = 0
    days_read: int = 0
    days_imported: int = 0
    days_skipped: int = 0
    rows_written: int = 0
    round_trips: int = 0
    last_row: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    next_attempt: datetime | None = None

    @property
    def imported_until(self) -> datetime | None:
        """End of the newest hour in the import statistic."""
        return None if self.last_row is None else self.last_row + HOUR

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly copy."""
        return {
            "state": str(self.state),
            "days_planned": self.days_planned,
            "days_read": self.days_read,
            "days_imported": self.days_imported,
            "days_skipped": self.days_skipped,
            "rows_written": self.rows_written,
            "round_trips": self.round_trips,
            "last_row": self.last_row.isoformat() if self.last_row else None,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_error": self.last_error,
            "next_attempt": self.next_attempt.isoformat() if self.next_attempt else None,
        }


class _PostponeError(Exception):
    """The meter's clock disagrees with ours; try again later."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one run reads and where its rows continue."""

    dates: list[date]
    series: dict[Direction, Series]
    offset: timedelta  # meter clock minus ours
    tz: tzinfo
    scale: EnergyScale
    rewrite: bool


class HistoryImporter:
    """Fill and maintain the hourly statistics of one meter from its history."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        source: HistorySource,
        *,
        days: int = DEFAULT_HISTORY_DAYS,
        name: str | None = None,
        now: Callable[[], datetime] = dt_util.utcnow,
    ) -> None:
        """Prepare; nothing runs until ``async_start``.

        ``now`` is Home Assistant's clock; tests pass their own to move it at will.
        """
        self._now = now
        self.hass = hass
        self._entry = entry
        self._source = source
        self.days = max(MIN_HISTORY_DAYS, min(MAX_HISTORY_DAYS, days))
        self._unique_id = entry.unique_id or entry.entry_id
        self._name = name or entry.title
        self.status = HistoryStatus()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._pending_days: int | None = None
        self._unsubs: list[CALLBACK_TYPE] = []
        self._retry_unsub: CALLBACK_TYPE | None = None
        self._failures = 0
        self._export_supported: bool | None = None
        # Rows written by this process (the recorder commits asynchronously).
        self._written: dict[Direction, Anchor] = {}
        # The meter date up to which every day has been read since start-up, so
        # a meter without data does not get its whole history re-read hourly.
        self._scanned_through: date | None = None
        self._listeners: list[Callable[[], None]] = []
        self._tz: tzinfo | None = None
        self._was_ok = True
        self._postponed = False  # warned once about the meter's clock
        self._clock_offset: timedelta | None = None

    # --- public API --------------------------------------------------------------

    def statistic_id(self, direction: Direction) -> str:
        """Return the statistic ID of one direction."""
        return statistic_id(self._unique_id, direction)

    @callback
    def async_start(self) -> None:
        """Catch up now, then every hour (and when the radio comes back)."""
        self._unsubs.append(
            async_track_time_change(
                self.hass, self._async_hourly, minute=HOURLY_RUN_MINUTE, second=0
            )
        )
        if isinstance(self._source, DataUpdateCoordinator):
            coordinator: DataUpdateCoordinator[Any] = self._source
            self._was_ok = coordinator.last_update_success

            @callback
            def _coordinator_updated() -> None:
                # The first good poll after a failure means the radio is back: the
                # hours missed meanwhile are in the meter's history, fetch them now.
                ok = coordinator.last_update_success
                if ok and not self._was_ok:
                    self.async_request_catch_up()
                self._was_ok = ok

            self._unsubs.append(coordinator.async_add_listener(_coordinator_updated))
        self.async_request_catch_up()

    @callback
    def async_stop(self) -> None:
        """Cancel timers and any running import."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        self._cancel_retry()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    @callback
    def async_add_listener(self, update: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``update`` whenever the progress changes."""
        self._listeners.append(update)

        @callback
        def remove() -> None:
            self._listeners.remove(update)

        return remove

    @callback
    def async_request_catch_up(self) -> None:
        """Fill the hours after the last stored row, in the background."""
        self._schedule(None)

    @callback
    def async_request_import(self, days: int) -> None:
        """Re-read the last ``days`` days (today counts as one) and rewrite them."""
        self._pending_days = max(days, self._pending_days or 0)
        self._schedule(days)

    @property
    def clock_offset(self) -> timedelta | None:
        """The meter's clock minus Home Assistant's, last measured; None if unknown."""
        return self._clock_offset

    async def async_add_hour_ends(self, ends: Iterable[MinuteRegisters]) -> int:
        """Write the hours that the registers at these hour boundaries close, at once.

        ``ends`` are the meter's 1-minute registers at hour boundaries (naive meter
        time, oldest first). A boundary *B* closes the hour *B* − 1 h; its row is the
        one the next history run would write from E2/E4 (same register, same
        boundary), continuing the stored ``sum``. Only a row whose previous hour is
        stored is written: anything else is the history job's to fill. Under the
        job's lock, so rows are never written out of order or twice at once. Returns
        the number of rows written.
        """
        wanted = list(ends)
        if not wanted:
            return 0
        scale = self._source.scale
        async with self._lock:
            if scale is None or self.status.state is HistoryState.POSTPONED:
                # A meter clock the history job distrusts would file them wrongly.
                return 0
            tz = await self._async_tz()
            directions = [Direction.IMPORT]
            if self._export_supported is not False:
                directions.append(Direction.EXPORT)
            written = 0
            for direction in directions:
                anchor = await self._async_anchor(direction, None)
                if anchor is None or anchor.state is None:
                    continue
                s = new_series(direction, anchor, scale)
                readings: list[tuple[datetime, int | None]] = []
                expected = anchor.start + 2 * HOUR
                for end in wanted:
                    at = end.minute.replace(tzinfo=tz)
                    if at < expected:
                        continue  # already stored
                    raw = end.registers.get(FLOW_OF[direction])
                    if at != expected or raw is None:
                        break  # an hour missing before it
                    readings.append((at, raw))
                    expected += HOUR
                if not readings:
                    continue
                accumulate(s, readings, scale, readings[-1][0])
                written += len(s.rows)
                self._flush([s])
            if written:
                self._notify()
            return written

    async def async_wait_idle(self) -> None:
        """Wait until the current run (if any) has finished."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    # --- scheduling --------------------------------------------------------------

    @callback
    def _schedule(self, days: int | None) -> None:
        if self._task is not None and not self._task.done():
            return  # the running job picks up _pending_days when it ends
        self._cancel_retry()
        self._task = self._entry.async_create_background_task(
            self.hass, self._async_job(days), f"{DOMAIN} history {self._unique_id}"
        )

    async def _async_hourly(self, _now: datetime) -> None:
        self.async_request_catch_up()

    @callback
    def _retry_later(self, delay: float) -> None:
        self._cancel_retry()
        self.status.next_attempt = self._now() + timedelta(seconds=delay)
        self._retry_unsub = async_call_later(
            self.hass, delay, HassJob(self._async_retry, cancel_on_shutdown=True)
        )

    async def _async_retry(self, _now: datetime) -> None:
        self._retry_unsub = None
        self._schedule(self._pending_days)

    @callback
    def _cancel_retry(self) -> None:
        if self._retry_unsub is not None:
            self._retry_unsub()
            self._retry_unsub = None
        self.status.next_attempt = None

    @callback
    def _notify(self) -> None:
        for update in list(self._listeners):
            update()

    async def _async_job(self, days: int | None) -> None:
        async with self._lock:
            while True:
                if days is not None:
                    self._pending_days = None
                self.status.state = HistoryState.RUNNING
                self._notify()
                try:
                    await self._async_run(days)
                except _PostponeError as err:
                    if not self._postponed:
                        self._postponed = True
                        _LOGGER.warning(
                            "History import of %s postponed: %s; retrying every %.0f minutes",
                            self._name,
                            err,
                            POSTPONE_DELAY / 60,
                        )
                    self.status.state = HistoryState.POSTPONED
                    self.status.last_error = str(err)
                    if days is not None:
                        self._pending_days = max(days, self._pending_days or 0)
                    self._retry_later(POSTPONE_DELAY)
                    break
                except Exception as err:
                    # Keep what was written; the next run resumes after it.
                    if not isinstance(err, BRouteError):
                        _LOGGER.exception("Unexpected error in the history import")
                    self._failures += 1
                    delay = min(RETRY_MAX, RETRY_FIRST * 2 ** (self._failures - 1))
                    self.status.state = HistoryState.RETRYING
                    self.status.last_error = type(err).__name__
                    if days is not None:
                        self._pending_days = max(days, self._pending_days or 0)
                    _LOGGER.debug("History import interrupted (%s), retry in %.0f s", err, delay)
                    self._retry_later(delay)
                    break
                self._failures = 0
                self._postponed = False
                self.status.state = HistoryState.IDLE
                self.status.last_error = None
                self.status.last_success = self._now()
                if self._pending_days is None:
                    break
                days = self._pending_days
        self._notify()

    # --- one run -----------------------------------------------------------------

    async def _async_tz(self) -> tzinfo:
        if self._tz is None:
            tz = await dt_util.async_get_time_zone(METER_TIME_ZONE)
            assert tz is not None
            self._tz = tz
        return self._tz

    def _meter(self) -> HistoryMeter:
        meter = self._source.meter
        if meter is None:
            raise SessionUnavailableError("no meter connection")
        return meter

    async def _async_meter_clock(self, tz: tzinfo) -> datetime | None:
        """Read the meter's date and time; None if it does not offer them."""
        clock = await self._meter().read_clock(on_request=self._count_round_trip)
        return None if clock is None else clock.replace(tzinfo=tz)

    async def _async_anchor(self, direction: Direction, before: datetime | None) -> Anchor | None:
        """Return the last stored row (or the last one starting before ``before``)."""
        stat_id = self.statistic_id(direction)
        recorder = get_instance(self.hass)
        if before is None:
            rows = await recorder.async_add_executor_job(
                get_last_statistics, self.hass, 1, stat_id, False, {"state", "sum"}
            )
            found = rows.get(stat_id)
            anchor = row_anchor(found[-1]) if found else None
            cached = self._written.get(direction)
            if cached is not None and (anchor is None or cached.start > anchor.start):
                anchor = cached
            return anchor
        period = await recorder.async_add_executor_job(
            statistics_during_period,
            self.hass,
            before - timedelta(days=MAX_DAYS_AGO + 2),
            before,
            {stat_id},
            "hour",
            None,
            {"state", "sum"},
        )
        found = period.get(stat_id)
        return row_anchor(found[-1]) if found else None

    async def _async_run(self, days: int | None) -> None:
        plan = await self._async_plan(days)
        self.status.days_planned = len(plan.dates)
        self.status.days_read = 0
        self.status.days_imported = 0
        self.status.days_skipped = 0
        self._notify()
        clock_date: date | None = None  # last date read from the meter itself
        for day in plan.dates:
            values, clock_date = await self._async_read_planned_day(plan, day, clock_date)
            self.status.days_read += 1
            if values is None:
                self.status.days_skipped += 1
                self._notify()
                continue
            if Flow.FORWARD in values.slots and Direction.EXPORT in plan.series:
                # A meter without reverse metering refuses E4 next to a valid E2.
                self._export_supported = Flow.REVERSE in values.slots
            limit = self._now() + plan.offset
            if fold_day(plan.series, day, values, tz=plan.tz, scale=plan.scale, limit=limit):
                self.status.days_imported += 1
            else:
                self.status.days_skipped += 1
            self._flush(plan.series.values())
            self._notify()
        if plan.dates and not plan.rewrite:
            self._scanned_through = plan.dates[-1]

    async def _async_plan(self, days: int | None) -> _Plan:
        """Which meter days to read, and the running series of each direction."""
        scale = self._source.scale
        if scale is None:
            raise SessionUnavailableError("meter not read yet")
        tz = await self._async_tz()
        rewrite = days is not None
        max_days = min(days if days is not None else self.days, MAX_DAYS_AGO + 1)

        ha_now = self._now()
        meter_now = await self._async_meter_clock(tz)
        if meter_now is not None:
            # 97 has whole minutes: the middle of that minute is the best estimate.
            self._clock_offset = meter_now + timedelta(seconds=30) - ha_now
        if meter_now is None:
            meter_now = ha_now.astimezone(tz).replace(second=0, microsecond=0)
        elif abs(meter_now - ha_now) > CLOCK_TOLERANCE + timedelta(minutes=1):
            raise _PostponeError(
                f"meter clock {meter_now.isoformat()} disagrees with {ha_now.isoformat()}"
            )
        meter_today = meter_now.date()
        oldest = meter_today - timedelta(days=max_days - 1)

        # Which hours to (re)write, per direction.
        directions = [Direction.IMPORT]
        if self._export_supported is not False:
            directions.append(Direction.EXPORT)
        requested_cut = (
            datetime.combine(oldest, time(0), tzinfo=tz).astimezone(dt_util.UTC)
            if rewrite
            else None
        )
        series: dict[Direction, Series] = {}
        for direction in directions:
            anchor = await self._async_anchor(direction, requested_cut)
            series[direction] = new_series(direction, anchor, scale)

        imported = series[Direction.IMPORT].last_row
        if imported is not None and not rewrite:
            self.status.last_row = imported.start
        dates = plan_dates(
            oldest,
            meter_today,
            [s.cut for s in series.values() if s.cut is not None],
            tz,
            rewrite=rewrite,
            scanned_through=self._scanned_through,
        )
        return _Plan(dates, series, meter_now - ha_now, tz, scale, rewrite)

    async def _async_read_planned_day(
        self, plan: _Plan, day: date, clock_date: date | None
    ) -> tuple[HistoryDay | None, date | None]:
        """Read one planned day; around the meter's midnight, check its date too.

        Returns the day (None when it is out of the meter's reach or missing) and the
        meter date last read, for the next day's check.
        """
        directions = list(plan.series)
        while True:
            est = (self._now() + plan.offset).astimezone(plan.tz)
            near = near_midnight(est)
            if near and clock_date is None:
                read = await self._async_meter_clock(plan.tz)
                clock_date = read.date() if read else est.date()
            today = clock_date if near and clock_date else est.date()
            days_ago = (today - day).days
            if days_ago > MAX_DAYS_AGO or days_ago < 0:
                return None, clock_date
            values = await self._async_read_day(days_ago, directions)
            if not near:
                return values, None
            read = await self._async_meter_clock(plan.tz)
            after = read.date() if read else est.date()
            clock_date = after
            if after == today:
                return values, clock_date
            # The meter's day changed while we were reading: redo.

    async def _async_read_day(
        self, days_ago: int, directions: list[Direction]
    ) -> HistoryDay | None:
        """Read one day of the meter's history; None if the meter lacks it."""
        return await self._meter().read_history_day(
            days_ago, [FLOW_OF[d] for d in directions], on_request=self._count_round_trip
        )

    def _count_round_trip(self) -> None:
        self.status.round_trips += 1

    def _flush(self, all_series: Iterable[Series]) -> None:
        """Hand the rows of the day just read to the recorder."""
        for s in all_series:
            if not s.rows:
                continue
            metadata = StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=f"{self._name} energy {s.direction}",
                source=DOMAIN,
                statistic_id=self.statistic_id(s.direction),
                unit_class=EnergyConverter.UNIT_CLASS,
                unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            )
            async_add_external_statistics(self.hass, metadata, s.rows)
            self.status.rows_written += len(s.rows)
            assert s.last_row is not None
            self._written[s.direction] = s.last_row
            if s.direction is Direction.IMPORT:
                self.status.last_row = s.last_row.start
            s.rows = []
