"""Diagnostics: useful for a bug report, without anything that identifies the household."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from syrupy.filters import props

from simulator import TEST_PASSWORD, TEST_RBID

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
    from syrupy.assertion import SnapshotAssertion

    from simulator import Simulator


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
) -> None:
    """No credential, MAC, IPv6, pairing ID, serial number or port in the download."""
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    text = json.dumps(diagnostics)
    cfg = simulator.config
    for secret in (
        TEST_RBID,
        TEST_PASSWORD,
        TEST_RBID[-8:],  # the pairing ID is the ID's tail
        cfg.mac,
        cfg.mac.lower(),
        cfg.ipv6,
        cfg.serial,
        loaded_entry.data["device"],  # a by-id path holds the USB serial, a URL a host
        "127.0.0.1",
    ):
        assert secret not in text, secret
    # What is there is what helps: the meter's scale and capabilities, link state.
    assert diagnostics["meter"]["single_phase"] is False
    assert diagnostics["meter"]["reverse_metering"] is True
    assert diagnostics["link"]["state"] == "up"
    assert diagnostics["coordinator"]["last_update_success"] is True
    assert diagnostics["data"]["power"] == simulator.meter.power_w()
    # Joined with the stored PAN: no scan was needed.
    assert diagnostics["link"]["stats"]["scans"] == 0
    assert diagnostics["link"]["requests"]["requests"] >= 2
    # The history job (which shares the client and its counters) has its own tests.
    assert diagnostics == snapshot(exclude=props("history", "stats", "requests"))
