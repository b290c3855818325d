"""The B-route smart meter integration."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from homeassistant.const import Platform
from homeassistant.core import callback
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)

from . import coordinator as coordinator_module, network_flow
from .const import CONF_HISTORY_DAYS, DOMAIN
from .coordinator import BRouteConfigEntry, BRouteCoordinator, BRouteRuntimeData
from .coordinator_network import HvCoordinator, HvRuntimeData, is_high_voltage
from .handoff import async_take
from .history import DEFAULT_HISTORY_DAYS, HistoryImporter
from .services import async_setup_services

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.typing import ConfigType

    from .coordinator_network import HvConfigEntry

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which exist whether or not a meter is loaded."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BRouteConfigEntry) -> bool:
    """Join the meter, create its entities and start the history job."""
    _async_follow_meter(hass, entry)
    if is_high_voltage(entry.data):
        hv_entry = cast("HvConfigEntry", entry)
        hv = HvCoordinator(hass, hv_entry)
        await hv.async_config_entry_first_refresh()
        hv_history = HistoryImporter(
            hass,
            hv_entry,
            hv,
            days=entry.options.get(CONF_HISTORY_DAYS, DEFAULT_HISTORY_DAYS),
            now=coordinator_module.utcnow,
        )
        hv_entry.runtime_data = HvRuntimeData(coordinator=hv, history=hv_history)
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
        hv_history.async_start()
        entry.async_on_unload(hv_history.async_stop)
        return True
    # Set up right after the config flow: its probe's joined connection is waiting.
    handoff = None
    if entry.unique_id is not None and not network_flow.is_network_entry(entry.data):
        handoff = await async_take(hass, entry.unique_id, entry.data)
    coordinator = BRouteCoordinator(hass, entry, handoff=handoff)
    await coordinator.async_config_entry_first_refresh()
    history = HistoryImporter(
        hass,
        entry,
        coordinator,
        days=entry.options.get(CONF_HISTORY_DAYS, DEFAULT_HISTORY_DAYS),
        now=coordinator_module.utcnow,
    )
    coordinator.history = history
    entry.runtime_data = BRouteRuntimeData(coordinator=coordinator, history=history)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    history.async_start()
    entry.async_on_unload(history.async_stop)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: BRouteConfigEntry) -> None:
    """Forget the meter's repair issue along with the entry."""
    coordinator_module.async_forget_unreachable(hass, entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: BRouteConfigEntry) -> bool:
    """Unload the entities; the coordinator closes the session on unload."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


@callback
def _async_follow_meter(hass: HomeAssistant, entry: BRouteConfigEntry) -> None:
    """Move entities and the device to the entry's meter after a meter swap.

    Reauthentication with the credentials of a replacement meter changes the entry's
    unique ID (the meter's MAC). The entities stay the user's entities - same entity
    IDs, same history - so their unique IDs and the device follow the new meter.
    """
    unique_id = entry.unique_id
    assert unique_id is not None
    ent_reg = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(ent_reg, entry.entry_id):
        meter, sep, key = entity.unique_id.partition("_")
        if sep and meter != unique_id:
            ent_reg.async_update_entity(entity.entity_id, new_unique_id=f"{unique_id}_{key}")
    dev_reg = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(dev_reg, entry.entry_id):
        if (DOMAIN, unique_id) not in device.identifiers:
            dev_reg.async_update_device(device.id, new_identifiers={(DOMAIN, unique_id)})
