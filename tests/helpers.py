"""Small Home Assistant helpers shared by the integration and reliability tests."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from homeassistant.data_entry_flow import FlowResultType

from custom_components.broute_meter.const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlowResult
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add the entry and set it up, as Home Assistant would at start."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """One poll, as the coordinator's timer would run it."""
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


def state(hass: HomeAssistant, entity_id: str) -> str:
    """The entity's state string; the entity must exist."""
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def finish_probe(hass: HomeAssistant, result: ConfigFlowResult) -> ConfigFlowResult:
    """What follows the config flow's live probe.

    A probe that ends at once comes back with the form's answer; a longer one behind
    a progress step, which is waited for.
    """
    if result["type"] is not FlowResultType.SHOW_PROGRESS:
        return result
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(result["flow_id"])


async def poll_until_reauth(
    hass: HomeAssistant, entry: MockConfigEntry, *, rounds: int = 50
) -> list[ConfigFlowResult]:
    """Poll until the integration's flows start (at most ``rounds`` polls); the flows."""
    coordinator = entry.runtime_data.coordinator
    for _ in range(rounds):
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        if hass.config_entries.flow.async_progress_by_handler(DOMAIN):
            break
        await asyncio.sleep(0.05)
    return list(hass.config_entries.flow.async_progress_by_handler(DOMAIN))
