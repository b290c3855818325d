"""History backfill against the simulated meter: every expected value is the simulator's.

The expected register at the end of each hour and the energy of each hour come from
``sim.meter.slot_raw`` (the meter's ground truth), never from the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
import itertools
from typing import Any

import pytest

from custom_components.broute_meter.broute.echonet import LV_METER_EOJ
from custom_components.broute_meter.history import Direction, HistoryState
from simulator import DongleModel
from simulator.meter import MeterConfig, SimulatedMeter
from simulator.timing import JST, ManualClock

from .conftest import Rig, hours, start_of, truth

START = datetime(2026, 11, 20, 10, 17, tzinfo=JST)


async def assert_rows_match_meter(
    rig: Rig, rows: list[dict[str, Any]], direction: Direction, *, base_sum: float | None = None
) -> None:
    """Every row's state is the meter's register; every sum step is the hour's energy."""
    previous = base_sum
    for row in rows:
        expected = truth(rig.meter, direction, start_of(row))
        assert expected is not None, f"row for {start_of(row)} where the meter has no data"
        state, step = expected
        assert row["state"] == pytest.approx(float(state), abs=1e-9)
        if previous is not None:
            assert row["sum"] - previous == pytest.approx(float(step), abs=1e-6), start_of(row)
        previous = row["sum"]


async def test_first_setup_imports_44_days_hour_by_hour(make_rig: Any) -> None:
    """44 days (today included) arrive as hourly rows equal to the meter's registers."""
    rig = await make_rig(START)
    importer = rig.importer(days=44)
    await rig.catch_up(importer)

    # Oldest day: 43 days before today; newest row: the last complete hour (09:00-10:00).
    first = datetime(2026, 10, 8, 0, 0, tzinfo=JST)
    last = datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    for direction in Direction:
        rows = await rig.rows(importer, direction)
        assert [start_of(r) for r in rows] == hours(first, last)
        # A new series starts at 0: the first row's sum is its own hour's energy.
        await assert_rows_match_meter(rig, rows, direction, base_sum=0.0)
        total = Decimal(0)
        for at in hours(first, last):
            step = truth(rig.meter, direction, at)
            assert step is not None
            total += step[1]
        assert rows[-1]["sum"] == pytest.approx(float(total), abs=1e-6)

    # 1 clock read + 2 round trips per day.
    assert importer.status.round_trips <= 90
    assert importer.status.days_imported == 44
    assert importer.status.state is HistoryState.IDLE


@pytest.mark.parametrize("pty", [False, True], ids=["socket", "pty"])
async def test_backfill_on_a_j11_dongle(make_rig: Any, pty: bool) -> None:
    """The same history over ROHM J11 frames: rows equal to the meter's registers."""
    rig = await make_rig(START, pty=pty, model=DongleModel.BP35C2_J11)
    assert rig.source.connection.link.kind == "j11"
    importer = rig.importer(days=3)
    await rig.catch_up(importer)
    first = datetime(2026, 11, 18, 0, 0, tzinfo=JST)
    last = datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    for direction in Direction:
        rows = await rig.rows(importer, direction)
        assert [start_of(r) for r in rows] == hours(first, last)
        await assert_rows_match_meter(rig, rows, direction, base_sum=0.0)
    assert importer.status.days_imported == 3
    assert importer.status.state is HistoryState.IDLE


async def test_gap_after_a_stop_is_filled_exactly(make_rig: Any) -> None:
    """Home Assistant stopped for 5 hours: the missing hours come from the meter, once."""
    rig = await make_rig(START)
    importer = rig.importer(days=2)
    await rig.catch_up(importer)
    before = await rig.rows(importer, Direction.IMPORT)
    assert start_of(before[-1]) == datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    importer.async_stop()

    rig.move_to(START + timedelta(hours=5))
    restarted = rig.importer(days=2)
    await rig.catch_up(restarted)
    after = await rig.rows(restarted, Direction.IMPORT)

    # Rows written before the stop are untouched, the gap hours follow without a hole
    # or a duplicate, and their sums continue the stored series.
    assert after[: len(before)] == before
    gap = after[len(before) :]
    assert [start_of(r) for r in gap] == hours(
        datetime(2026, 11, 20, 10, 0, tzinfo=JST), datetime(2026, 11, 20, 14, 0, tzinfo=JST)
    )
    await assert_rows_match_meter(rig, after, Direction.IMPORT)
    # Only today had to be read again: 1 clock read + 2 round trips.
    assert restarted.status.round_trips == 3


async def test_gap_across_midnight_with_register_wrap(make_rig: Any) -> None:
    """A gap from 21:40 to 06:10 during which the 6-digit register wraps to 0."""
    start = datetime(2026, 11, 20, 21, 40, tzinfo=JST)
    wrap_at = datetime(2026, 11, 21, 1, 15, tzinfo=JST)
    history_start = start - timedelta(days=3)
    probe = SimulatedMeter(
        MeterConfig(history_start=history_start, initial_forward_raw=0, digits=8),
        ManualClock(start),
    )
    used = probe.forward_raw(wrap_at)
    assert used is not None
    assert 0 < used < 10**6
    rig = await make_rig(
        start, history_start=history_start, digits=6, initial_forward_raw=10**6 - used
    )
    importer = rig.importer(days=2)
    await rig.catch_up(importer)
    importer.async_stop()

    rig.move_to(datetime(2026, 11, 21, 6, 10, tzinfo=JST))
    restarted = rig.importer(days=2)
    await rig.catch_up(restarted)
    rows = await rig.rows(restarted, Direction.IMPORT)

    starts = [start_of(r) for r in rows]
    assert starts == hours(starts[0], datetime(2026, 11, 21, 5, 0, tzinfo=JST))
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)
    by_start = {start_of(r): r for r in rows}
    # The register did wrap (state drops) while the sum kept growing.
    assert (
        by_start[datetime(2026, 11, 21, 1, 0, tzinfo=JST)]["state"]
        < by_start[datetime(2026, 11, 20, 23, 0, tzinfo=JST)]["state"]
    )
    assert all(b["sum"] >= a["sum"] for a, b in itertools.pairwise(rows))


async def test_meter_with_shorter_retention(make_rig: Any) -> None:
    """A meter keeping 10 days: those are imported, older days are skipped, not zeroed."""
    rig = await make_rig(START, retention_days=10)
    importer = rig.importer(days=44)
    await rig.catch_up(importer)
    rows = await rig.rows(importer, Direction.IMPORT)
    assert [start_of(r) for r in rows] == hours(
        datetime(2026, 11, 10, 0, 0, tzinfo=JST), datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    )
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)
    assert importer.status.days_imported == 11
    assert importer.status.days_skipped == 33


async def test_nothing_before_service_start(make_rig: Any) -> None:
    """Days before the B-route service started are skipped; the series starts there."""
    service_start = datetime(2026, 11, 18, 13, 0, tzinfo=JST)
    rig = await make_rig(START, service_start=service_start, reverse_metering=False)
    importer = rig.importer(days=5)
    await rig.catch_up(importer)
    rows = await rig.rows(importer, Direction.IMPORT)
    assert [start_of(r) for r in rows] == hours(
        service_start, datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    )
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)
    assert importer.status.days_skipped == 2
    # No reverse metering: no export statistic at all.
    assert await rig.rows(importer, Direction.EXPORT) == []


async def test_wrong_meter_clock_postpones(make_rig: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A meter clock 3 hours off files readings under wrong hours: wait, write nothing."""
    rig = await make_rig(START)
    rig.move_to(START, meter_skew=timedelta(hours=3))
    importer = rig.importer(days=2)
    await rig.catch_up(importer)
    await rig.catch_up(importer)
    assert importer.status.state is HistoryState.POSTPONED
    assert importer.status.next_attempt is not None
    assert await rig.rows(importer, Direction.IMPORT) == []
    # Said once, not on every attempt.
    assert caplog.text.count("postponed") == 1

    rig.move_to(START + timedelta(minutes=30))
    await rig.catch_up(importer)
    assert importer.status.state is HistoryState.IDLE
    rows = await rig.rows(importer, Direction.IMPORT)
    assert start_of(rows[-1]) == datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)


async def test_backfill_crossing_midnight(make_rig: Any) -> None:
    """The meter's day changes in the middle of a backfill: day offsets stay right."""
    start = datetime(2026, 11, 20, 23, 57, 30, tzinfo=JST)
    rig = await make_rig(start)
    importer = rig.importer(days=4)

    moved = asyncio.Event()

    def cross_midnight() -> None:
        # Two days read at 23:57:30; the rest after the meter's midnight.
        if importer.status.days_read == 2 and not moved.is_set():
            rig.move_to(start + timedelta(minutes=4))
            moved.set()

    remove = importer.async_add_listener(cross_midnight)
    await rig.catch_up(importer)
    remove()
    assert moved.is_set()
    rows = await rig.rows(importer, Direction.IMPORT)
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)
    assert start_of(rows[0]) == datetime(2026, 11, 17, 0, 0, tzinfo=JST)

    # The next run adds the hour that ended at the meter's midnight.
    await rig.catch_up(importer)
    rows = await rig.rows(importer, Direction.IMPORT)
    assert start_of(rows[-1]) == datetime(2026, 11, 20, 23, 0, tzinfo=JST)
    assert [start_of(r) for r in rows] == hours(start_of(rows[0]), start_of(rows[-1]))
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)


async def test_failure_is_retried_not_dropped(make_rig: Any) -> None:
    """No session (radio lost): the job waits with a retry and resumes afterwards."""
    rig = await make_rig(START)
    session = rig.source.connection
    rig.source.connection = None
    importer = rig.importer(days=2)
    await rig.catch_up(importer)
    assert importer.status.state is HistoryState.RETRYING
    assert importer.status.next_attempt is not None

    rig.source.connection = session
    await rig.catch_up(importer)
    assert importer.status.state is HistoryState.IDLE
    rows = await rig.rows(importer, Direction.IMPORT)
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)
    assert start_of(rows[-1]) == datetime(2026, 11, 20, 9, 0, tzinfo=JST)


async def test_meter_reboot_mid_backfill_heals_without_duplicates(make_rig: Any) -> None:
    """The meter reboots (and forgets its E5 day) halfway: nothing wrong is stored."""
    rig = await make_rig(START, pty=True)
    importer = rig.importer(days=8)
    rebooted = asyncio.Event()

    def reboot() -> None:
        if importer.status.days_read == 3 and not rebooted.is_set():
            rig.sim.faults.meter_reboot(2.0)
            rebooted.set()

    remove = importer.async_add_listener(reboot)
    await rig.catch_up(importer)
    remove()
    assert rebooted.is_set()
    # Either the session rode it out or the job is waiting to retry; a retry (timer or
    # coordinator recovery) finishes the series.
    while importer.status.state is not HistoryState.IDLE:
        await asyncio.sleep(0.5)
        await rig.catch_up(importer)
    rows = await rig.rows(importer, Direction.IMPORT)
    assert [start_of(r) for r in rows] == hours(
        datetime(2026, 11, 13, 0, 0, tzinfo=JST), datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    )
    await assert_rows_match_meter(rig, rows, Direction.IMPORT, base_sum=0.0)


async def test_live_polls_interleave_with_the_backfill(make_rig: Any) -> None:
    """Scaled targets: 1 s meter latency -> 0.1 s here, 30 s poll interval -> 1 s.

    44 days must take at most 3 minutes at 1 s latency (18 s here), and no live poll
    may wait longer than one poll interval, because every history request goes
    through the session on its own.
    """
    latency = 0.1
    interval = 1.0
    rig = await make_rig(START, latency=latency)
    session = rig.source.connection
    assert session is not None
    importer = rig.importer(days=44)
    waits: list[float] = []
    loop = asyncio.get_running_loop()

    async def poll() -> None:
        while True:
            began = loop.time()
            await session.client.get(LV_METER_EOJ, (0xE7,))
            waits.append(loop.time() - began)
            await asyncio.sleep(interval)

    poller = asyncio.create_task(poll())
    began = loop.time()
    await rig.catch_up(importer)
    elapsed = loop.time() - began
    poller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poller

    assert importer.status.state is HistoryState.IDLE
    assert importer.status.round_trips <= 90
    assert elapsed <= 180 * latency
    assert len(waits) >= 5
    assert max(waits) < interval


async def test_import_reaches_further_back_later(make_rig: Any) -> None:
    """2 days on setup, 5 days asked later: one continuous series over the 5 days."""
    rig = await make_rig(START)
    importer = rig.importer(days=2)
    await rig.catch_up(importer)
    importer.async_request_import(5)
    await importer.async_wait_idle()
    await rig.catch_up(importer)
    for direction in Direction:
        rows = await rig.rows(importer, direction)
        assert [start_of(r) for r in rows] == hours(
            datetime(2026, 11, 16, 0, 0, tzinfo=JST), datetime(2026, 11, 20, 9, 0, tzinfo=JST)
        )
        await assert_rows_match_meter(rig, rows, direction, base_sum=0.0)
