"""Values the soak found wrong, pinned down one by one against the simulator's truth.

* A Get_SNA that leaves power/current out must not show the previous values as now.
* After the register wraps at 10^D7, a half-hour reading taken before the wrap (a late
  or repeated INF, or EA read in the same poll) must not carry the energy back up to
  the old cycle: a TOTAL_INCREASING sensor would count a whole register range twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from homeassistant.const import STATE_UNAVAILABLE
import pytest

from simulator import ManualClock, MeterConfig, SimulatedMeter

from ..helpers import refresh, set_up, state
from .conftest import METER_TIME, SimFactory, entry_for

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from simulator import Simulator

pytestmark = pytest.mark.usefixtures("integration", "session_timing", "unload_entries")

#: 19:10 meter time: the evening peak, when the import register moves fast.
EVENING = METER_TIME.replace(hour=19)
POWER = "sensor.simulated_meter_power"
CURRENT_R = "sensor.simulated_meter_current_phase_r"
IMPORT = "sensor.simulated_meter_energy_import"
FIXED_IMPORT = "sensor.simulated_meter_energy_import_30_minute_reading"


async def setup(hass: HomeAssistant, sim: Simulator) -> MockConfigEntry:
    return await set_up(hass, entry_for(sim))


async def test_get_sna_without_power_is_not_stale(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """The meter answers Get_SNA without E7/E8: power and current are unknown, not old."""
    sim = await make_simulator()
    sim.config.load_override_w = 1200
    entry = await setup(hass, sim)
    assert int(state(hass, POWER)) == 1200
    energy = state(hass, IMPORT)

    sim.config.load_override_w = 300
    sim.config.max_epcs_per_get = 0  # every property of the next Get comes back empty
    await refresh(hass, entry)
    assert state(hass, POWER) == STATE_UNAVAILABLE
    assert state(hass, CURRENT_R) == STATE_UNAVAILABLE
    # A cumulative register may stay at its last valid value.
    assert state(hass, IMPORT) == energy

    sim.config.max_epcs_per_get = 6
    await refresh(hass, entry)
    assert int(state(hass, POWER)) == 300
    assert float(state(hass, CURRENT_R)) == sim.meter.currents_a()[0]


def _wrapping_meter() -> tuple[MeterConfig, int]:
    """A 4-digit meter (0.01 kWh) that wraps between 19:30 and 19:50 meter time.

    Returns the config and how many counts it advances from 19:30 to 19:50.
    """
    probe = SimulatedMeter(
        MeterConfig(unit_code=0x02, digits=9, initial_forward_raw=0), ManualClock(EVENING)
    )
    at_1930 = probe.forward_raw(EVENING.replace(minute=30))
    at_1950 = probe.forward_raw(EVENING.replace(minute=50))
    assert at_1930 is not None
    assert at_1950 is not None
    step = at_1950 - at_1930
    assert step >= 2, "the load model must consume something in 20 minutes"
    modulus = 10_000
    # 19:30 sits just below the wrap, 19:50 just past it.
    initial = (modulus - step // 2 - at_1930) % modulus
    return MeterConfig(unit_code=0x02, digits=4, initial_forward_raw=initial), step


async def test_old_fixed_time_reading_after_a_wrap(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """EA from before the wrap, arriving after it, moves neither energy sensor back up."""
    config, _ = _wrapping_meter()
    clock = ManualClock(EVENING)  # 19:10
    sim = await make_simulator(clock=clock, config=config)
    entry = await setup(hass, sim)
    kwh = sim.meter.kwh_per_raw

    clock.advance(40 * 60)  # 19:50: the 19:30 push (pre-wrap) arrives, then a poll
    await asyncio.sleep(0.05)
    await hass.async_block_till_done()
    await refresh(hass, entry)
    now_raw = sim.meter.forward_raw()
    boundary_raw = sim.meter.slot_raw("forward", EVENING.replace(minute=30))
    assert now_raw is not None
    assert boundary_raw is not None
    assert now_raw < boundary_raw  # the meter did wrap in between
    assert Decimal(state(hass, IMPORT)) == now_raw * kwh

    # The meter repeats its 19:30 notification (or it arrives late).
    sim.faults.push_fixed_time()
    for _ in range(20):
        await asyncio.sleep(0.01)
        await hass.async_block_till_done()
    assert Decimal(state(hass, IMPORT)) == now_raw * kwh
    assert Decimal(state(hass, FIXED_IMPORT)) == boundary_raw * kwh

    # The 20:00 reading is past the wrap; a late 19:30 one must not undo it.
    clock.advance(timedelta(minutes=15).total_seconds())  # 20:05
    await asyncio.sleep(0.05)
    await hass.async_block_till_done()
    at_2000 = sim.meter.slot_raw("forward", EVENING.replace(hour=20, minute=0))
    assert at_2000 is not None
    assert Decimal(state(hass, FIXED_IMPORT)) == at_2000 * kwh
    clock.set(EVENING.replace(minute=40))
    sim.faults.push_fixed_time()  # EA(19:30) once more, after EA(20:00)
    for _ in range(20):
        await asyncio.sleep(0.01)
        await hass.async_block_till_done()
    assert Decimal(state(hass, FIXED_IMPORT)) == at_2000 * kwh
    assert Decimal(state(hass, IMPORT)) >= at_2000 * kwh


async def test_push_during_an_outage_does_not_revive_old_power(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A half-hour INF after a failed poll must not make the last power "available" again."""
    clock = ManualClock(EVENING)
    sim = await make_simulator(clock=clock)
    sim.config.load_override_w = 777
    entry = await setup(hass, sim)
    assert int(state(hass, POWER)) == 777
    coordinator = entry.runtime_data.coordinator
    coordinator.update_interval = None  # only this test's polls

    sim.faults.drop_replies(10)  # every attempt of the next poll goes unanswered
    await refresh(hass, entry)
    assert not coordinator.last_update_success
    assert state(hass, POWER) == STATE_UNAVAILABLE

    sim.faults.push_fixed_time()
    for _ in range(20):
        await asyncio.sleep(0.01)
        await hass.async_block_till_done()
    assert state(hass, POWER) == STATE_UNAVAILABLE
    assert state(hass, CURRENT_R) == STATE_UNAVAILABLE
