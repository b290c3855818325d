"""Hour ends handed to the history job: the row it would write from E2/E4, written at once.

The boundary registers come from the simulated meter's ground truth (``forward_raw``/
``reverse_raw`` at the boundary), as the coordinator would get them from D0 or EE.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from custom_components.broute_meter.broute.meters.low_voltage import (
    Direction as Flow,
    MinuteRegisters,
)
from custom_components.broute_meter.history import Direction, HistoryState
from simulator.timing import JST

from .conftest import start_of, truth

START = datetime(2026, 11, 20, 10, 17, tzinfo=JST)
TEN = START.replace(minute=0)


def _end(rig: Any, at: datetime) -> MinuteRegisters:
    return MinuteRegisters(
        at.replace(tzinfo=None),
        {Flow.FORWARD: rig.meter.forward_raw(at), Flow.REVERSE: rig.meter.reverse_raw(at)},
    )


async def test_an_hour_end_appends_the_row_the_history_run_writes(make_rig: Any) -> None:
    # The meter files its boundaries 10 minutes late, so E2 cannot close 10:00 at 11:03.
    rig = await make_rig(START, slot_delay=600.0)
    importer = rig.importer(days=1)
    await rig.catch_up(importer)
    rig.move_to(START.replace(hour=11, minute=3))
    await rig.catch_up(importer)
    for direction in Direction:
        assert start_of((await rig.rows(importer, direction))[-1]) == TEN - timedelta(hours=1)

    eleven = TEN + timedelta(hours=1)
    assert await importer.async_add_hour_ends([_end(rig, eleven)]) == 2
    await rig.catch_up(importer)  # waits for the recorder too
    fast = {d: await rig.rows(importer, d) for d in Direction}
    for direction in Direction:
        rows = fast[direction]
        assert start_of(rows[-1]) == TEN
        expected = truth(rig.meter, direction, TEN)
        assert expected is None  # the meter's history does not have 11:00 yet
        state = (
            rig.meter.forward_kwh(eleven)
            if direction is Direction.IMPORT
            else rig.meter.reverse_kwh(eleven)
        )
        assert rows[-1]["state"] == pytest.approx(float(state), abs=1e-9)
    # Handing the same end again writes nothing: the hour is stored.
    assert await importer.async_add_hour_ends([_end(rig, eleven)]) == 0

    # Once the meter has filed 11:00, a re-read of today writes the same row.
    rig.move_to(START.replace(hour=11, minute=15))
    importer.async_request_import(1)
    await importer.async_wait_idle()
    await rig.catch_up(importer)
    for direction in Direction:
        again = await rig.rows(importer, direction)
        assert again[-1]["start"] == fast[direction][-1]["start"]
        assert again[-1]["state"] == fast[direction][-1]["state"]
        assert again[-1]["sum"] == pytest.approx(fast[direction][-1]["sum"], abs=1e-9)
        expected = truth(rig.meter, direction, TEN)
        assert expected is not None
        assert again[-1]["sum"] - again[-2]["sum"] == pytest.approx(float(expected[1]), abs=1e-6)


async def test_no_row_after_a_missing_hour_nor_while_postponed(make_rig: Any) -> None:
    rig = await make_rig(START, slot_delay=600.0)
    importer = rig.importer(days=1)
    await rig.catch_up(importer)
    # Last stored row: 09:00-10:00. 12:00 would close 11:00-12:00, after a missing 10:00.
    rig.move_to(START.replace(hour=12, minute=3))
    noon = TEN + timedelta(hours=2)
    assert await importer.async_add_hour_ends([_end(rig, noon)]) == 0
    # A meter clock the history job distrusts: nothing either.
    rig.move_to(START.replace(hour=11, minute=3), meter_skew=timedelta(minutes=40))
    await rig.catch_up(importer)
    assert importer.status.state is HistoryState.POSTPONED
    assert await importer.async_add_hour_ends([_end(rig, TEN + timedelta(hours=1))]) == 0
    await rig.catch_up(importer)
    for direction in Direction:
        assert start_of((await rig.rows(importer, direction))[-1]) == TEN - timedelta(hours=1)
