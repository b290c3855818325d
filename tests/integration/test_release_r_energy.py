"""Release R meters: the energy entities follow the 1-minute registers (D0).

Expected values are the simulator's ground truth (``minute_registers``) scaled with
its configured coefficient and unit, never the integration's own numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from homeassistant.const import STATE_UNAVAILABLE
import pytest

from simulator import ManualClock
from tests.fixtures import METER_TIME, entry_for, ha_clock_follows

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
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    clock = ManualClock(METER_TIME)
    ha_clock_follows(monkeypatch, clock)
    sim = await make_simulator(clock=clock, release=release)
    entry = entry_for(sim, history_days=1)
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


@pytest.mark.parametrize(("stamp_skew", "used"), [(-600, False), (120, False), (-180, True)])
async def test_a_d0_stamped_far_from_the_meter_time_is_not_taken(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    stamp_skew: float,
    used: bool,
) -> None:
    """Outside 5 minutes behind / 1 minute ahead, the poll falls back to E0/E3."""
    clock = ManualClock(METER_TIME)
    ha_clock_follows(monkeypatch, clock)
    sim = await make_simulator(clock=clock, release="R", unit_code=0x03, d0_stamp_skew=stamp_skew)
    entry = entry_for(sim, history_days=1)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    clock.advance(75)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    minute = sim.meter.latest_minute()
    if used:
        forward, reverse = sim.meter.forward_kwh(minute), sim.meter.reverse_kwh(minute)
        stamp = minute + timedelta(seconds=stamp_skew)
        assert datetime.fromisoformat(_state(hass, READING_TIME)) == stamp
    else:
        # This second's registers, on no minute.
        forward, reverse = sim.meter.forward_kwh(), sim.meter.reverse_kwh()
        assert _state(hass, READING_TIME) == STATE_UNAVAILABLE
    assert forward is not None
    assert reverse is not None
    assert float(_state(hass, IMPORT)) == pytest.approx(float(forward))
    assert float(_state(hass, EXPORT)) == pytest.approx(float(reverse))


async def test_the_meter_clock_offset_measured_by_the_history_job_counts(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A meter 8 minutes ahead: its D0 is refused on Home Assistant's clock alone and
    taken once the history job has measured the meter's clock."""
    clock = ManualClock(METER_TIME)
    ha_clock_follows(monkeypatch, clock)
    sim = await make_simulator(clock=clock, release="R", clock_skew=480.0)
    entry = entry_for(sim, history_days=1)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    # The first poll came before the history job: no offset, D0 eight minutes ahead.
    assert _state(hass, READING_TIME) == STATE_UNAVAILABLE
    history = entry.runtime_data.history
    await history.async_wait_idle()
    assert history.clock_offset is not None
    assert abs(history.clock_offset - timedelta(minutes=8)) <= timedelta(seconds=30)
    clock.advance(75)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    minute = sim.meter.latest_minute()
    assert datetime.fromisoformat(_state(hass, READING_TIME)) == minute
    forward = sim.meter.forward_kwh(minute)
    assert forward is not None
    assert float(_state(hass, IMPORT)) == pytest.approx(float(forward))
