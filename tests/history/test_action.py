"""The integration as loaded by Home Assistant: history job at setup and the action."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.broute_meter import coordinator as coordinator_module
from custom_components.broute_meter.broute import ConnectionTiming, PanDescriptor
from custom_components.broute_meter.const import (
    CONF_HISTORY_DAYS,
    CONF_PAN,
    CONF_PASSWORD,
    CONF_RBID,
    DOMAIN,
)
from custom_components.broute_meter.history import Direction, HistoryImporter, HistoryState
from simulator import (
    TEST_PASSWORD,
    TEST_RBID,
    DongleModel,
    ManualClock,
    MeterConfig,
    Simulator,
    TimingModel,
)

from .conftest import hours, start_of, truth

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from homeassistant.core import HomeAssistant


@pytest.fixture(autouse=True)
def fast_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions opened by the integration use compressed timings."""
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", ConnectionTiming.fast())


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncIterator[Simulator]:
    """A meter whose clock agrees with Home Assistant's (the real one here)."""
    sim = Simulator(
        model=DongleModel.BP35A1,
        meter=MeterConfig(),
        rbid=TEST_RBID,
        password=TEST_PASSWORD,
        timing=TimingModel.fast(),
        clock=ManualClock(dt_util.utcnow()),
    )
    await sim.start_pty()
    yield sim
    await sim.stop()


@pytest.fixture
async def entry(hass: HomeAssistant, simulator: Simulator) -> AsyncIterator[MockConfigEntry]:
    """The simulator's entry, loaded, with its first history import finished."""
    cfg = simulator.config
    pan = PanDescriptor(channel=cfg.channel, pan_id=cfg.pan_id, mac=cfg.mac, lqi=cfg.lqi)
    assert simulator.path is not None
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Simulated meter",
        unique_id=cfg.mac.lower(),
        data={
            CONF_DEVICE: simulator.path,
            CONF_RBID: TEST_RBID,
            CONF_PASSWORD: TEST_PASSWORD,
            CONF_PAN: pan.as_dict(),
        },
        options={CONF_HISTORY_DAYS: 3},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await history_of(entry).async_wait_idle()
    await async_wait_recording_done(hass)
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


def history_of(entry: MockConfigEntry) -> HistoryImporter:
    history = entry.runtime_data.history
    assert isinstance(history, HistoryImporter)
    return history


async def import_rows(hass: HomeAssistant, entry: MockConfigEntry) -> list[dict[str, Any]]:
    stat_id = f"{DOMAIN}:{entry.unique_id}_energy_import"
    result = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        dt_util.utcnow() - timedelta(days=10),
        None,
        {stat_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return list(result.get(stat_id, []))


async def test_setup_imports_the_configured_days(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Setting up an entry fills history_days days (today included) on a pty."""
    history = history_of(entry)
    assert history.status.state is HistoryState.IDLE
    assert history.statistic_id(Direction.IMPORT) == "broute_meter:001d129012345678_energy_import"
    rows = await import_rows(hass, entry)
    now = simulator.meter.now()
    first = (now - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    last = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    assert [start_of(r) for r in rows] == hours(first, last)
    for row in rows:
        expected = truth(simulator.meter, Direction.IMPORT, start_of(row))
        assert expected is not None
        assert row["state"] == pytest.approx(float(expected[0]))
    # The diagnostic sensor of how far the statistics reach is there, but disabled by
    # default: each top-up would otherwise be an entry in the Activity panel.
    registered = er.async_get(hass).async_get("sensor.simulated_meter_history_imported_until")
    assert registered is not None
    assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_action_rewrites_days_without_duplicates(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """import_history re-reads the days: same rows, same sums, nothing doubled."""
    before = await import_rows(hass, entry)
    round_trips = history_of(entry).status.round_trips
    await hass.services.async_call(
        DOMAIN, "import_history", {"days": 2, "config_entry_id": entry.entry_id}, blocking=True
    )
    await history_of(entry).async_wait_idle()
    await async_wait_recording_done(hass)
    after = await import_rows(hass, entry)
    assert [(r["start"], r["state"]) for r in after] == [(r["start"], r["state"]) for r in before]
    for old, new in zip(before, after, strict=True):
        assert new["sum"] == pytest.approx(old["sum"], abs=1e-6)
    # 2 days = 1 clock read + 2 x 2 round trips.
    assert history_of(entry).status.round_trips - round_trips == 5
    # Without config_entry_id every loaded meter is served.
    await hass.services.async_call(DOMAIN, "import_history", {"days": 1}, blocking=True)
    await history_of(entry).async_wait_idle()
    assert history_of(entry).status.state is HistoryState.IDLE


@pytest.mark.parametrize("days", [0, 100, -3])
async def test_action_rejects_bad_days(
    hass: HomeAssistant, entry: MockConfigEntry, days: int
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "import_history", {"days": days}, blocking=True)
    assert err.value.translation_key == "invalid_days"
    assert err.value.translation_placeholders == {"days": str(days), "min": "1", "max": "99"}


async def test_action_rejects_unknown_or_unloaded_entries(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "import_history", {"days": 2, "config_entry_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "entry_not_found"

    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "import_history",
            {"days": 2, "config_entry_id": entry.entry_id},
            blocking=True,
        )
    assert err.value.translation_key == "entry_not_loaded"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "import_history", {"days": 2}, blocking=True)
    assert err.value.translation_key == "no_loaded_entries"


async def test_coordinator_recovery_triggers_a_catch_up(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """The first good poll after failed ones makes the history job look for missed hours."""
    coordinator = entry.runtime_data.coordinator
    history = history_of(entry)
    runs_before = history.status.round_trips

    simulator.faults.meter_reboot(3.0)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    await history.async_wait_idle()
    assert history.status.round_trips == runs_before  # nothing to do while it is down

    # The session rejoins by itself; poll until the coordinator has its data again.
    await asyncio.sleep(3.0)
    for _ in range(20):
        await coordinator.async_refresh()
        if coordinator.last_update_success:
            break
        await asyncio.sleep(0.5)
    assert coordinator.last_update_success
    await history.async_wait_idle()
    # A catch-up ran: at least the meter's clock was read again.
    assert history.status.round_trips > runs_before
    assert history.status.state is HistoryState.IDLE
