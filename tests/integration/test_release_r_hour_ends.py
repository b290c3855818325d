"""Release R meters close an hour in the external statistics as soon as a poll sees past it.

The simulated meter files its 30-minute history ``slot_delay`` (10 minutes) late, so at
08:03 its E2/E4 history does not hold 08:00 yet: a 07:00-08:00 row written by then can
only come from the 1-minute registers (D0 at :00, or EE read back after an outage).
Expected values are the simulator's ground truth (``forward_raw``/``reverse_raw`` at the
boundaries, its ``kwh_per_raw``), never the integration's own arithmetic.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.broute_meter.history import Direction
from simulator import JST, ManualClock
from tests.fixtures import entry_for, ha_clock_follows
from tests.helpers import set_up

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.broute_meter.coordinator import BRouteCoordinator
    from simulator import Simulator
    from tests.fixtures import SimFactory

GET, SETC = 0x62, 0x61
EE, EF, D0 = 0xEE, 0xEF, 0xD0
E2, E4 = 0xE2, 0xE4
DAY = datetime(2026, 11, 20, tzinfo=JST)
# 07:00-08:00: the simulated house both buys and sells then, so both registers move.
PREV = DAY.replace(hour=6)
OPEN = DAY.replace(hour=7)
CLOSE = DAY.replace(hour=8)
SLOT_DELAY = 600.0
UNIT_WH = 0x03  # 0.001 kWh: every few seconds of load show


def _record(sim: Simulator) -> list[tuple[int, int]]:
    """(ESV, EPC) of every request the simulated meter answers, in order."""
    asked: list[tuple[int, int]] = []
    original = sim.meter.handle

    def handle(request: Any) -> Any:
        asked.extend((request.esv, epc) for epc, _ in request.props)
        return original(request)

    sim.meter.handle = handle  # type: ignore[method-assign]
    return asked


async def _start(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    at: datetime,
    release: str,
) -> tuple[Simulator, ManualClock, MockConfigEntry, list[tuple[int, int]]]:
    """An entry on a meter whose clock and Home Assistant's move together from ``at``."""
    clock = ManualClock(at)
    ha_clock_follows(monkeypatch, clock)
    sim = await make_simulator(
        clock=clock, release=release, slot_delay=SLOT_DELAY, unit_code=UNIT_WH
    )
    asked = _record(sim)
    # One poll an hour: only the test's refreshes (and the one after a repair) poll.
    entry = await set_up(hass, entry_for(sim, scan_interval=3600, history_days=1))
    await _settle(hass, entry)
    return sim, clock, entry, asked


async def _settle(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.async_block_till_done(wait_background_tasks=True)
    await entry.runtime_data.history.async_wait_idle()
    await async_wait_recording_done(hass)


async def _poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    assert entry.runtime_data.coordinator.last_update_success
    await _settle(hass, entry)


async def _rows(
    hass: HomeAssistant, entry: MockConfigEntry, direction: Direction
) -> dict[datetime, dict[str, Any]]:
    stat_id = entry.runtime_data.history.statistic_id(direction)
    result = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        DAY - timedelta(days=2),
        None,
        {stat_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return {
        dt_util.utc_from_timestamp(row["start"]).astimezone(JST): row
        for row in result.get(stat_id, [])
    }


async def _until(done: Callable[[], bool], limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)


async def _outage(
    sim: Simulator, clock: ManualClock, coordinator: BRouteCoordinator, back_at: datetime
) -> None:
    """The meter ends the session now; meter time is ``back_at`` when the link is back."""
    sim.faults.end_session()
    clock.set(back_at)  # before the loop runs again: no poll sees a minute in between
    await _until(lambda: not coordinator.last_update_success)
    assert not coordinator.last_update_success, "the outage was never seen"
    await _until(lambda: coordinator.last_update_success)
    assert coordinator.last_update_success, "the link never came back"


def _raw(sim: Simulator, direction: Direction, at: datetime) -> int:
    raw = (sim.meter.forward_raw if direction is Direction.IMPORT else sim.meter.reverse_raw)(at)
    assert raw is not None
    return raw


def _assert_hour_closed(
    sim: Simulator, rows: dict[datetime, dict[str, Any]], direction: Direction
) -> None:
    """The 07:00 row ends at the register at 08:00 and continues the 06:00 row's sum."""
    kwh = sim.meter.kwh_per_raw
    end = _raw(sim, direction, CLOSE)
    step = (end - _raw(sim, direction, OPEN)) % sim.meter.modulus
    assert step > 0  # the hour moved the register: a wrong boundary would show
    assert Decimal(repr(rows[OPEN]["state"])) == end * kwh
    assert rows[OPEN]["sum"] == pytest.approx(rows[PREV]["sum"] + float(step * kwh), abs=1e-6)


async def test_an_outage_across_the_hour_closes_it_from_the_minute_history(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, clock, entry, asked = await _start(
        hass, make_simulator, monkeypatch, OPEN.replace(minute=50, second=20), "R"
    )
    coordinator = entry.runtime_data.coordinator
    before = {d: await _rows(hass, entry, d) for d in Direction}
    for direction in Direction:
        assert max(before[direction]) == PREV  # the history job wrote up to 07:00

    clock.set(OPEN.replace(minute=58, second=20))
    await _poll(hass, entry)
    # Link lost at 07:58:20 (the meter ends the session); back at 08:03:20.
    asked.clear()
    await _outage(sim, clock, coordinator, CLOSE.replace(minute=3, second=20))
    await _settle(hass, entry)

    # The meter's 30-minute history has no 08:00 yet, and the history job did look.
    assert sim.meter.slot_raw("forward", CLOSE) is None
    assert (GET, E2) in asked
    # The boundary was read back from the 1-minute history, once (SetC EF, Get EE),
    # after the poll that brought the live values.
    assert asked.count((SETC, EF)) == 1
    assert asked.count((GET, EE)) == 1
    assert asked.index((GET, D0)) < asked.index((SETC, EF))
    after = {d: await _rows(hass, entry, d) for d in Direction}
    for direction in Direction:
        _assert_hour_closed(sim, after[direction], direction)
        assert CLOSE not in after[direction]  # 08:00-09:00 is not over

    # Once the meter has filed 08:00, re-reading today rewrites the same row.
    clock.set(CLOSE.replace(minute=15))
    entry.runtime_data.history.async_request_import(1)
    await _settle(hass, entry)
    for direction in Direction:
        again = await _rows(hass, entry, direction)
        assert again[OPEN]["state"] == after[direction][OPEN]["state"]
        assert again[OPEN]["sum"] == pytest.approx(after[direction][OPEN]["sum"], abs=1e-6)


async def test_the_poll_that_sees_minute_00_writes_the_hour(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, clock, entry, asked = await _start(
        hass, make_simulator, monkeypatch, OPEN.replace(minute=59, second=30), "R"
    )
    for direction in Direction:
        assert OPEN not in await _rows(hass, entry, direction)
    clock.set(CLOSE.replace(second=30))
    asked.clear()
    await _poll(hass, entry)
    for direction in Direction:
        _assert_hour_closed(sim, await _rows(hass, entry, direction), direction)
    # D0 at 08:00 is the boundary register itself: only the poll went out.
    assert {epc for _, epc in asked} & {EE, EF, E2, E4} == set()
    assert (GET, D0) in asked


async def test_release_j_meters_send_nothing_more_and_wait_for_the_history(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, clock, entry, asked = await _start(
        hass, make_simulator, monkeypatch, OPEN.replace(minute=58, second=20), "J"
    )
    coordinator = entry.runtime_data.coordinator
    await _outage(sim, clock, coordinator, CLOSE.replace(minute=3, second=20))
    await _settle(hass, entry)
    clock.set(CLOSE.replace(minute=4))
    await _poll(hass, entry)
    assert {epc for _, epc in asked} & {EE, EF, D0} == set()
    for direction in Direction:
        rows = await _rows(hass, entry, direction)
        assert max(rows) == PREV  # 07:00-08:00 waits for the meter to file 08:00
