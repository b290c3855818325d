"""Release R meters: the B-route identification number (C0) remembers the meter.

Only a keyed fingerprint is stored; C0 itself (the simulator's ``route_b_id()``) must
not appear in the entry, the logs or the diagnostics.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.broute_meter.const import (
    CONF_METER_FINGERPRINT,
    CONF_METER_KEY,
    CONF_PASSWORD,
    CONF_RBID,
)
from simulator import TEST_PASSWORD, TEST_RBID
from tests.fixtures import entry_for
from tests.integration.test_config_flow import finish_probe

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    import pytest
    from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

    from simulator import Simulator
    from tests.fixtures import SimFactory


def _forms(sim: Simulator) -> list[str]:
    """The C0 value in every spelling a leak could take."""
    value = sim.meter.route_b_id()
    return [value.hex(), value.hex().upper(), repr(value), value[4:].rstrip(b"\x00").hex()]


async def test_fingerprint_stored_never_the_value(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    sim = await make_simulator(release="R")
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert CONF_METER_KEY in entry.data
    assert CONF_METER_FINGERPRINT in entry.data
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["route_b_id"]["present"] is True
    assert all(isinstance(v, bool) for v in diagnostics["route_b_id"].values())
    # Known gap (docs/release-r.md): the opt-in raw dongle traffic loggers
    # (``*.traffic``, DEBUG) still show C0 inside the meter's answer frame.
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.endswith(".traffic"))
    texts = [json.dumps(dict(entry.data)), json.dumps(diagnostics), logs]
    for form in _forms(sim):
        for text in texts:
            assert form not in text
    # The stored key and fingerprint are redacted in diagnostics too.
    assert entry.data[CONF_METER_FINGERPRINT] not in json.dumps(diagnostics)
    assert entry.data[CONF_METER_KEY] not in json.dumps(diagnostics)

    # Same meter again: loads.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_a_different_meter_is_a_clear_error(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    first = await make_simulator(release="R", serial="METERAAAA001")
    entry = entry_for(first)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    remembered = {k: entry.data[k] for k in (CONF_METER_KEY, CONF_METER_FINGERPRINT)}
    assert await hass.config_entries.async_unload(entry.entry_id)

    other = await make_simulator(release="R", serial="METERBBBB002")
    assert other.meter.route_b_id() != first.meter.route_b_id()
    replaced = entry_for(other)
    replaced.add_to_hass(hass)
    hass.config_entries.async_update_entry(replaced, data={**replaced.data, **remembered})
    assert not await hass.config_entries.async_setup(replaced.entry_id)
    await hass.async_block_till_done()
    assert replaced.state is ConfigEntryState.SETUP_ERROR
    assert replaced.error_reason_translation_key == "meter_changed"

    # Re-entering the credentials (reauth) probes the meter anew and learns it.
    result = await replaced.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RBID: TEST_RBID, CONF_PASSWORD: TEST_PASSWORD}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert replaced.state is ConfigEntryState.LOADED
    assert replaced.data[CONF_METER_FINGERPRINT] != remembered[CONF_METER_FINGERPRINT]


async def test_release_j_stores_nothing(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    sim = await make_simulator()
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert CONF_METER_KEY not in entry.data
    assert CONF_METER_FINGERPRINT not in entry.data
