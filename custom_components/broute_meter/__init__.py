"""The B-route smart meter integration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import Platform
from homeassistant.helpers import config_validation as cv

from .const import CONF_HISTORY_DAYS, DOMAIN
from .coordinator import BRouteConfigEntry, BRouteCoordinator, BRouteRuntimeData
from .history import DEFAULT_HISTORY_DAYS, HistoryImporter, async_setup_services

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.typing import ConfigType

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which exist whether or not a meter is loaded."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BRouteConfigEntry) -> bool:
    """Join the meter, create its entities and start the history job."""
    coordinator = BRouteCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    history = HistoryImporter(
        hass,
        entry,
        coordinator,
        days=entry.options.get(CONF_HISTORY_DAYS, DEFAULT_HISTORY_DAYS),
    )
    entry.runtime_data = BRouteRuntimeData(coordinator=coordinator, history=history)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    history.async_start()
    entry.async_on_unload(history.async_stop)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BRouteConfigEntry) -> bool:
    """Unload the entities; the coordinator closes the session on unload."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
