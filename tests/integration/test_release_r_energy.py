"""Release R meters: the energy entities follow the 1-minute registers (D0).

Expected values are the simulator's ground truth (``minute_registers``) scaled with
its configured coefficient and unit, never the integration's own numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from simulator import ManualClock
from tests.fixtures import METER_TIME, entry_for

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from tests.fixtures import SimFactory

IMPORT = "sensor.simulated_meter_energy_import"
EXPORT = "sensor.simulated_meter_energy_export"
READING_TIME = "sensor.simulated_meter_energy_reading_time"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


@pytest.mark.parametrize("release", ["R", "J"])
async def test_energy_entities_follow_the_minute_registers(
    hass: HomeAssistant, make_simulator: SimFactory, release: str
) -> None:
    clock = ManualClock(METER_TIME)
    sim = await make_simulator(clock=clock, release=release)
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    for _ in range(3):
        clock.advance(75)
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        if release == "R":
            minute = sim.meter.latest_minute()
            assert minute == sim.meter.minute_registers()[0]
            forward = sim.meter.forward_kwh(minute)
            reverse = sim.meter.reverse_kwh(minute)
            assert forward is not None
            assert reverse is not None
            assert float(_state(hass, IMPORT)) == pytest.approx(float(forward))
            assert float(_state(hass, EXPORT)) == pytest.approx(float(reverse))
            assert datetime.fromisoformat(_state(hass, READING_TIME)) == minute
        else:
            now_kwh = sim.meter.forward_kwh()
            assert now_kwh is not None
            assert float(_state(hass, IMPORT)) == pytest.approx(float(now_kwh))
            assert hass.states.get(READING_TIME) is None
