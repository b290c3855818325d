"""Entities and their states, checked against the simulator's ground truth."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
import logging
from typing import TYPE_CHECKING

from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import Event, EventStateChangedData, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.broute_meter import coordinator as coordinator_module
from custom_components.broute_meter.broute import LinkState
from custom_components.broute_meter.const import CONF_IDENTITY, DOMAIN
from simulator import JST, ManualClock, MeterConfig, SimulatedMeter, Simulator

from ..fixtures import short_timeouts
from ..helpers import refresh, set_up, state
from .conftest import METER_TIME, SimFactory, entry_for

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from syrupy.assertion import SnapshotAssertion

POWER = "sensor.simulated_meter_power"
CURRENT_R = "sensor.simulated_meter_current_phase_r"
CURRENT_T = "sensor.simulated_meter_current_phase_t"
IMPORT = "sensor.simulated_meter_energy_import"
EXPORT = "sensor.simulated_meter_energy_export"
FIXED_IMPORT = "sensor.simulated_meter_energy_import_30_minute_reading"
FIXED_IMPORT_TIME = "sensor.simulated_meter_energy_import_reading_time"
FIXED_EXPORT = "sensor.simulated_meter_energy_export_30_minute_reading"
FAULT = "binary_sensor.simulated_meter_meter_fault"


def kwh(state: str) -> Decimal:
    """A state as an exact decimal (floats of register multiples are exact enough)."""
    return Decimal(state).quantize(Decimal("0.0001"))


def truth(value: Decimal | None) -> Decimal:
    assert value is not None
    return value.quantize(Decimal("0.0001"))


async def setup(hass: HomeAssistant, sim: Simulator, **options: object) -> MockConfigEntry:
    return await set_up(hass, entry_for(sim, **options))


async def test_states_match_the_meter(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Every value equals what the simulated meter holds, scaled per D3 x E1."""
    meter = simulator.meter
    assert int(state(hass, POWER)) == meter.power_w()
    r, t = meter.currents_a()
    assert float(state(hass, CURRENT_R)) == r
    assert float(state(hass, CURRENT_T)) == t
    assert kwh(state(hass, IMPORT)) == truth(meter.forward_kwh())
    assert kwh(state(hass, EXPORT)) == truth(meter.reverse_kwh())

    boundary = meter.latest_boundary()
    raw = meter.slot_raw("forward", boundary)
    assert raw is not None
    assert kwh(state(hass, FIXED_IMPORT)) == truth(raw * meter.kwh_per_raw)
    assert datetime.fromisoformat(state(hass, FIXED_IMPORT_TIME)) == boundary
    raw = meter.slot_raw("reverse", boundary)
    assert raw is not None
    assert kwh(state(hass, FIXED_EXPORT)) == truth(raw * meter.kwh_per_raw)
    assert state(hass, FAULT) == STATE_OFF


async def test_entities_and_device(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Unique IDs, names, classes, categories; the device carries the meter's identity."""
    entries = sorted(
        er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id),
        key=lambda entry: entry.unique_id,
    )
    assert [
        (e.unique_id, e.translation_key, e.entity_category, e.disabled_by) for e in entries
    ] == snapshot(name="registry")
    for entity in entries:
        if not entity.disabled_by:
            assert hass.states.get(entity.entity_id) == snapshot(name=entity.entity_id)
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, "001d129012345678"), loaded_entry.entry_id
    )
    assert device is not None
    # The simulator's meter: maker code 0x000016, serial SIM00000001, release J.
    assert device.serial_number == "SIM00000001"
    assert device.manufacturer
    assert device.sw_version is not None
    assert device.sw_version.endswith(" J")
    assert device.model == "Low-voltage smart electric energy meter"


async def test_diagnostic_entities_disabled_by_default(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Signal strength and channel exist but stay disabled until the user wants them."""
    for key in ("rssi", "channel"):
        entity_id = entity_registry.async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"001d129012345678_{key}"
        )
        assert entity_id is not None
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_diagnostic_entities_when_enabled(
    hass: HomeAssistant, simulator: Simulator, entity_registry: er.EntityRegistry
) -> None:
    """Enabled, they show the channel of the PAN and the RSSI of its LQI."""
    cfg = simulator.config
    for key in ("rssi", "channel"):
        entity_registry.async_get_or_create(
            Platform.SENSOR, DOMAIN, f"{cfg.mac.lower()}_{key}", disabled_by=None
        )
    await setup(hass, simulator)
    rssi = entity_registry.async_get_entity_id(Platform.SENSOR, DOMAIN, f"{cfg.mac.lower()}_rssi")
    channel = entity_registry.async_get_entity_id(
        Platform.SENSOR, DOMAIN, f"{cfg.mac.lower()}_channel"
    )
    assert rssi is not None
    assert channel is not None
    assert int(state(hass, channel)) == cfg.channel
    # RSSI (dBm) = 0.275 x LQI - 104.27 (protocol reference, EPANDESC).
    assert float(state(hass, rssi)) == pytest.approx(0.275 * cfg.lqi - 104.27, abs=0.05)


async def test_single_phase_meter_without_reverse(
    hass: HomeAssistant, make_simulator: SimFactory, entity_registry: er.EntityRegistry
) -> None:
    """Two-wire meters get no T-phase current; no export sensors without E3."""
    sim = await make_simulator(single_phase=True, reverse_metering=False)
    entry = await setup(hass, sim)
    keys = {
        e.unique_id.removeprefix("001d129012345678_")
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert "current_r" in keys
    assert "energy_import" in keys
    assert not keys & {
        "current_t",
        "energy_export",
        "fixed_time_energy_export",
        "fixed_time_energy_export_time",
    }
    assert float(state(hass, "sensor.simulated_meter_current_phase_r")) == sim.meter.currents_a()[0]


@pytest.mark.parametrize(
    ("coefficient", "unit_code", "digits"),
    [(None, 0x01, 6), (10, 0x02, 8), (1, 0x00, 7), (3, 0x03, 5)],
)
async def test_scaling(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    coefficient: int | None,
    unit_code: int,
    digits: int,
) -> None:
    """kWh = register x D3 x E1 for every unit; no D3 means a coefficient of 1."""
    sim = await make_simulator(
        coefficient=coefficient, unit_code=unit_code, digits=digits, initial_forward_raw=4321
    )
    await setup(hass, sim)
    assert kwh(state(hass, IMPORT)) == truth(sim.meter.forward_kwh())
    assert kwh(state(hass, EXPORT)) == truth(sim.meter.reverse_kwh())


async def test_values_follow_the_meter(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """After time passes on the meter, a poll shows the new registers and power."""
    clock = ManualClock(METER_TIME)
    sim = await make_simulator(clock=clock)
    entry = await setup(hass, sim)
    before = kwh(state(hass, IMPORT))
    clock.advance(8 * 3600)  # 12:10 -> 20:10, the evening peak: the register moved on
    sim.config.load_override_w = 2345
    await refresh(hass, entry)
    assert int(state(hass, POWER)) == 2345
    assert kwh(state(hass, IMPORT)) == truth(sim.meter.forward_kwh())
    assert kwh(state(hass, IMPORT)) > before


async def test_register_wrap_is_a_new_cycle(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """At 10^D7 the register wraps: the sensor drops to the small new value."""
    clock = ManualClock(METER_TIME)
    # Four digits of 0.1 kWh wrap at 1000.0 kWh. The simulator's register is the
    # initial value plus what its load model consumed so far: pick the initial value
    # that puts it at 999.0 kWh now.
    consumed = SimulatedMeter(
        MeterConfig(digits=8, initial_forward_raw=0), ManualClock(METER_TIME)
    ).forward_raw()
    assert consumed is not None
    sim = await make_simulator(
        clock=clock, digits=4, initial_forward_raw=(9_990 - consumed) % 10_000
    )
    entry = await setup(hass, sim)
    assert kwh(state(hass, IMPORT)) == Decimal("999.0")
    clock.advance(8 * 3600)
    await refresh(hass, entry)
    raw = sim.meter.forward_raw()
    assert raw is not None
    assert raw < 9_990  # the simulator did wrap
    assert kwh(state(hass, IMPORT)) == truth(sim.meter.forward_kwh())


async def test_fixed_time_notification_updates_between_polls(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """The meter's 30-minute INF updates EA/EB, and moves the registers on, without a poll."""
    clock = ManualClock(METER_TIME)
    sim = await make_simulator(clock=clock)
    await refresh(hass, await setup(hass, sim))
    old_time = datetime.fromisoformat(state(hass, FIXED_IMPORT_TIME))
    clock.advance(25 * 60)  # 12:10 -> 12:35 crosses 12:30: the meter sends EA/EB
    await hass.async_block_till_done()
    for _ in range(50):
        if datetime.fromisoformat(state(hass, FIXED_IMPORT_TIME)) != old_time:
            break
        await sim_wait(hass)
    boundary = datetime(2026, 11, 20, 12, 30, tzinfo=JST)
    assert datetime.fromisoformat(state(hass, FIXED_IMPORT_TIME)) == boundary
    raw = sim.meter.slot_raw("forward", boundary)
    assert raw is not None
    assert kwh(state(hass, FIXED_IMPORT)) == truth(raw * sim.meter.kwh_per_raw)
    # The 12:30 reading is newer than the 12:10 poll: the live register moved on too.
    assert kwh(state(hass, IMPORT)) == truth(raw * sim.meter.kwh_per_raw)


async def sim_wait(hass: HomeAssistant) -> None:
    """Give the simulated radio a moment (its timings are compressed to milliseconds)."""
    await asyncio.sleep(0.01)
    await hass.async_block_till_done()


async def test_unavailable_and_back(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lost dongle makes the entities unavailable, logged once; they come back by themselves."""
    # A request meets the link under repair and fails at once; short timeouts keep the
    # poll that first meets the outage quick too.
    short_timeouts(monkeypatch)
    sim = await make_simulator()
    entry = await setup(hass, sim)
    assert state(hass, POWER) != STATE_UNAVAILABLE
    caplog.set_level(logging.INFO, logger="custom_components.broute_meter")
    caplog.clear()

    sim.faults.disconnect(3)
    await sim_wait(hass)
    await refresh(hass, entry)
    assert state(hass, POWER) == STATE_UNAVAILABLE
    assert state(hass, IMPORT) == STATE_UNAVAILABLE
    assert state(hass, FAULT) == STATE_UNAVAILABLE
    # Logged once, by whichever saw the outage first: the link's report or the poll.
    went = [
        r
        for r in caplog.records
        if r.getMessage().startswith(("Error fetching", "Error requesting"))
    ]
    assert len(went) == 1

    for _ in range(100):
        await asyncio.sleep(0.1)
        await refresh(hass, entry)
        if state(hass, POWER) != STATE_UNAVAILABLE:
            break
    assert int(state(hass, POWER)) == sim.meter.power_w()
    assert kwh(state(hass, IMPORT)) == truth(sim.meter.forward_kwh())
    back = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(back) == 1
    # Neither message carries a credential.
    for record in caplog.records:
        assert "0123456789AB" not in record.getMessage()
        assert "00112233445566778899AABBCCDD1234" not in record.getMessage()


async def test_a_repaired_link_is_polled_at_once(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A poll that met the link under repair fails; the next comes when the link is back.

    The polling interval is an hour, so only the link's UP report can bring the values
    back within the test.
    """
    sim = await make_simulator()
    entry = await setup(hass, sim, scan_interval=3600)
    link = entry.runtime_data.coordinator.connection.link
    assert state(hass, POWER) != STATE_UNAVAILABLE
    reconnects = link.stats.reconnects

    sim.faults.disconnect(0.5)  # the port is gone for half a second: a repair, not a hold
    for _ in range(100):
        await sim_wait(hass)
        if link.status.state is LinkState.REPAIRING:
            break
    await refresh(hass, entry)
    assert state(hass, POWER) == STATE_UNAVAILABLE

    for _ in range(300):
        await sim_wait(hass)
        if state(hass, POWER) != STATE_UNAVAILABLE:
            break
    assert link.stats.reconnects == reconnects + 1
    assert int(state(hass, POWER)) == sim.meter.power_w()


async def test_power_threshold_automation(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """A numeric_state trigger fires when the household's load crosses a threshold."""
    sim = await make_simulator()
    sim.config.load_override_w = 800
    entry = await setup(hass, sim)
    assert await async_setup_component(
        hass,
        AUTOMATION_DOMAIN,
        {
            AUTOMATION_DOMAIN: {
                "trigger": {"trigger": "numeric_state", "entity_id": POWER, "above": 3000},
                "action": {
                    "action": "test.fired",
                    "data": {"power": "{{ trigger.to_state.state }}"},
                },
            }
        },
    )
    calls = async_mock_service(hass, "test", "fired")
    await refresh(hass, entry)
    assert calls == []
    sim.config.load_override_w = 3500
    await refresh(hass, entry)
    assert [call.data["power"] for call in calls] == [3500]
    # Staying above the threshold does not fire again.
    sim.config.load_override_w = 3600
    await refresh(hass, entry)
    assert len(calls) == 1


async def test_poll_timer_reads_the_meter(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """The coordinator polls on its own at the configured interval."""
    sim = await make_simulator()
    sim.config.load_override_w = 111
    await setup(hass, sim)
    assert int(state(hass, POWER)) == 111
    sim.config.load_override_w = 222
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    for _ in range(100):
        await sim_wait(hass)
        if state(hass, POWER) == "222":
            break
    assert int(state(hass, POWER)) == 222


async def test_states_over_a_pty(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """The same values when the dongle is a serial device (a pty) instead of a socket."""
    sim = await make_simulator(pty=True)
    await setup(hass, sim)
    assert int(state(hass, POWER)) == sim.meter.power_w()
    assert kwh(state(hass, IMPORT)) == truth(sim.meter.forward_kwh())


async def test_device_of_an_unlisted_maker(
    hass: HomeAssistant, make_simulator: SimFactory, device_registry: dr.DeviceRegistry
) -> None:
    """A maker code missing from the table still names the manufacturer, by its code."""
    sim = await make_simulator(maker_code=0xFFFFF0, release="F")
    entry = await setup(hass, sim)
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, "001d129012345678"), entry.entry_id
    )
    assert device is not None
    assert device.manufacturer == "ECHONET maker 0xFFFFF0"
    assert device.sw_version == "ECHONET Lite Release F"


async def test_first_values_need_one_poll_frame_after_the_static_read(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A restart (cached PAN) shows power and energy after the join and two Get frames.

    One frame of static properties (at most six EPCs), one poll frame with the live
    values and the release letter; the fixed-time registers wait for the next poll.
    """
    sendto_before = simulator.stats.commands.get("SKSENDTO", 0)
    scans_before = simulator.stats.scans
    sent_when_shown: list[int] = []

    @callback
    def first_power(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == POWER and new is not None and not sent_when_shown:
            sent_when_shown.append(simulator.stats.commands.get("SKSENDTO", 0))

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, first_power)
    entry = await setup(hass, simulator)
    unsubscribe()
    assert simulator.stats.scans == scans_before
    # Counted when the power entity first appears: the history job may start after.
    assert [n - sendto_before for n in sent_when_shown] == [2]
    assert int(state(hass, POWER)) == simulator.meter.power_w()
    assert kwh(state(hass, IMPORT)) == truth(simulator.meter.forward_kwh())
    assert state(hass, FIXED_IMPORT) == STATE_UNAVAILABLE
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.sw_version is not None
    assert simulator.config.release in device.sw_version


async def test_fault_status_follows_the_meter(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """The meter's own fault flag (88: 0x41 fault, 0x42 none) drives the problem sensor."""
    assert state(hass, FAULT) == STATE_OFF
    simulator.config.fault = True
    await refresh(hass, loaded_entry)
    assert state(hass, FAULT) == STATE_ON
    simulator.config.fault = False
    await refresh(hass, loaded_entry)
    assert state(hass, FAULT) == STATE_OFF


async def test_a_restart_needs_only_the_poll_frame(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identity is kept in the entry: after a restart the first frame is the live poll.

    It is checked again (one frame) once the values are shown.
    """
    entry = await setup(hass, simulator)
    monkeypatch.setattr(coordinator_module, "IDENTITY_CHECK_DELAY", 0.3)
    stored = entry.data[CONF_IDENTITY]
    assert stored["complete"] is True
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    sendto_before = simulator.stats.commands.get("SKSENDTO", 0)
    sent_when_shown: list[int] = []

    @callback
    def first_power(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == POWER and new is not None and not sent_when_shown:
            sent_when_shown.append(simulator.stats.commands.get("SKSENDTO", 0))

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, first_power)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    unsubscribe()
    assert [n - sendto_before for n in sent_when_shown] == [1]
    assert int(state(hass, POWER)) == simulator.meter.power_w()
    assert kwh(state(hass, IMPORT)) == truth(simulator.meter.forward_kwh())
    # The background check reads the identity and finds the same meter.
    for _ in range(200):
        await sim_wait(hass)
        if simulator.stats.commands.get("SKSENDTO", 0) - sendto_before >= 2:
            break
    assert simulator.stats.commands.get("SKSENDTO", 0) - sendto_before == 2
    assert entry.data[CONF_IDENTITY] == stored


async def test_a_swapped_meter_is_read_again(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored identity the meter contradicts (another serial) is replaced after a reload."""
    monkeypatch.setattr(coordinator_module, "IDENTITY_CHECK_DELAY", 0.05)
    entry = await setup(hass, simulator)
    truth_identity = entry.data[CONF_IDENTITY]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, CONF_IDENTITY: {**truth_identity, "serial_number": "OLD METER"}},
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for _ in range(200):
        await sim_wait(hass)
        if entry.data.get(CONF_IDENTITY) == truth_identity:
            break
    assert entry.data[CONF_IDENTITY] == truth_identity
    assert int(state(hass, POWER)) == simulator.meter.power_w()


async def test_an_unreadable_stored_identity_is_read_from_the_meter(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A stored identity that does not parse (an older or damaged entry) is not trusted:
    the entry reads the identity from the meter and stores it afresh."""
    entry = await setup(hass, simulator)
    truth_identity = entry.data[CONF_IDENTITY]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_IDENTITY: {"maker_code": "not a number"}}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data[CONF_IDENTITY] == truth_identity
    assert int(state(hass, POWER)) == simulator.meter.power_w()
    assert kwh(state(hass, IMPORT)) == truth(simulator.meter.forward_kwh())


async def test_identity_check_is_postponed_while_the_meter_is_silent(
    hass: HomeAssistant,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The background identity check meets a silent meter: nothing is forgotten or reloaded."""
    entry = await setup(hass, simulator)
    stored = entry.data[CONF_IDENTITY]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    short_timeouts(monkeypatch)
    monkeypatch.setattr(coordinator_module, "IDENTITY_CHECK_DELAY", 0.05)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert int(state(hass, POWER)) == simulator.meter.power_w()
    sendto_before = simulator.stats.commands.get("SKSENDTO", 0)
    simulator.meter_offline(5.0)
    caplog.set_level(logging.DEBUG, logger="custom_components.broute_meter")
    for _ in range(300):
        await sim_wait(hass)
        if "Identity check postponed" in caplog.text:
            break
    assert "Identity check postponed" in caplog.text
    assert simulator.stats.commands.get("SKSENDTO", 0) > sendto_before  # it did ask
    assert entry.data[CONF_IDENTITY] == stored
    assert entry.state is ConfigEntryState.LOADED
