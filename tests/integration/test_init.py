"""Setup, unload, retries, the stored PAN and the repair issue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE

from custom_components.broute_meter import coordinator as coordinator_module
from custom_components.broute_meter.broute import ConnectionTiming
from custom_components.broute_meter.const import CONF_PAN, DOMAIN, ISSUE_METER_NOT_FOUND

from ..fixtures import short_timeouts
from ..helpers import poll_until_reauth
from .conftest import entry_for

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import issue_registry as ir
    import pytest
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from simulator import Simulator

    from .conftest import SimFactory


async def test_unload_ends_the_session(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Unloading terminates the PANA session and releases the port for others."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert simulator.stats.commands["SKTERM"] == 1
    # The port is free again: setting up again joins straight away.
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_setup_retries_while_the_port_is_missing(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """An unplugged dongle is not an error to give up on: setup is retried."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_DEVICE: "/dev/serial/by-id/usb-unplugged-if00"}
    )
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "does not exist" in entry.reason


async def test_rejected_credentials_start_reauth(hass: HomeAssistant, simulator: Simulator) -> None:
    """A meter that rejects the stored password asks the user, instead of retrying."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    simulator.password = "NEWPASSWORD9"
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_a_rescan_is_remembered(hass: HomeAssistant, simulator: Simulator) -> None:
    """The meter moved to another channel: the session rescans, the entry keeps the result."""
    entry = entry_for(simulator)
    stale = dict(entry.data[CONF_PAN])
    stale["channel"] = 0x3B
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PAN: stale})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data[CONF_PAN]["channel"] == simulator.config.channel
    assert simulator.stats.scans >= 1


async def test_setup_without_a_stored_pan_scans(hass: HomeAssistant, simulator: Simulator) -> None:
    """An entry without a scan result (never stored) finds the meter by scanning."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    data = dict(entry.data)
    data.pop(CONF_PAN)
    hass.config_entries.async_update_entry(entry, data=data)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data[CONF_PAN]["mac"].lower() == entry.unique_id


async def test_repair_issue_while_the_meter_stays_unreachable(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A meter silent for longer than the grace period gets a repair issue, gone once back.

    The grace period (30 minutes in use) is compressed to one second, like the timings.
    """
    monkeypatch.setattr(coordinator_module, "METER_NOT_FOUND_GRACE", timedelta(seconds=1))
    monkeypatch.setattr(
        coordinator_module,
        "CONNECTION_TIMING",
        ConnectionTiming.fast().evolve(request_timeout=0.1, retries=0),
    )
    sim = await make_simulator()
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    issue_id = f"{ISSUE_METER_NOT_FOUND}_{entry.entry_id}"

    sim.faults.meter_reboot(4.0)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None  # not yet: a blip
    await asyncio.sleep(1.1)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_METER_NOT_FOUND
    assert issue.translation_placeholders == {"title": entry.title}

    # The meter comes back after its four seconds; the session rejoins by itself.
    for _ in range(100):
        await coordinator.async_refresh()
        if coordinator.last_update_success:
            break
        await asyncio.sleep(0.05)
    assert coordinator.last_update_success
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_removing_the_entry_drops_its_repair_issue(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No issue is left behind for a meter the user removed."""
    monkeypatch.setattr(coordinator_module, "METER_NOT_FOUND_GRACE", timedelta(0))
    sim = await make_simulator()
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    sim.pans.clear()  # the meter is gone from the air: setup cannot find it
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PAN: None})
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue_id = f"{ISSUE_METER_NOT_FOUND}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_two_meters_two_dongles(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """Each entry has its own dongle and meter; both read their own values."""
    first = await make_simulator()
    second = await make_simulator(mac="001D1290ABCDEF01", load_override_w=4321)
    entries = [entry_for(first), entry_for(second)]
    for entry in entries:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert [entry.state for entry in entries] == [ConfigEntryState.LOADED] * 2
    powers = [entry.runtime_data.coordinator.data.power for entry in entries]
    assert powers == [first.meter.power_w(), 4321]


async def test_esphome_proxy_not_up_yet(hass: HomeAssistant, simulator: Simulator) -> None:
    """A dongle behind an ESPHome serial proxy that is not loaded yet: retry, not fail."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, CONF_DEVICE: "esphome-hass://esphome/0123456789?port_name=wisun"},
    )
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == "The dongle's port is not ready yet"


async def test_credentials_revoked_while_running(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The meter drops the session and rejects the old credentials: reauth, not retries."""
    short_timeouts(monkeypatch)
    sim = await make_simulator()
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    sim.password = "REISSUED0001"  # the utility re-issued the credentials
    sim.faults.end_session()
    flows = await poll_until_reauth(hass, entry)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert not coordinator.last_update_success
