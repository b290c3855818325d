"""The integration end to end on a ROHM J11 dongle (the simulator's BP35C2-J11).

The firmware is never named to the config flow: it detects it and stores it. Real J11
frames on a pty and on socket://; values are checked against the meter's ground truth.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.broute_meter.broute.links.j11 import J11Link
from custom_components.broute_meter.const import CONF_FIRMWARE, CONF_PASSWORD, DOMAIN
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel

from ..helpers import refresh, set_up, state
from .conftest import entry_for, port_of
from .test_config_flow import (
    CREDENTIALS,
    SIM_MAC,
    finish_probe,
    start_user,
    submit_user,
    usb_info,
)
from .test_sensor import CURRENT_R, CURRENT_T, EXPORT, IMPORT, POWER, kwh, truth

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from simulator import Simulator

    from .conftest import SimFactory

J11 = DongleModel.BP35C2_J11


def assert_states_match(hass: HomeAssistant, sim: Simulator, device: str = "") -> None:
    """Power, both currents and both energies equal the meter's truth.

    ``device``: the entity-ID prefix when the entry came from the flow (its title).
    """

    def of(entity_id: str) -> str:
        return entity_id.replace("simulated_meter", device) if device else entity_id

    meter = sim.meter
    assert int(state(hass, of(POWER))) == meter.power_w()
    r, t = meter.currents_a()
    assert float(state(hass, of(CURRENT_R))) == r
    assert float(state(hass, of(CURRENT_T))) == t
    assert kwh(state(hass, of(IMPORT))) == truth(meter.forward_kwh())
    assert kwh(state(hass, of(EXPORT))) == truth(meter.reverse_kwh())


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "socket"])
async def test_user_flow_detects_j11_and_the_sensors_match_the_meter(
    hass: HomeAssistant, make_simulator: SimFactory, pty: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = await make_simulator(model=J11, pty=pty)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: MockConfigEntry = result["result"]
    assert entry.unique_id == SIM_MAC
    assert entry.data[CONF_FIRMWARE] == "j11"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert isinstance(entry.runtime_data.coordinator.connection.link, J11Link)
    assert sim.stats.scans == 1  # the entry joined with the stored PAN
    await refresh(hass, entry)
    assert_states_match(hass, sim, "toshiba_sim00000001")
    assert sim.stats.flash_writes == 0
    assert TEST_RBID not in caplog.text.upper()
    assert TEST_PASSWORD not in caplog.text.upper()


async def test_a_skstack_dongle_is_detected_as_skstack(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    sim = await make_simulator(model=DongleModel.BP35C2)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data[CONF_FIRMWARE] == "skstack"


async def test_usb_discovery_of_a_j11_dongle(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    sim = await make_simulator(model=J11, pty=True)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info(port_of(sim))
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "credentials"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_FIRMWARE] == "j11"


async def test_reconfigure_onto_a_j11_dongle_redetects(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """The SKSTACK dongle was swapped for a J11 one on another port: the entry follows."""
    old = await make_simulator(model=DongleModel.BP35C2)
    new = await make_simulator(model=J11, pty=True)
    entry = await set_up(hass, entry_for(old))
    assert CONF_FIRMWARE not in entry.data  # an entry from before detection: SKSTACK
    assert entry.state is ConfigEntryState.LOADED
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(new)}
    )
    result = await finish_probe(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_FIRMWARE] == "j11"
    assert entry.state is ConfigEntryState.LOADED
    assert isinstance(entry.runtime_data.coordinator.connection.link, J11Link)
    await refresh(hass, entry)
    assert_states_match(hass, new)


async def test_reauth_on_j11(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """A wrong password on J11 (PANA result 0x02) starts reauth; the right one loads."""
    sim = await make_simulator(model=J11)
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_PASSWORD: "OLDPASSWORD1"}
    )
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    flow_id = flows[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**CREDENTIALS, CONF_PASSWORD: "STILLWRONG12"}
    )
    result = await finish_probe(hass, result)
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    result = await finish_probe(hass, result)
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_FIRMWARE] == "j11"
    assert entry.state is ConfigEntryState.LOADED
    await refresh(hass, entry)
    assert_states_match(hass, sim)
