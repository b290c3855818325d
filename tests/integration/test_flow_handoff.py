"""First setup through the config flow at the floor: the entry adopts the probe's join.

The probe scans, joins and reads the identity; the entry it creates starts on that same
connection, so the simulator sees one PANA join for flow and setup together and the
first frame after the identity is the live poll. A connection nobody adopts (flow
aborted, dialog closed, handoff expired, entry on another port) is closed, which the
tests check by opening the pty themselves: serialx locks a serial port exclusively.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE, EVENT_HOMEASSISTANT_STOP
from homeassistant.data_entry_flow import FlowResultType
import pytest
import serialx

from custom_components.broute_meter import config_flow, handoff as handoff_module
from custom_components.broute_meter.const import DOMAIN
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel

from ..helpers import set_up, state
from .conftest import entry_for, port_of
from .test_config_flow import (
    CREDENTIALS,
    SIM_MAC,
    finish_probe,
    start_user,
    submit_user,
    usb_info,
)
from .test_sensor import kwh, truth

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from simulator import Simulator
    from simulator.echonet import Frame

    from .conftest import SimFactory

POWER = "sensor.toshiba_sim00000001_power"
IMPORT = "sensor.toshiba_sim00000001_energy_import"
EXPORT = "sensor.toshiba_sim00000001_energy_export"
# What the meter is asked (Get EPCs, raw bytes of the protocol): the identity frame has
# the coefficient (D3) and the Get map (9F); the live poll has the power (E7).
IDENTITY_EPCS = {0xD3, 0x9F}
POWER_EPC = 0xE7


def record_gets(sim: Simulator) -> list[set[int]]:
    """Every request the simulated meter answers, as its set of EPCs, in order."""
    seen: list[set[int]] = []
    handle = sim.meter.handle

    def recording(request: Frame) -> list[tuple[Frame, bool]]:
        seen.append({epc for epc, _ in request.props})
        return handle(request)

    sim.meter.handle = recording  # type: ignore[method-assign]
    return seen


async def port_free(path: str) -> bool:
    """Whether another program could open the serial port now (it is locked while open)."""
    try:
        _, writer = await serialx.open_serial_connection(path, baudrate=115200)
    except OSError, serialx.SerialException:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def port_freed(path: str, *, within: float) -> bool:
    """Whether the port becomes free within ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await port_free(path):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def assert_values_are_the_meters(hass: HomeAssistant, sim: Simulator) -> None:
    assert int(state(hass, POWER)) == sim.meter.power_w()
    assert kwh(state(hass, IMPORT)) == truth(sim.meter.forward_kwh())
    assert kwh(state(hass, EXPORT)) == truth(sim.meter.reverse_kwh())


def assert_first_frame_after_setup_is_the_poll(gets: list[set[int]]) -> None:
    """The probe's identity frame, then at once the entry's live poll; identity once."""
    assert IDENTITY_EPCS.issubset(gets[0])
    assert POWER_EPC in gets[1]
    assert sum(IDENTITY_EPCS.issubset(epcs) for epcs in gets) == 1


def live_handoffs(hass: HomeAssistant) -> int:
    store = hass.data.get(handoff_module._STORE)
    return 0 if store is None else len(store.live)


@pytest.fixture
def progress_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every probe goes through the progress screen, without the minimum display time."""
    monkeypatch.setattr(config_flow, "QUICK_RESULT_SECONDS", 0.0)
    monkeypatch.setattr(config_flow, "MIN_PROGRESS_SECONDS", 0.0)


# --- adopted -------------------------------------------------------------------------------


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "socket"])
@pytest.mark.parametrize("model", [DongleModel.BP35C2, DongleModel.BP35C2_J11], ids=str)
async def test_user_flow_and_setup_join_once(
    hass: HomeAssistant, make_simulator: SimFactory, pty: bool, model: DongleModel
) -> None:
    """One scan, one join for the flow and the entry; the sensors show the meter's truth."""
    sim = await make_simulator(pty=pty, model=model)
    gets = record_gets(sim)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert sim.stats.scans == 1
    assert sim.stats.joins == 1
    assert_first_frame_after_setup_is_the_poll(gets)
    assert_values_are_the_meters(hass, sim)
    assert live_handoffs(hass) == 0


async def test_usb_discovery_joins_once(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """The discovered dongle's confirm step hands its join to the entry as well."""
    sim = await make_simulator(pty=True)
    gets = record_gets(sim)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info(port_of(sim))
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    assert sim.stats.joins == 1
    assert_first_frame_after_setup_is_the_poll(gets)
    assert_values_are_the_meters(hass, sim)


async def test_reconfigure_reloads_on_the_probes_join(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """Reconfigure unloads the entry, probes, and the reload adopts the probe's join."""
    sim = await make_simulator(pty=True)
    entry = await set_up(hass, entry_for(sim))
    joins = sim.stats.joins
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(sim)}
    )
    result = await finish_probe(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert sim.stats.joins == joins + 1
    assert live_handoffs(hass) == 0


async def test_reauth_reloads_on_the_probes_join(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """Reauth with the new password: one join for the probe and the reloaded entry."""
    sim = await make_simulator(pty=True)
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    sim.password = "NEWPASSWORD1"
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    joins = sim.stats.joins
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"rbid": TEST_RBID, "password": "NEWPASSWORD1"}
    )
    result = await finish_probe(hass, result)
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert sim.stats.joins == joins + 1
    assert int(state(hass, "sensor.simulated_meter_power")) == sim.meter.power_w()


# --- not adopted: closed, and the port is free ------------------------------------------------


async def test_expired_handoff_is_closed_and_setup_joins_itself(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    progress_always: None,
) -> None:
    """Nobody takes the connection in time: it is closed, the entry joins on its own."""
    monkeypatch.setattr(handoff_module, "HANDOFF_TTL", 0.3)
    sim = await make_simulator(pty=True)
    result = await start_user(hass)
    result = await submit_user(hass, result, port_of(sim))
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await hass.async_block_till_done()  # the probe has joined and holds the port
    assert sim.stats.joins == 1
    assert not await port_free(port_of(sim))
    await asyncio.sleep(0.5)
    await hass.async_block_till_done()
    assert await port_free(port_of(sim))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    assert sim.stats.joins == 2
    assert_values_are_the_meters(hass, sim)


async def test_entry_on_another_port_does_not_adopt(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A handoff for another port string is closed before the entry opens its own."""
    sim = await make_simulator(pty=True)
    probed = await config_flow.async_probe(hass, port_of(sim), TEST_RBID, TEST_PASSWORD)
    probed.handoff.leave_for(SIM_MAC)
    shown = repr(probed.handoff)
    assert TEST_RBID not in shown
    assert TEST_PASSWORD not in shown
    assert port_of(sim) not in shown
    # The same pty by its real name: another port as far as the entry's data goes.
    real_path = await hass.async_add_executor_job(os.path.realpath, port_of(sim))
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_DEVICE: real_path})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert probed.handoff.closed
    assert entry.runtime_data.coordinator.connection is not probed.handoff.connection
    assert sim.stats.joins == 2
    assert int(state(hass, "sensor.simulated_meter_power")) == sim.meter.power_w()


async def test_entry_with_other_credentials_does_not_adopt(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """Same port and meter, but the entry's password differs: its own join decides."""
    sim = await make_simulator(pty=True)
    probed = await config_flow.async_probe(hass, port_of(sim), TEST_RBID, TEST_PASSWORD)
    probed.handoff.leave_for(SIM_MAC)
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, "password": "WRONGWRONG12"})
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR  # the meter refused that password
    assert probed.handoff.closed


async def test_duplicate_abort_frees_the_port_at_once(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """The meter has an entry already: the flow aborts with the port released."""
    sim = await make_simulator(pty=True)
    existing: MockConfigEntry = entry_for(sim)
    existing.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        existing, data={**existing.data, CONF_DEVICE: "/dev/ttyUSB7"}
    )
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert await port_free(port_of(sim))  # no wait for a task or a timer
    assert live_handoffs(hass) == 0


async def test_closing_the_dialog_frees_the_port(
    hass: HomeAssistant, make_simulator: SimFactory, progress_always: None
) -> None:
    """The user closes the dialog after the probe joined: the connection closes."""
    sim = await make_simulator(pty=True)
    result = await start_user(hass)
    result = await submit_user(hass, result, port_of(sim))
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await hass.async_block_till_done()
    assert not await port_free(port_of(sim))  # held for the entry to come
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done()
    assert await port_free(port_of(sim))
    assert live_handoffs(hass) == 0


async def test_closing_the_dialog_while_scanning_frees_the_port(
    hass: HomeAssistant, make_simulator: SimFactory, progress_always: None
) -> None:
    """Closed before the probe ended: the probe is cancelled and its port released."""
    sim = await make_simulator(pty=True)
    result = await start_user(hass)
    result = await submit_user(hass, result, port_of(sim))
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done()
    # A cancelled open lets go of the file descriptor a loop turn or two later.
    assert await port_freed(port_of(sim), within=1.0)
    assert live_handoffs(hass) == 0


@pytest.mark.parametrize("when", ["joined", "scanning"])
async def test_closing_a_reconfigure_dialog_sets_the_entry_up_again(
    hass: HomeAssistant, make_simulator: SimFactory, progress_always: None, when: str
) -> None:
    """Reconfigure unloads the entry for its probe; closing the dialog brings it back."""
    sim = await make_simulator(pty=True)
    entry = await set_up(hass, entry_for(sim))
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(sim)}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    if when == "joined":
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert int(state(hass, "sensor.simulated_meter_power")) == sim.meter.power_w()
    assert live_handoffs(hass) == 0


async def test_home_assistant_stopping_closes_a_handoff(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A connection left for an entry that never came is closed when Home Assistant stops."""
    sim = await make_simulator(pty=True)
    probed = await config_flow.async_probe(hass, port_of(sim), TEST_RBID, TEST_PASSWORD)
    probed.handoff.leave_for(SIM_MAC)
    assert not await port_free(port_of(sim))
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert probed.handoff.closed
    assert await port_free(port_of(sim))
